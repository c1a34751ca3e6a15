"""``classes``: a conditional model's samples, one row per class (Sohn et al. 2015,
Fig. 3): every column decodes one draw z ~ p(z) with each label in turn, so a column
shows what the label changes and a row what z changes."""

from __future__ import annotations

import torch
from matplotlib.figure import Figure

from vaelab.figures.common import (
    FIGURES,
    NotApplicable,
    caption,
    generator,
    grid_figure,
    label_name,
)
from vaelab.run import Run


@FIGURES.register("classes")
def classes(run: Run, n: int = 8, seed: int = 0) -> Figure:
    """[classes, n] decoder means of p(x|z_j, y = c) for n draws z_j of the prior."""
    count = getattr(run.model, "label_count", None)
    if count is None:
        raise NotApplicable(f"classes needs a conditional model (--model cvae); this run is a "
                            f"{run.config.model.name}")
    gen = generator(run, seed)
    with torch.no_grad():
        z = run.model.prior.inner.sample(n, generator=gen)  # [n, Z], shared by every row
        rows = [run.model.decode(z, torch.full((n,), label, device=z.device))
                for label in range(count)]
    images = torch.stack(rows)  # [C, n, H, W]
    return grid_figure(images, f"Samples per class: {n} draws of z, each decoded with every "
                       "label", caption(run, f"decoder means of p(x|z, y) for z ~ p(z) (one "
                                             f"column per draw), seed {seed}"),
                       row_labels=[label_name(run, c) for c in range(count)])
