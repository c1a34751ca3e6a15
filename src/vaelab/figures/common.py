"""What every figure shares: the two registries, the caption, image grids, seeded
generators, class names, run-compatibility checks and the PNG/GIF writers.

Figures are built on ``matplotlib.figure.Figure`` directly (no pyplot): no global state,
no backend needed, safe in threads and headless, and a notebook still shows the returned
figure. Grey images always use a fixed scale, 0 = black and 1 = white; colour images
(3 channels, [C, H, W] as everywhere in vaelab) are drawn as RGB with the same [0, 1] scale.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from vaelab.describe import describe_model
from vaelab.errors import VaelabError
from vaelab.registry import Registry
from vaelab.run import Run

# name -> draw(run, **options) -> Figure
FIGURES: Registry[Callable[..., Figure]] = Registry("figure")
# name -> draw(runs: list[Run], **options) -> Figure, for `vaelab plot --compare`
COMPARE: Registry[Callable[..., Figure]] = Registry("comparison figure")

DPI = 110  # PNG resolution; a figure of w × h inches is exactly round(w·DPI) × round(h·DPI) px
CAPTION_PT = 7
CELL = 0.55  # inches per image in a grid: a 28-px digit gets ~60 px, an 8-px one is upscaled
GREY = dict(cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")


class NotApplicable(VaelabError):
    """This figure does not apply to this run (e.g. a manifold of a 20-D latent).
    ``vaelab plot --all`` skips such a figure with a note; naming it is an error."""


# -- caption ----------------------------------------------------------------------------
def run_label(run: Run, width: int = 22) -> str:
    """The run directory's name, shortened for legends and column titles."""
    name = run.path.name or str(run.path)
    return name if len(name) <= width else name[:width - 1] + "…"


def model_summary(run: Run) -> str:
    """The model's one-line description (the same words as the report and compare)."""
    return describe_model(run.config)


def epoch_label(run: Run) -> str:
    """'epoch N' of the loaded weights: the checkpoint's own epoch when the loader
    recorded it (``run.info['checkpoint']``), else the length of the history."""
    loaded = run.info.get("checkpoint") if isinstance(run.info, dict) else None
    if isinstance(loaded, dict) and loaded.get("epoch") is not None:
        return f"epoch {loaded['epoch']} ({loaded.get('name', 'last')} checkpoint)"
    return f"epoch {len(run.history)}"


def caption(run: Run, note: str = "") -> str:
    """One line (wrapped where needed) naming the model, dataset, epoch and the test ELBO
    with its estimator; ``note`` adds what this figure estimates and how."""
    cfg = run.config
    parts = [run.path.name, f"{cfg.data.dataset} (binarize {cfg.data.binarize})",
             model_summary(run), epoch_label(run)]
    # The test numbers of the weights drawn: `vaelab eval --checkpoint best` stores them
    # as test_best; training stores those of the last epoch as test.
    loaded = run.info.get("checkpoint") if isinstance(run.info, dict) else None
    key = "test_best" if isinstance(loaded, dict) and loaded.get("name") == "best" else "test"
    metrics = run.metrics
    test = metrics.get(key) if isinstance(metrics, dict) else None
    if isinstance(test, dict) and "elbo" in test:
        estimator = str(test.get("estimator", "")).split(" (")[0]
        parts.append(f"test ELBO {test['elbo']:.2f} nats ({estimator})")
    text = " · ".join(parts)
    return f"{text} · {note}" if note else text


def wrap(text: str, width_inches: float, points: float) -> str:
    """Wrap ``text`` to lines that fit ``width_inches`` at font size ``points``, keeping
    existing line breaks. A caption's average DejaVu Sans glyph is 0.52 em wide (measured
    with matplotlib's TextPath); 0.58 em and a 0.3-inch margin keep lines heavy in capitals
    and digits inside the figure (0.55 em and no margin cut a caption at both edges)."""
    chars = max(20, int((width_inches - 0.3) * 72 / (points * 0.58)))
    return "\n".join(textwrap.fill(line, chars) for line in text.split("\n"))


def new_figure(width: float, height: float, text: str | None, *, compress: bool = False
               ) -> Figure:
    """A constrained-layout figure of ``width`` × ``height`` inches of content plus a strip
    at the bottom for the wrapped caption ``text`` (never clipped: its height is reserved
    from the number of lines)."""
    lines = wrap(text, width, CAPTION_PT).split("\n") if text else []
    strip = (len(lines) * CAPTION_PT * 1.3 + 8) / 72 if lines else 0.0
    total = height + strip
    fig = Figure(figsize=(width, total), dpi=DPI)
    fig.set_layout_engine("constrained", rect=(0, strip / total, 1, 1 - strip / total),
                          compress=compress)
    if lines:
        fig.text(0.5, 4 / 72 / total, "\n".join(lines), ha="center", va="bottom",
                 fontsize=CAPTION_PT, color="0.3", linespacing=1.3)
    return fig


