"""``layers``: what each stochastic layer of a hierarchical model (--model ladder) does.
Row i draws new randomness for layer z_i only and holds every other layer's randomness
fixed (the top layer's sample and the standard-normal noise ε_j of the layers below,
z_j = μ_p(z_{j+1}) + σ_p(z_{j+1}) ε_j): a row that varies a lot is a layer that carries
information; a row of identical images is a collapsed layer (compare Sønderby et al.
2016, Fig. 5, and the per-layer KL in the history)."""

from __future__ import annotations

import torch
from matplotlib.figure import Figure

from vaelab.figures.common import FIGURES, NotApplicable, caption, generator, grid_figure
from vaelab.run import Run


@FIGURES.register("layers")
def layers(run: Run, n: int = 8, seed: int = 0) -> Figure:
    """[L, n] decoder means; row i varies layer z_i and holds the others."""
    dims = getattr(run.model, "latent_layers", None)
    if not dims or len(dims) < 2:
        raise NotApplicable("layers needs a model with several stochastic layers (--model "
                            "ladder --latent-dims 32,16)")
    prior = run.model.prior
    gen = generator(run, seed)
    rows = []
    with torch.no_grad():
        held_top = prior.top.sample(1, generator=gen).expand(n, -1)
        held_noise = [eps.expand(n, -1) for eps in prior.noise(1, generator=gen)]
        for layer in range(len(dims)):
            top, noise = held_top, list(held_noise)
            if layer == len(dims) - 1:
                top = prior.top.sample(n, generator=gen)
            else:
                noise[layer] = torch.randn(n, dims[layer], generator=gen, device=run.device)
            rows.append(run.model.decode(prior.descend(top, noise)))
    labels = [f"vary z{i + 1} ({d})" for i, d in enumerate(dims)]
    return grid_figure(torch.stack(rows), "One layer varies, the others are held",
                       caption(run, f"decoder means of ancestral samples of p(z_1..z_L); row "
                                    f"i redraws layer i only; seed {seed}"),
                       row_labels=labels)
