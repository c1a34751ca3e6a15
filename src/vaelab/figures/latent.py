"""The latent space: ``latent`` (posterior means coloured by class, raw 2-D or projected by
PCA / t-SNE / UMAP) and ``manifold`` (decoded grid over the prior's quantiles, 2-D only)."""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from vaelab import extras
from vaelab.errors import VaelabError
from vaelab.figures.common import (
    FIGURES,
    NotApplicable,
    caption,
    class_names,
    grid_figure,
    new_figure,
    split_of,
)
from vaelab.metrics.base import posterior_moments
from vaelab.metrics.collapse import latent_name
from vaelab.priors import Prior
from vaelab.progress import working
from vaelab.run import Run

METHODS = ("auto", "raw", "pca", "tsne", "umap")
SLOW_METHODS_MAX = 3000  # t-SNE / UMAP points by default (seconds on a laptop CPU)


def project(z: np.ndarray, method: str, seed: int) -> tuple[np.ndarray, tuple[str, str], str]:
    """[N, Z] posterior means → [N, 2], axis labels and a description of the method."""
    if method == "raw":
        return z, (latent_name(0), latent_name(1)), "the two latent dimensions"
    if method == "pca":
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, random_state=seed).fit(z)
        share = pca.explained_variance_ratio_ * 100
        return (pca.transform(z), (f"PC 1 ({share[0]:.0f}% of variance)",
                                   f"PC 2 ({share[1]:.0f}% of variance)"),
                "PCA of the posterior means")
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = min(30.0, max(2.0, (len(z) - 1) / 3))
        xy = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed
                  ).fit_transform(z)
        return xy, ("t-SNE 1", "t-SNE 2"), f"t-SNE (perplexity {perplexity:g})"
    if method == "umap":
        extras.require("umap", needed_by="--method umap")
        import umap  # optional extra, imported only when asked for
        xy = umap.UMAP(n_components=2, random_state=seed).fit_transform(z)
        return np.asarray(xy), ("UMAP 1", "UMAP 2"), "UMAP"
    raise VaelabError(f"--method {method!r} is unknown; choose one of: {', '.join(METHODS)}")


@FIGURES.register("latent")
def latent(run: Run, method: str = "auto", n: int | None = None, seed: int = 0,
           split: str = "test") -> Figure:
    """Posterior means E[z|x] of test images coloured by class. ``method``: auto (raw for
    a 2-D latent, else PCA), raw, pca, tsne or umap. ``n`` caps the points (default: all
    for raw/PCA, a seeded 3000 for t-SNE/UMAP)."""
    if method not in METHODS:
        raise VaelabError(f"--method {method!r} is unknown; choose one of: {', '.join(METHODS)}")
    dim = run.model.latent_dim
    if dim < 2:
        raise NotApplicable(f"latent needs at least 2 latent dimensions; {run.path.name} has "
                            f"z={dim}")
    if method == "umap":  # before the encoding work, not after it
        extras.require("umap", needed_by="--method umap")
    if method == "auto":
        method = "raw" if dim == 2 else "pca"
    if method == "raw" and dim != 2:
        raise VaelabError(f"--method raw needs a 2-D latent; {run.path.name} has z={dim}: use "
                          "pca, tsne or umap")
    data = split_of(run, split)
    count = len(data)
    # PCA fits 2 components, t-SNE needs a perplexity below the point count, UMAP its
    # neighbours: fewer images than these is no picture of a latent space.
    needed = {"raw": 1, "pca": 2, "tsne": 4, "umap": 4}[method]
    points = count if n is None else min(n, count)
    if points < needed:
        raise NotApplicable(f"latent --method {method} needs at least {needed} points, "
                            f"{'--n gives' if points < count else f'the {split} split has'} "
                            f"{points}")
    if n is None and method in ("tsne", "umap"):
        n = SLOW_METHODS_MAX
    idx = torch.arange(count)
    if n is not None and n < count:
        idx = torch.randperm(count, generator=torch.Generator().manual_seed(seed))[:n].sort()[0]
    idx = idx.to(data.x.device)
    z = posterior_moments(run.model, data.x[idx], 2000)[0].double().cpu().numpy()
    with working(f"{method} of {len(z)} posterior means", enabled=method in ("tsne", "umap")):
        xy, (xlabel, ylabel), how = project(z, method, seed)
    labels = None if data.y is None else data.y[idx].cpu().numpy()

    fig = new_figure(7.6, 6.0, caption(run, f"{len(z)} {split} images; {how}"))
    ax = fig.add_subplot()
    names = class_names(run)
    # One scatter in a seeded random order, so no class is systematically drawn on top.
    order = np.random.default_rng(seed).permutation(len(xy))
    if labels is None:
        ax.scatter(xy[order, 0], xy[order, 1], s=4, alpha=0.5, color="tab:blue",
                   linewidths=0, rasterized=True)
    else:
        classes = sorted(set(labels.tolist()))
        colours = _class_colours(len(classes))
        index = {label: i for i, label in enumerate(classes)}
        point_colours = [colours(index[label]) for label in labels[order].tolist()]
        ax.scatter(xy[order, 0], xy[order, 1], s=4, alpha=0.6, c=point_colours,
                   linewidths=0, rasterized=True)
        handles = [Line2D([], [], linestyle="", marker="o", markersize=6,
                          color=colours(i), label=names[label] if names and label < len(names)
                          else str(label)) for i, label in enumerate(classes)]
        ax.legend(handles=handles, title="class", loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  fontsize=8, frameon=False, title_fontsize=9)
    if method == "raw":
        ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.25)
    ax.set_title(f"Posterior means E[z|x] of {split} images: {how}", fontsize=11)
    return fig


