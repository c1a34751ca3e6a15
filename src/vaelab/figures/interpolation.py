"""``interpolation``: decode the way between the posterior means of two test images,
linearly and spherically, for several pairs; with ``--compare`` the same pairs through
several runs (e.g. a plain autoencoder beside a VAE)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from matplotlib.figure import Figure

from vaelab.errors import VaelabError
from vaelab.figures.common import (
    COMPARE,
    FIGURES,
    NotApplicable,
    caption,
    grid_figure,
    label_name,
    model_summary,
    parse_pairs,
    require_runs,
    require_same_data,
    require_same_latent,
    run_label,
    split_of,
)
from vaelab.run import Run


def lerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """(1 − t)·z0 + t·z1 for vectors [Z] and fractions t [T] → [T, Z]."""
    return (1 - t)[:, None] * z0 + t[:, None] * z1


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation (Shoemake 1985), which keeps the norm typical of a Gaussian
    latent instead of cutting through the low-density centre (White 2016, "Sampling
    generative networks"). Falls back to ``lerp`` for (anti)parallel vectors."""
    cos = torch.dot(z0, z1) / (z0.norm() * z1.norm()).clamp_min(1e-12)
    omega = torch.arccos(cos.clamp(-1.0, 1.0))
    if torch.sin(omega).abs() < 1e-6:
        return lerp(z0, z1, t)
    return (torch.sin((1 - t) * omega)[:, None] * z0
            + torch.sin(t * omega)[:, None] * z1) / torch.sin(omega)


def choose_pairs(labels: torch.Tensor | None, count: int, wanted: list[tuple[int, int]] | None,
                 n_images: int, seed: int) -> list[tuple[int, int]]:
    """Index pairs into the split: for each wanted (label_a, label_b), a seeded random image
    of each class; without ``wanted``, ``count`` seeded random pairs of distinct images."""
    gen = torch.Generator().manual_seed(seed)
    if wanted:
        if labels is None:
            raise VaelabError("--labels needs a labelled data set")
        labels = labels.cpu()
        pairs = []
        for a, b in wanted:
            ends = []
            for label in (a, b):
                candidates = torch.nonzero(labels == label).flatten()
                if len(candidates) == 0:
                    raise VaelabError(f"--labels: no test image has label {label}; labels "
                                      f"are {sorted(set(labels.tolist()))}")
                ends.append(int(candidates[torch.randint(len(candidates), (1,),
                                                          generator=gen)]))
            pairs.append((ends[0], ends[1]))
        return pairs
    if n_images < 2:
        raise NotApplicable(f"interpolation needs at least 2 test images, the run has "
                            f"{n_images}")
    order = torch.randperm(n_images, generator=gen)
    count = min(count, n_images // 2)
    return [(int(order[2 * i]), int(order[2 * i + 1])) for i in range(count)]


@COMPARE.register("interpolation")
def interpolation_compare(runs: Sequence[Run], pairs: int = 4,
                          labels: str | list[tuple[int, int]] | None = None, steps: int = 8,
                          seed: int = 0, split: str = "test") -> Figure:
    """For each pair of test images (``labels`` like '3:8,1:7', else ``pairs`` random
    ones): originals at both ends, between them the decoder means along the linear and the
    spherical path between the posterior means, ``steps`` points including both ends; one
    linear + one spherical row per run."""
    runs = require_runs(runs, "interpolation")
    require_same_data(runs, "interpolation")
    require_same_latent(runs, "interpolation")
    if steps < 2:
        raise VaelabError(f"--steps must be at least 2, got {steps}")
    if pairs < 1:
        raise VaelabError(f"--pairs must be at least 1, got {pairs}")
    wanted = parse_pairs(labels) if isinstance(labels, str) else labels
    first = split_of(runs[0], split)
    chosen = choose_pairs(first.y, pairs, wanted, len(first), seed)
    t = torch.linspace(0, 1, steps)
    rows, row_labels = [], []
    for a, b in chosen:
        for run in runs:
            x = split_of(run, split).x
            ends = x[[a, b]]
            mu = run.model.encode(ends).mean
            originals = run.model.to_images(ends)
            for name, path in (("linear", lerp), ("spherical", slerp)):
                z = path(mu[0], mu[1], t.to(mu.device))
                decoded = run.model.decode(z)
                rows.append(torch.cat([originals[:1], decoded, originals[1:]]).cpu())
                # Name the pair once, on its first row, so pairs read as groups.
                pair = f"pair {len(row_labels) // (2 * len(runs)) + 1}"
                if first.y is not None:
                    pair = (f"{label_name(runs[0], int(first.y[a]))}→"
                            f"{label_name(runs[0], int(first.y[b]))}")
                who = f"{run_label(run, 14)} " if len(runs) > 1 else ""
                first_row = name == "linear" and run is runs[0]
                row_labels.append(f"{pair}: {who}{name}" if first_row else f"{who}{name}")
    images = torch.stack(rows)  # [pairs·runs·2, steps + 2, C, H, W]
    col_labels = ["x_a"] + [f"{v:.2f}" for v in t.tolist()] + ["x_b"]
    if len(runs) == 1:
        text = caption(runs[0], "decoder means along the path between posterior means "
                                "E[z|x_a] and E[z|x_b]; outer columns: the images")
    else:
        text = ("decoder means along the path between posterior means; outer columns: the "
                "images; " + "; ".join(f"{run.path.name}: {model_summary(run)}"
                                       for run in runs))
    fig = grid_figure(images, f"Interpolation between {len(chosen)} pairs of {split} images "
                      "(linear and spherical)", text, row_labels=row_labels,
                      col_labels=col_labels)
    ax = fig.axes[0]
    ax.set_xlabel("interpolation fraction t", fontsize=9)
    ax.xaxis.set_label_position("top")
    return fig


@FIGURES.register("interpolation")
def interpolation(run: Run, pairs: int = 4, labels: str | list[tuple[int, int]] | None = None,
                  steps: int = 8, seed: int = 0, split: str = "test") -> Figure:
    """Linear and spherical interpolation between posterior means of test-image pairs."""
    return interpolation_compare([run], pairs=pairs, labels=labels, steps=steps, seed=seed,
                                 split=split)
