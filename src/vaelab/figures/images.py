"""Image grids: ``reconstructions``, ``samples`` (from the prior or other noise) and the
``tableau`` of several runs reconstructing the same test images."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence

import torch
from matplotlib.figure import Figure

from vaelab.errors import VaelabError
from vaelab.figures.common import (
    COMPARE,
    FIGURES,
    caption,
    class_names,
    generator,
    grid_figure,
    model_summary,
    require_runs,
    require_same_data,
    run_label,
    split_of,
)
from vaelab.priors import Prior
from vaelab.registry import did_you_mean
from vaelab.run import Run


@FIGURES.register("reconstructions")
def reconstructions(run: Run, n: int = 16, rows: int = 2, split: str = "test",
                    per_class: int = 0) -> Figure:
    """The first ``n`` images of the test (or validation) split above their
    reconstructions: decoder mean at the posterior mean. ``per_class=k`` instead shows the
    first k images of every class, one column per class."""
    data = split_of(run, split)
    shape = run.model.image_shape
    if per_class:
        return _reconstructions_per_class(run, data, per_class, split)
    n = min(n, len(data))
    rows = max(1, min(rows, n))
    per_row = math.ceil(n / rows)
    recon = run.model.reconstruct(data.x[:n]).reshape(n, -1)
    x = run.model.images_of(data.x[:n])  # a conditional family's rows carry their label
    # Pad to whole rows with white so every pair of rows lines up.
    blank = torch.ones(per_row * rows - n, x.shape[1], device=x.device)
    x, recon = torch.cat([x, blank]), torch.cat([recon, blank])
    blocks = []
    for r in range(rows):
        part = slice(r * per_row, (r + 1) * per_row)
        blocks += [x[part], recon[part]]
    images = torch.stack(blocks).reshape(2 * rows, per_row, *shape)
    return grid_figure(images, f"{split.capitalize()} images and their reconstructions",
                       caption(run, "reconstruction = decoder mean at the posterior mean"),
                       row_labels=["original", "reconstruction"] * rows)


def _reconstructions_per_class(run: Run, data, k: int, split: str) -> Figure:
    if data.y is None:
        raise VaelabError(f"--per-class needs labels, but {run.config.data.dataset} has none")
    labels = sorted(int(v) for v in torch.unique(data.y))
    names = class_names(run)
    columns = []
    for label in labels:
        idx = torch.nonzero(data.y == label).flatten()[:k]
        rows = data.x[idx]
        x, recon = run.model.images_of(rows), run.model.reconstruct(rows).reshape(len(idx), -1)
        # Pad classes with fewer than k images with white.
        pad = torch.ones(k - len(idx), x.shape[1], device=x.device)
        columns.append(torch.stack([torch.cat([x, pad]), torch.cat([recon, pad])], dim=1))
    # [classes, k, 2, D] → rows: (k pairs of original/recon), columns: classes
    images = torch.stack(columns).permute(1, 2, 0, 3).reshape(2 * k, len(labels),
                                                                *run.model.image_shape)
    col_labels = [names[label] if names else str(label) for label in labels]
    return grid_figure(images, f"{split.capitalize()} images per class and their "
                       "reconstructions", caption(run, "reconstruction = decoder mean at the "
                                                  "posterior mean"),
                       row_labels=["original", "reconstruction"] * k, col_labels=col_labels,
                       cell=0.75)


def noise_source(run: Run, source: str | None) -> tuple[Prior, str]:
    """The distribution to decode samples from: the run's own (trained) prior by default or
    when ``source`` names it, else any prior in the registry built with default options."""
    from vaelab.config import PriorConfig
    from vaelab.priors import PRIORS, build_prior

    own = run.config.prior.name
    if source is None or source == own:
        # A model family's own prior names itself (the ladder's hierarchy, a code prior).
        words = getattr(run.model.prior, "words", None)
        return run.model.prior, words or f"the run's {own} prior"
    if source not in PRIORS:
        raise VaelabError(f"--from {source!r} is not a prior{did_you_mean(source, PRIORS.names())}"
                          f"; choose one of: {', '.join(PRIORS.names())}")
    prior = build_prior(PriorConfig(name=source), run.model.latent_dim)
    # A prior may read the model (the VampPrior encodes its pseudo-inputs with the run's
    # encoder); bind it as VAE.__init__ binds the run's own prior.
    prior.bind(run.model)
    prior = prior.to(run.device)
    trained = " (default options, untrained)" if any(True for _ in prior.parameters()) else ""
    return prior, f"{source} noise{trained}, not the run's {own} prior"


@FIGURES.register("samples")
def samples(run: Run, n: int = 64, seed: int = 0, source: str | None = None,
            temperature: float = 1.0, pixels: bool = False, sampler: str = "prior",
            components: int | None = None, label: int | None = None) -> Figure:
    """Decoder means of ``n`` latent samples: from the run's prior, or from another
    distribution (``source``, a prior name, e.g. to decode Laplace instead of Normal noise),
    or from a fitted sampler (``sampler``, vaelab/samplers: gmm with ``components``).
    ``temperature`` scales each sample about the origin (the usual temperature of a
    zero-centred prior). ``pixels`` adds the same samples with pixels drawn from p(x|z).
    ``label`` draws every sample of a conditional model (--model cvae) from that class."""
    if temperature <= 0 or not math.isfinite(temperature):
        raise VaelabError(f"--temperature must be > 0, got {temperature}")
    if sampler != "prior" and source is not None:
        raise VaelabError(f"--from {source} and --sampler {sampler} both choose where z comes "
                          "from; give one of them")
    if label is not None:
        draw, described = label_source(run, label, source, sampler)
    elif sampler == "prior" and components is None:
        prior, described = noise_source(run, source)
        draw = prior.sample
    else:
        from vaelab.samplers import fitted_sampler

        fitted = fitted_sampler(run, sampler, components=components)
        draw, described = fitted.sample, fitted.describe()
    gen = generator(run, seed)
    with torch.no_grad():
        z = draw(n, generator=gen)
        # The latent columns only: a conditional model's label columns stay one-hot.
        z[..., :run.model.latent_dim] *= temperature
        params = run.model.decoder_params(z)
        means = run.model.to_images(run.model.likelihood.mean(params))
        ncols = math.ceil(math.sqrt(n))
        nrows = math.ceil(n / ncols)
        panels = [_as_grid(means, nrows, ncols)]
        if pixels:
            drawn = run.model.likelihood.sample(params, generator=gen).clamp(0, 1)
            panels.append(_as_grid(run.model.to_images(drawn), nrows, ncols))
    images = torch.cat(panels, dim=1)  # panels side by side
    title = f"{n} samples from {described}" + (f", temperature {temperature:g}"
                                               if temperature != 1 else "")
    col_labels = None
    if pixels:
        col_labels = [""] * images.shape[1]
        col_labels[ncols // 2] = "decoder means"
        col_labels[ncols + ncols // 2] = "pixels drawn from p(x|z)"
    return grid_figure(images, title, caption(run, f"decoder means of z ~ {described}; seed "
                                                   f"{seed}"),
                       col_labels=col_labels, cell=0.5 if n <= 100 else 0.35)


def label_source(run: Run, label: int, source: str | None, sampler: str):
    """(draw(n, generator), its words) for samples of one class of a conditional model:
    z ~ p(z) with the label appended."""
    classes = getattr(run.model, "label_count", None)
    if classes is None:
        raise VaelabError(f"--label needs a conditional model (--model cvae); {run.path.name} "
                          f"is a {run.config.model.name}")
    if not 0 <= label < classes:
        raise VaelabError(f"--label {label} is not a class of this run; give 0..{classes - 1}")
    if source is not None or sampler != "prior":
        raise VaelabError("--label draws z from the run's prior; drop --from/--sampler")
    names = class_names(run)

    def draw(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        labels = torch.full((n,), label, dtype=torch.long, device=run.device)
        return run.model.prior.sample(n, generator=generator, labels=labels)

    return draw, f"the prior, class {names[label] if names else label}"


def _as_grid(images: torch.Tensor, nrows: int, ncols: int) -> torch.Tensor:
    """[n, C, H, W] → [nrows, ncols, C, H, W], padded with white."""
    n = images.shape[0]
    blank = torch.ones(nrows * ncols - n, *images.shape[1:], device=images.device)
    return torch.cat([images, blank]).reshape(nrows, ncols, *images.shape[1:])


@COMPARE.register("tableau")
def tableau_compare(runs: Sequence[Run], n: int = 16, split: str = "test") -> Figure:
    """The same ``n`` test images (rows) reconstructed by several runs (columns), the
    original first: the depth study's figure 2. Runs may differ in anything but the data."""
    runs = require_runs(runs, "tableau")
    require_same_data(runs, "tableau")
    first = split_of(runs[0], split)
    n = min(n, len(first))
    columns = [runs[0].model.images_of(first.x[:n]).reshape(n, *runs[0].model.image_shape)]
    for run in runs:
        # Each run reconstructs the images as it was trained to see them (its binarisation).
        x = split_of(run, split).x[:n]
        columns.append(run.model.reconstruct(x).to(columns[0].device))
    images = torch.stack(columns, dim=1)  # [n, 1 + runs, C, H, W]
    # Run names wrapped to the column width (at hyphens where possible), then the z size:
    # 12 characters of 8-pt labels (about 0.58 em each, figures/common.wrap) fill 0.8 in.
    col_labels = ["original"] + ["\n".join(textwrap.wrap(run_label(run, 36), 12)[:3])
                                 + f"\nz={run.model.latent_dim}" for run in runs]
    models = "; ".join(f"{run.path.name}: {model_summary(run)}" for run in runs)
    text = (f"{runs[0].config.data.dataset} {split} images; columns: original, then the "
            f"decoder mean at the posterior mean of each run ({models})")
    if len(runs) == 1:
        text = caption(runs[0], "reconstruction = decoder mean at the posterior mean")
    return grid_figure(images, f"{n} {split} images reconstructed by {len(runs)} run"
                       f"{'s' if len(runs) > 1 else ''}", text, col_labels=col_labels,
                       cell=0.8, label_inches=0.1)


@FIGURES.register("tableau")
def tableau(run: Run, n: int = 16, split: str = "test") -> Figure:
    """Originals beside their reconstructions, one row per image (with ``--compare``, one
    column per run)."""
    return tableau_compare([run], n=n, split=split)