# -- image grids ------------------------------------------------------------------------
def tile(images: torch.Tensor | np.ndarray, ncols: int, pad: int = 2,
         pad_value: float = 1.0) -> np.ndarray:
    """Images in [0,1], [N, H, W] grey or [N, C, H, W] with C = 1 or 3, → one grid
    [rows·(H+pad)+pad, cols·(W+pad)+pad] (grey) or the same with a last axis of 3 (RGB,
    ready for imshow and PIL)."""
    if isinstance(images, torch.Tensor):
        images = images.detach().float().cpu().numpy()
    images = np.clip(np.asarray(images, dtype=np.float32), 0.0, 1.0)
    if images.ndim == 4:
        images = _channels_last(images)  # [N, H, W] or [N, H, W, 3]
    n, h, w = images.shape[:3]
    nrows = math.ceil(n / ncols)
    grid = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad, *images.shape[3:]),
                   pad_value, dtype=np.float32)
    for i in range(n):
        r, c = divmod(i, ncols)
        top, left = pad + r * (h + pad), pad + c * (w + pad)
        grid[top:top + h, left:left + w] = images[i]
    return grid


def _channels_last(images: np.ndarray) -> np.ndarray:
    """[N, C, H, W] → [N, H, W] (C = 1) or [N, H, W, 3] (C = 3)."""
    channels = images.shape[1]
    if channels == 1:
        return images[:, 0]
    if channels == 3:
        return np.moveaxis(images, 1, -1)
    raise VaelabError(f"figures draw grey (1 channel) or RGB (3 channel) images, but these "
                      f"have {channels} channels")


def show_image(ax: Axes, grid: np.ndarray) -> None:
    """imshow of a tiled grid: grey [H, W] on the fixed grey scale, RGB [H, W, 3] as is."""
    if grid.ndim == 3:
        ax.imshow(grid, interpolation="nearest")
    else:
        ax.imshow(grid, **GREY)


