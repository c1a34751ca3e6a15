"""Figures drawn from a run: each a function ``(run, **options) -> matplotlib Figure``
registered in FIGURES, so ``vaelab plot`` and notebooks call the same code. Grey images
always use a fixed 0 = black, 1 = white scale."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: figures are files
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from vaelab.registry import Registry  # noqa: E402
from vaelab.run import Run  # noqa: E402

FIGURES: Registry[Callable[..., Figure]] = Registry("figure")


def tile(images: torch.Tensor, ncols: int, pad: int = 2, pad_value: float = 1.0
         ) -> np.ndarray:
    """[N, H, W] images in [0,1] → one [rows·(H+pad)+pad, cols·(W+pad)+pad] array."""
    images = images.detach().float().clamp(0, 1).cpu().numpy()
    n, h, w = images.shape
    nrows = math.ceil(n / ncols)
    grid = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad), pad_value,
                   dtype=np.float32)
    for i in range(n):
        r, c = divmod(i, ncols)
        top, left = pad + r * (h + pad), pad + c * (w + pad)
        grid[top:top + h, left:left + w] = images[i]
    return grid


def caption(run: Run) -> str:
    cfg = run.config
    epochs = len(run.history)
    hidden = "-".join(str(h) for h in cfg.network.hidden) or "linear"
    return (f"{run.path.name} · {cfg.data.dataset} · {cfg.network.name} {hidden} · "
            f"z={cfg.network.latent_dim} · {cfg.likelihood.name} · {cfg.prior.name} prior · "
            f"{cfg.objective.name} β={cfg.objective.beta:g} · epoch {epochs}")


def _image_figure(grid: np.ndarray, title: str, run: Run, width: float = 8.0) -> Figure:
    height = width * grid.shape[0] / grid.shape[1] + 0.9
    fig, ax = plt.subplots(figsize=(width, height))
    ax.imshow(grid, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(title, fontsize=11)
    fig.text(0.5, 0.01, caption(run), ha="center", va="bottom", fontsize=7, color="0.3")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return fig


@FIGURES.register("reconstructions")
def reconstructions(run: Run, n: int = 16, rows: int = 2) -> Figure:
    """Fixed test images (the first n) above their reconstructions (decoder mean at the
    posterior mean), ``rows`` pairs of rows."""
    # Show the images as the model scores them (one fixed draw under dynamic binarisation).
    test = run.data.eval_split("test")
    n = min(n, test.x.shape[0])
    x = test.x[:n]
    recon = run.model.reconstruct(x).reshape(n, -1)
    # Pad to whole rows with white so the last pair of rows lines up.
    per_row = math.ceil(n / rows)
    missing = torch.ones(per_row * rows - n, x.shape[1], device=x.device)
    x, recon = torch.cat([x, missing]), torch.cat([recon, missing])
    blocks = []
    for r in range(rows):
        part = slice(r * per_row, (r + 1) * per_row)
        blocks.append(torch.cat([x[part], recon[part]]))
    images = torch.cat(blocks).reshape(-1, *run.model.image_shape)
    return _image_figure(tile(images, ncols=per_row), "Test images (odd rows) and their "
                         "reconstructions (even rows)", run)


@FIGURES.register("samples")
def samples(run: Run, n: int = 64, seed: int = 0) -> Figure:
    """Decoder means of n samples from the prior."""
    generator = torch.Generator(device=run.device).manual_seed(seed)
    images = run.model.sample(n, generator=generator)
    ncols = math.ceil(math.sqrt(n))
    return _image_figure(tile(images, ncols=ncols), f"{n} samples from the "
                         f"{run.config.prior.name} prior (decoder means)", run, width=6.0)


@FIGURES.register("curves")
def curves(run: Run) -> Figure:
    """Train/validation loss, reconstruction, KL and true ELBO per epoch."""
    history = run.history
    epochs = [row["epoch"] for row in history]
    panels = [("loss", "training objective"), ("recon", "reconstruction −log p(x|z)"),
              ("kl", "KL(q(z|x) ‖ p(z))"), ("elbo", "true ELBO (β = 1)")]
    fig, axes = plt.subplots(1, len(panels), figsize=(14, 3.6))
    for ax, (key, title) in zip(axes, panels, strict=True):
        for split, style in (("train", "-o"), ("val", "--s")):
            column = f"{split}_{key}"
            if history and column in history[0]:
                ax.plot(epochs, [row[column] for row in history], style, markersize=3,
                        label=split)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch")
        ax.set_ylabel("nats per image")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.text(0.5, 0.01, caption(run), ha="center", va="bottom", fontsize=7, color="0.3")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def save_figure(fig: Figure, path: Path) -> Path:
    """Write a PNG atomically and close the figure."""
    from vaelab.rundir import atomic_path

    with atomic_path(Path(path)) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return Path(path)


def write_figures(run: Run, names: list[str] | None = None) -> list[Path]:
    """Draw the named figures (default: all registered) into RUN/figures/."""
    written = []
    for name in names or FIGURES.names():
        written.append(save_figure(FIGURES.get(name)(run), run.figures_dir / f"{name}.png"))
    return written
