"""``curves``: train/validation loss, reconstruction, KL and true ELBO per epoch, one or
several runs overlaid (``--compare``), optionally on a log scale. A plain autoencoder has
no KL and no ELBO: its curves are its loss and reconstruction error only (also for runs
whose history.csv, written before vaelab knew better, has those columns)."""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from vaelab.errors import VaelabError
from vaelab.figures.common import (
    COMPARE,
    FIGURES,
    caption,
    model_summary,
    new_figure,
    require_runs,
    run_label,
)
from vaelab.run import Run

PANELS = [("loss", "training objective"), ("recon", "reconstruction −log p(x|z)"),
          ("kl", "KL(q(z|x) ‖ p(z))"), ("elbo", "true ELBO (β = 1)")]
SPLITS = (("train", "-", "o"), ("val", "--", "s"))
VARIATIONAL_ONLY = ("kl", "elbo")


def is_variational(run: Run) -> bool:
    """Whether the run's objective has a KL term and an ELBO (the autoencoder has not)."""
    from vaelab.objectives import is_variational as objective_is_variational

    return objective_is_variational(run.config.objective)


@COMPARE.register("curves")
def curves_compare(runs: Sequence[Run], log: bool = False) -> Figure:
    """One panel per quantity, epochs on x (integer ticks), nats per image on y; runs by
    colour, train solid and validation dashed. ``log`` uses a log y-axis (the ELBO panel
    then shows −ELBO, which is positive)."""
    from matplotlib import colormaps

    runs = require_runs(runs, "curves")
    histories = [run.history for run in runs]
    for run, history in zip(runs, histories, strict=True):
        if not history:
            raise VaelabError(f"{run.path} has no history.csv rows; train it first")
    if len(runs) == 1:
        text = caption(runs[0], "per-epoch means over the split; validation scored with "
                                "one seeded posterior sample per image")
    else:
        text = "; ".join(f"{run.path.name}: {run.config.data.dataset}, {model_summary(run)}, "
                         f"epoch {len(h)}" for run, h in zip(runs, histories, strict=True))
    variational = [is_variational(run) for run in runs]
    panels = [(key, title) for key, title in PANELS
              if any(variational) or key not in VARIATIONAL_ONLY]
    if not all(variational):
        text += ("; an autoencoder has no KL and no ELBO: its loss is its reconstruction "
                 "error")
    fig = new_figure(14.5 if len(panels) > 2 else 8.5, 3.9, text)
    axes = fig.subplots(1, len(panels))
    colours = colormaps["tab10"]
    for ax, (key, title) in zip(axes, panels, strict=True):
        sign = -1.0 if (log and key == "elbo") else 1.0
        for r, history in enumerate(histories):
            if key in VARIATIONAL_ONLY and not variational[r]:
                continue
            epochs = [row["epoch"] for row in history]
            for split, style, marker in SPLITS:
                column = f"{split}_{key}"
                if column in history[0]:
                    ax.plot(epochs, [sign * row[column] for row in history], linestyle=style,
                            marker=marker, markersize=3, color=colours(r % 10))
        ax.set_title("−ELBO (β = 1)" if sign < 0 else title, fontsize=10)
        ax.set_xlabel("epoch")
        ax.set_ylabel("nats per image" + (" (log scale)" if log else ""))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        last = max(row["epoch"] for history in histories for row in history)
        ax.set_xlim(0.5, last + 0.5)  # whole epochs, also for a single one
        if log:
            ax.set_yscale("log", nonpositive="mask")
        ax.grid(alpha=0.3)
    handles = [Line2D([], [], color="0.2", linestyle=style, marker=marker, markersize=3,
                      label="train" if split == "train" else "validation")
               for split, style, marker in SPLITS]
    if len(runs) > 1:
        handles += [Line2D([], [], color=colours(r % 10), linewidth=3, label=run_label(run))
                    for r, run in enumerate(runs)]
    fig.legend(handles=handles, loc="outside right upper", fontsize=8, frameon=False)
    fig.suptitle("Learning curves" + (f" of {len(runs)} runs" if len(runs) > 1 else ""),
                 fontsize=11)
    return fig


@FIGURES.register("curves")
def curves(run: Run, log: bool = False) -> Figure:
    """Train/validation loss, reconstruction, KL and true ELBO per epoch."""
    return curves_compare([run], log=log)