def _class_colours(count: int):
    from matplotlib import colormaps

    if count <= 10:
        return colormaps["tab10"]
    if count <= 20:
        return colormaps["tab20"]
    return lambda i: colormaps["viridis"](i / max(1, count - 1))


def prior_quantiles(prior: Prior, probs: torch.Tensor, seed: int = 0
                    ) -> tuple[torch.Tensor, str]:
    """Per-dimension quantiles [len(probs), Z] of the prior's marginals: exact when the
    prior factorises and has ``icdf``, else empirical from 2·10⁵ seeded draws."""
    values = prior.icdf(probs[:, None].expand(-1, prior.latent_dim))
    if values is not None:
        return values, f"exact quantiles of the {prior.describe()} prior"
    draws = prior.sample(200_000, generator=torch.Generator(device=probs.device
                                                            ).manual_seed(seed))
    return torch.quantile(draws, probs, dim=0), "empirical prior quantiles (2·10⁵ draws)"


@FIGURES.register("manifold")
def manifold(run: Run, grid: int = 20, seed: int = 0) -> Figure:
    """For a 2-D latent: decoder means on a ``grid`` × ``grid`` lattice of the prior's
    quantiles at p = (i + ½)/grid (Kingma & Welling 2014, fig. 4)."""
    dim = run.model.latent_dim
    if dim != 2:
        raise NotApplicable(f"manifold needs a 2-D latent; {run.path.name} has z={dim} (use "
                            "traversal or latent instead)")
    if grid < 2:
        raise VaelabError(f"--grid must be at least 2, got {grid}")
    probs = (torch.arange(grid, dtype=torch.float32, device=run.device) + 0.5) / grid
    values, how = prior_quantiles(run.model.prior, probs, seed)
    z1, z2 = values[:, 0], values[:, 1].flip(0)  # top row = largest z1, like a plot
    z = torch.stack([z1[None, :].expand(grid, grid), z2[:, None].expand(grid, grid)], -1)
    images = run.model.decode(z.reshape(-1, 2)).reshape(grid, grid, *run.model.image_shape)
    # Label both ends, the quarter points and the centre, mirrored so the ticks read
    # symmetrically for a symmetric prior.
    quarter = round((grid - 1) / 4)
    marked = {0, quarter, grid - 1 - quarter, grid - 1} | ({grid // 2} if grid % 2 else set())
    col_labels = [f"{v:.2f}" if i in marked else "" for i, v in enumerate(z1.tolist())]
    row_labels = [f"{v:.2f}" if i in marked else "" for i, v in enumerate(z2.tolist())]
    cell = min(0.45, 9.0 / grid)
    fig = grid_figure(images, f"Decoded latent grid: {how}",
                      caption(run, f"decoder means on a {grid}×{grid} grid of prior quantiles "
                                   f"p = (i+½)/{grid}"),
                      row_labels=row_labels, col_labels=col_labels, cell=cell,
                      label_inches=0.7)
    ax = fig.axes[0]
    ax.set_xlabel(f"{latent_name(0)} (columns)", fontsize=9)
    ax.xaxis.set_label_position("top")
    ax.set_ylabel(f"{latent_name(1)} (rows)", fontsize=9)
    return fig