def grid_pad(image_shape: Sequence[int]) -> int:
    return max(1, image_shape[-1] // 14)  # 2 px between 28-px images, 1 px for 8-px ones


def show_grid(ax: Axes, images: torch.Tensor | np.ndarray, *,
              row_labels: Sequence[str] | None = None,
              col_labels: Sequence[str] | None = None, title: str | None = None,
              label_size: float = 8) -> None:
    """Draw images [R, Cols, C, H, W] (or grey [R, Cols, H, W]) as one grid on ``ax``
    (grey: 0 = black, 1 = white; RGB as is), with labels beside the rows and above the
    columns."""
    if isinstance(images, torch.Tensor):
        images = images.detach().float().cpu().numpy()
    rows, cols = images.shape[:2]
    h, w = images.shape[-2:]
    pad = grid_pad((h, w))
    show_image(ax, tile(images.reshape(rows * cols, *images.shape[2:]), ncols=cols, pad=pad))
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.tick_params(length=0, labelsize=label_size)
    if row_labels is not None:
        ax.set_yticks([pad + r * (h + pad) + (h - 1) / 2 for r in range(rows)],
                      list(row_labels))
    else:
        ax.set_yticks([])
    if col_labels is not None:
        ax.xaxis.tick_top()
        ax.set_xticks([pad + c * (w + pad) + (w - 1) / 2 for c in range(cols)],
                      list(col_labels))
    else:
        ax.set_xticks([])
    if title:
        ax.set_title(title, fontsize=10)


def grid_figure(images: torch.Tensor | np.ndarray, title: str, text: str, *,
                row_labels: Sequence[str] | None = None,
                col_labels: Sequence[str] | None = None, cell: float = CELL,
                label_inches: float | None = None) -> Figure:
    """A figure holding one labelled image grid [R, Cols, C, H, W], sized so that every image
    gets ``cell`` inches (readable at any image size)."""
    rows, cols = images.shape[:2]
    left = label_inches if label_inches is not None else (
        0.1 + 0.065 * max(map(len, row_labels)) if row_labels else 0.1)
    top = 0.45 + (0.25 if col_labels is not None else 0.0)
    width = max(4.5, cols * cell + left + 0.3)
    height = rows * cell + top + 0.1
    fig = new_figure(width, height, text, compress=True)
    ax = fig.add_subplot()
    show_grid(ax, images, row_labels=row_labels, col_labels=col_labels)
    fig.suptitle(wrap(title, width - 0.2, 11), fontsize=11)
    return fig


# -- data, labels, randomness -----------------------------------------------------------
def generator(run: Run, seed: int) -> torch.Generator:
    """A seeded generator on the run's device: every random draw of a figure comes from
    one of these, so a figure is a pure function of (run, options, seed)."""
    return torch.Generator(device=run.device).manual_seed(seed)


def split_of(run: Run, split: str):
    """The split as the model is scored on it (one fixed draw under dynamic binarisation)."""
    if split not in ("test", "val"):
        raise VaelabError(f"split must be test or val, got {split!r}")
    data = run.data.eval_split(split)
    if data is None or len(data) == 0:
        raise VaelabError(f"run {run.path} has no {split} split (val_fraction 0); use the "
                          "test split")
    return data


def class_names(run: Run) -> list[str] | None:
    classes = run.data.classes
    return list(classes) if classes else None


def label_name(run: Run, label: int) -> str:
    names = class_names(run)
    return names[label] if names and 0 <= label < len(names) else str(label)


@torch.no_grad()
def parse_pairs(text: str) -> list[tuple[int, int]]:
    """'3:8,1:7' → [(3, 8), (1, 7)] (class labels for interpolation)."""
    pairs = []
    for item in text.replace(" ", "").split(","):
        if not item:
            continue
        try:
            start, end = item.split(":")
            pairs.append((int(start), int(end)))
        except ValueError:
            raise VaelabError(f"--labels expects pairs of class labels like 3:8,1:7, got "
                              f"{item!r}") from None
    return pairs


# -- several runs ---------------------------------------------------------------------
def load_runs(paths: Sequence[str | Path], checkpoint: str = "last", device: str = "auto"
              ) -> list[Run]:
    """Load run directories and record which checkpoint (and its epoch) was loaded, so
    captions state the epoch of the weights actually drawn."""
    import json

    from safetensors import safe_open

    from vaelab import rundir
    from vaelab.run import load_run, resolve_device

    runs = []
    for path in paths:
        run = load_run(path, checkpoint=checkpoint, device=str(resolve_device(device)))
        with safe_open(str(run.path / rundir.CHECKPOINTS[checkpoint]), framework="pt") as f:
            epoch = json.loads((f.metadata() or {}).get("epoch", "null"))
        run.info["checkpoint"] = {"name": checkpoint, "epoch": epoch}
        runs.append(run)
    return runs


def require_runs(runs: Sequence[Run], what: str) -> list[Run]:
    runs = list(runs)
    if not runs:
        raise VaelabError(f"{what}: give at least one run")
    return runs


def require_same_data(runs: Sequence[Run], what: str) -> None:
    """Figures that show the same test images across runs need the same test split."""
    first = runs[0]
    for run in runs[1:]:
        if (run.config.data.dataset != first.config.data.dataset
                or run.model.image_shape != first.model.image_shape):
            raise VaelabError(
                f"{what} --compare needs runs on the same data set: {first.path.name} is "
                f"{first.config.data.dataset} {first.model.image_shape}, {run.path.name} is "
                f"{run.config.data.dataset} {run.model.image_shape}")
        if len(run.data.test) != len(first.data.test):
            raise VaelabError(
                f"{what} --compare needs the same test split: {first.path.name} has "
                f"{len(first.data.test)} test images, {run.path.name} has "
                f"{len(run.data.test)} (different --subset?)")


def require_same_latent(runs: Sequence[Run], what: str) -> None:
    sizes = [run.model.latent_dim for run in runs]
    if len(set(sizes)) > 1:
        listed = ", ".join(f"{run.path.name}: z={z}" for run, z in zip(runs, sizes, strict=True))
        raise VaelabError(f"{what} --compare needs runs with the same latent size ({listed}); "
                          "compare runs that differ in one thing (e.g. AE vs VAE), or plot "
                          "each run on its own")


# -- writing ----------------------------------------------------------------------------
@dataclass
class Animation:
    """Frames of a moving figure (uint8 [H, W] grey or [H, W, 3] RGB), written as a GIF
    beside the figure's PNG."""

    frames: list[np.ndarray]
    duration_ms: int = 100


def attach_animation(fig: Figure, animation: Animation) -> Figure:
    fig.vaelab_animation = animation  # type: ignore[attr-defined]
    return fig


def animation_of(fig: Figure) -> Animation | None:
    return getattr(fig, "vaelab_animation", None)


def save_figure(fig: Figure, path: Path) -> Path:
    """Write a PNG atomically (and close the figure if pyplot manages it)."""
    from vaelab.rundir import atomic_path

    with atomic_path(Path(path)) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)
    if fig.canvas.manager is not None:
        import matplotlib.pyplot as plt

        plt.close(fig)
    return Path(path)


def save_gif(animation: Animation, path: Path) -> Path:
    """Write the frames as a looping GIF atomically (Pillow ships with matplotlib)."""
    from PIL import Image

    from vaelab.rundir import atomic_path

    images = [Image.fromarray(frame) for frame in animation.frames]
    with atomic_path(Path(path)) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                       duration=animation.duration_ms, loop=0)
    return Path(path)


def accepted_options(draw: Callable[..., Any]) -> set[str]:
    """Keyword options a figure function takes (beyond the run/runs argument)."""
    import inspect

    params = list(inspect.signature(draw).parameters.values())[1:]
    return {p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
