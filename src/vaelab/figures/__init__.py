"""Figures drawn from run directories. Each is a function ``(run, **options) -> Figure``
registered in ``FIGURES`` (and, where several runs make sense, ``(runs, **options)`` in
``COMPARE``), so ``vaelab plot`` and notebooks call the same code:

    from vaelab.figures import FIGURES
    FIGURES.get("latent")(run, method="tsne")        # a matplotlib Figure

One module per figure family: images (reconstructions, samples, tableau), curves,
latent (latent, manifold), traversal, interpolation, kl (kl-per-dim), markov
(markov-chain, which also carries a GIF). Every random draw is seeded, so a figure is
the same bytes for the same run, options and seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from vaelab.errors import VaelabError
from vaelab.figures import (  # noqa: F401  (importing registers the figures)
    conditional,
    curves,
    images,
    interpolation,
    kl,
    latent,
    layers,
    markov,
    traversal,
)
from vaelab.figures.common import (
    COMPARE,
    DPI,
    FIGURES,
    Animation,
    NotApplicable,
    accepted_options,
    animation_of,
    caption,
    save_figure,
    save_gif,
    tile,
)
from vaelab.run import Run

# Drawn after every training run: cheap and always applicable.
DEFAULT_FIGURES = ["reconstructions", "samples", "curves"]
# The order of `vaelab plot --all` (figures registered later come after these).
ORDER = ["reconstructions", "samples", "curves", "latent", "manifold", "traversal",
         "interpolation", "kl-per-dim", "markov-chain", "tableau", "classes", "layers"]


def all_names() -> list[str]:
    return [n for n in ORDER if n in FIGURES] + [n for n in FIGURES.names() if n not in ORDER]


def draw(what: str, runs: Run | Sequence[Run], **options: Any) -> Figure:
    """One figure of one run, or of several runs side by side (``COMPARE``)."""
    if isinstance(runs, Run):
        _check_family(what, runs)
        return FIGURES.get(what)(runs, **options)
    runs = list(runs)
    if len(runs) == 1 and what in FIGURES:
        _check_family(what, runs[0])
        return FIGURES.get(what)(runs[0], **options)
    if what not in COMPARE:
        raise VaelabError(f"{what} cannot compare runs; figures that can: "
                          f"{', '.join(COMPARE.names())}")
    return COMPARE.get(what)(runs, **options)


def _check_family(what: str, run: Run) -> None:
    """A figure that the run's model family says does not apply to it (VAE.not_drawn)."""
    why = run.model.not_drawn.get(what)
    if why is not None:
        raise NotApplicable(f"{what}: {why}")


def options_for(what: str, compare: bool, options: dict[str, Any]) -> dict[str, Any]:
    """The subset of ``options`` that figure ``what`` takes."""
    registry = COMPARE if compare else FIGURES
    accepted = accepted_options(registry.get(what))
    return {key: value for key, value in options.items() if key in accepted}


def write_figure(what: str, runs: Run | Sequence[Run], out_dir: Path, stem: str | None = None,
                 **options: Any) -> list[Path]:
    """Draw one figure into ``out_dir/stem.png`` (+ ``stem.gif`` when it moves)."""
    fig = draw(what, runs, **options)
    stem = stem or what
    written = [save_figure(fig, Path(out_dir) / f"{stem}.png")]
    animation = animation_of(fig)
    if animation is not None:
        written.append(save_gif(animation, Path(out_dir) / f"{stem}.gif"))
    return written


def write_figures(run: Run, names: list[str] | None = None, out_dir: Path | None = None,
                  **options: Any) -> list[Path]:
    """Draw the named figures (default: the cheap ``DEFAULT_FIGURES`` and the model
    family's own, less those the family says do not apply) into RUN/figures/; each
    figure gets the ``options`` it takes."""
    out_dir = Path(out_dir) if out_dir is not None else run.figures_dir
    written: list[Path] = []
    # A model family adds the figures that show its structure (VAE.figures).
    defaults = [name for name in [*DEFAULT_FIGURES, *run.model.figures]
                if name not in run.model.not_drawn]
    for name in names or defaults:
        written += write_figure(name, run, out_dir, **options_for(name, False, options))
    return written


def write_all(run: Run, out_dir: Path | None = None, **options: Any
              ) -> tuple[list[Path], list[str]]:
    """Every registered figure that applies to the run; returns (paths written, notes on
    the figures skipped, e.g. a manifold for a 20-D latent)."""
    out_dir = Path(out_dir) if out_dir is not None else run.figures_dir
    written, skipped = [], []
    for name in all_names():
        try:
            written += write_figure(name, run, out_dir, **options_for(name, False, options))
        except NotApplicable as why:
            skipped.append(f"skipped {name}: {why}")
    return written, skipped


__all__ = ["COMPARE", "DEFAULT_FIGURES", "DPI", "FIGURES", "Animation", "NotApplicable",
           "all_names", "caption", "draw", "options_for", "save_figure", "save_gif", "tile",
           "write_all", "write_figure", "write_figures"]
