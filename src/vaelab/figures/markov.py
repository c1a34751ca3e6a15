"""``markov-chain``: the encode–decode Markov chain x → z ~ q(z|x) → x ~ p(x|z) → …,
started from noise or from test images. If the model were exact its stationary
distribution would be the data distribution (Rezende et al. 2014, §F; the depth study's
"limiting distribution"). Drawn as a strip of frames (PNG) and an animation (GIF)."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
from matplotlib.figure import Figure

from vaelab.errors import VaelabError
from vaelab.figures.common import (
    FIGURES,
    Animation,
    attach_animation,
    caption,
    generator,
    grid_figure,
    split_of,
    tile,
)
from vaelab.run import Run

STARTS = ("noise", "test")
SHOWS = ("mean", "sample")
SATURATED_MEAN = 0.9  # a chain whose mean pixel exceeds this has collapsed to all-ones
CLAMPED_SHARE = 0.25  # warn when more sampled pixels than this fall outside [0, 1]


class ChainWarning(UserWarning):
    """The chain went numerically wrong (non-finite samples, saturation); it was kept in
    the data range and the figure says so."""


@dataclass
class Chain:
    means: torch.Tensor  # [steps + 1, chains, C, H, W]: step 0 is the start, then E[x|z_t]
    states: torch.Tensor  # [steps + 1, chains, C, H, W]: the chain's x_t (sampled pixels)
    problems: list[str] = field(default_factory=list)


@torch.no_grad()
def run_chain(run: Run, steps: int = 100, chains: int = 8, start: str = "noise",
              seed: int = 0, sample_pixels: bool = True) -> Chain:
    """Iterate z_t ~ q(z|x_{t−1}), x_t ~ p(x|z_t) (or x_t = E[x|z_t] without
    ``sample_pixels``). Samples are kept in the data range [0, 1]: non-finite values (a
    learned σ that exploded) are replaced, values outside are clamped, and a warning says
    how often that happened and whether the chain saturated."""
    if steps < 1:
        raise VaelabError(f"--steps must be at least 1, got {steps}")
    if chains < 1:
        raise VaelabError(f"--chains must be at least 1, got {chains}")
    if start not in STARTS:
        raise VaelabError(f"--start {start!r} is unknown; choose one of: {', '.join(STARTS)}")
    model, gen = run.model, generator(run, seed)
    if start == "noise":
        x = torch.rand((chains, model.data_dim), generator=gen, device=run.device)
    else:
        data = split_of(run, "test")
        x = data.x[:chains]
        chains = x.shape[0]
    means, states = [x], [x]
    nonfinite = 0
    worst_clamped = 0.0
    for _ in range(steps):
        z = model.posterior(x).rsample(generator=gen)
        params = model.decoder_params(z)
        mean = model.likelihood.mean(params)
        raw = model.likelihood.sample(params, generator=gen) if sample_pixels else mean
        bad = ~torch.isfinite(raw)
        nonfinite += int(bad.sum())
        outside = ((raw < 0) | (raw > 1)) & ~bad
        worst_clamped = max(worst_clamped, float(outside.float().mean()))
        x = torch.nan_to_num(raw, nan=0.5, posinf=1.0, neginf=0.0).clamp(0.0, 1.0)
        means.append(torch.nan_to_num(mean, nan=0.5, posinf=1.0, neginf=0.0).clamp(0, 1))
        states.append(x)
    shape = (steps + 1, chains, *model.image_shape)
    chain = Chain(torch.stack(means).reshape(shape).cpu(),
                  torch.stack(states).reshape(shape).cpu())
    if nonfinite:
        chain.problems.append(f"{nonfinite} non-finite pixel samples (exploding decoder σ?) "
                              "replaced")
    if worst_clamped > CLAMPED_SHARE:
        chain.problems.append(f"up to {worst_clamped:.0%} of sampled pixels per step fell "
                              "outside [0, 1] and were clamped")
    tail = chain.states[-max(1, steps // 10):]
    if float(tail.mean()) > SATURATED_MEAN:
        chain.problems.append(f"the chain saturated (mean pixel {float(tail.mean()):.2f} over "
                              "the last steps: an all-ones collapse)")
    for problem in chain.problems:
        warnings.warn(f"markov-chain of {run.path.name}: {problem}", ChainWarning,
                      stacklevel=2)
    return chain


def strip_steps(steps: int) -> list[int]:
    """Roughly log-spaced steps to show in the strip: 0, 1, 2, 5, 10, 20, 50, …, steps."""
    shown = [0]
    for decade in range(int(math.log10(steps)) + 1):
        shown += [m * 10**decade for m in (1, 2, 5) if m * 10**decade < steps]
    return sorted(set(shown)) + [steps]


def gif_frames(frames: torch.Tensor, every: int, steps: int, note: str) -> list[np.ndarray]:
    """[T, chains, C, H, W] → one uint8 image per shown step (grey, or RGB for colour):
    the chains side by side (upscaled so an MNIST digit is ~84 px), under a band naming the
    step."""
    from PIL import Image, ImageDraw

    t_all, chains = frames.shape[:2]
    h = frames.shape[-2]
    scale = max(1, math.ceil(84 / h))
    ncols = min(chains, 8)
    out = []
    for t in range(0, t_all, every):
        grid = tile(frames[t], ncols=ncols, pad=max(1, h // 14))
        # 64 grey levels: invisible on smooth decoder means, ~35% smaller GIF files.
        levels = np.rint(grid * 63) * (255 / 63)
        # 2-D uint8 is mode L (grey), [H, W, 3] uint8 mode RGB.
        image = Image.fromarray(np.rint(levels).astype(np.uint8))
        image = image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
        white, black = (255, 0) if image.mode == "L" else ((255,) * 3, (0,) * 3)
        canvas = Image.new(image.mode, (max(image.width, 260), image.height + 18), color=white)
        canvas.paste(image, (0, 18))
        ImageDraw.Draw(canvas).text((4, 3), f"step {t}/{steps} - {note}", fill=black)
        out.append(np.asarray(canvas))
    return out


@FIGURES.register("markov-chain")
def markov_chain(run: Run, steps: int = 100, chains: int = 8, start: str = "noise",
                 seed: int = 0, every: int = 1, show: str = "mean",
                 sample_pixels: bool = True) -> Figure:
    """A strip of the chain at log-spaced steps (rows = chains) as the figure, and every
    ``every``-th step (``steps // every + 1`` frames, step 0 = the start) as an animation
    that ``vaelab plot`` writes as markov-chain.gif. ``show``: mean (decoder means
    E[x|z_t], smooth) or sample (the chain's sampled pixels x_t)."""
    if show not in SHOWS:
        raise VaelabError(f"--show {show!r} is unknown; choose one of: {', '.join(SHOWS)}")
    if every < 1:
        raise VaelabError(f"--every must be at least 1, got {every}")
    chain = run_chain(run, steps=steps, chains=chains, start=start, seed=seed,
                      sample_pixels=sample_pixels)
    frames = chain.means if show == "mean" else chain.states
    shown = strip_steps(steps)
    images = frames[shown].transpose(0, 1)  # [chains, shown steps, C, H, W]
    what = "decoder means E[x|z_t]" if show == "mean" else "sampled pixels x_t"
    draw = "x ~ p(x|z)" if sample_pixels else "x = E[x|z]"
    title = (f"Encode–decode Markov chain x → z ~ q(z|x) → {draw}: {images.shape[0]} chains "
             f"from {'uniform noise' if start == 'noise' else 'test images'}, {what}")
    if chain.problems:
        title += "\nwarning: " + "; ".join(chain.problems)
    fig = grid_figure(images, title,
                      caption(run, f"{steps} steps, seed {seed}; samples kept in the data "
                                   "range [0, 1]"),
                      row_labels=[f"chain {i + 1}" for i in range(images.shape[0])],
                      col_labels=["start" if t == 0 else f"step {t}" for t in shown],
                      cell=0.7)
    note = f"{what.split(' ')[0]} {what.split(' ')[1]}" if show == "mean" else "sampled pixels"
    return attach_animation(fig, Animation(gif_frames(frames, every, steps, note),
                                           duration_ms=80))
