"""``kl-per-dim``: how much each latent dimension is used (posterior collapse). Bars of the
mean KL per dimension, coloured by whether the dimension is an active unit (Burda et al.
2015, the definition `vaelab eval` uses: metrics/collapse.py ``active_units``), with the
KL level above which a dimension "carries KL" dashed, and the histogram the depth study
drew; ``--compare`` stacks one row per run. Dimensions are numbered from 0, as in
metrics.json. ``dimension_usage`` is shared with ``traversal``, which sorts its rows by it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from vaelab.errors import VaelabError
from vaelab.figures.common import (
    COMPARE,
    FIGURES,
    caption,
    model_summary,
    new_figure,
    require_runs,
    run_label,
    split_of,
)
from vaelab.metrics.collapse import ACTIVE_THRESHOLD, KL_CARRYING, active_units
from vaelab.run import Run


@dataclass
class DimensionUsage:
    """Per latent dimension, averaged over a split: ``values`` [Z] and what they are."""

    values: np.ndarray  # mean KL per dimension (nats), or Var_x E[z_u] as the fallback
    is_kl: bool
    label: str  # axis label / title fragment
    estimator: str  # how the values were computed, for the caption
    mean_variance: np.ndarray  # Var_x E[z_u|x] [Z], Burda et al.'s active-unit statistic


@torch.no_grad()
def dimension_usage(run: Run, split: str = "test", batch: int = 2000) -> DimensionUsage:
    """Mean per-dimension KL(q(z_u|x) ‖ p(z_u)) over a split, as the collapse metric
    computes it (analytic, or Monte Carlo when the prior factorises); when the prior does
    not factorise, the variance over the data of the posterior mean, which needs no prior
    density (Burda et al. 2015)."""
    from vaelab.metrics.base import deterministic_encoder, posterior_moments
    from vaelab.metrics.collapse import kl_per_dimension

    data = split_of(run, split)
    mean, logvar = posterior_moments(run.model, data.x, batch)
    variance = active_units(mean)[1].numpy()
    no_density = deterministic_encoder(run.model)
    if no_density is not None:
        return DimensionUsage(variance, False, "Var_x E[z_u|x]",
                              f"KL {no_density}: variance of the point codes over "
                              f"{len(data)} {split} images (Burda et al. 2015)", variance)
    generator = torch.Generator(device=run.device).manual_seed(0)
    kl = kl_per_dimension(run.model, mean, logvar, samples=16, generator=generator)
    if kl["kl_per_dim"] is not None:
        return DimensionUsage(np.asarray(kl["kl_per_dim"]), True,
                              "mean KL(q(z_u|x) ‖ p(z_u)) [nats]",
                              f"{kl['kl_estimator']} per dimension, averaged over "
                              f"{len(data)} {split} images", variance)
    reason = (f"the {run.config.prior.name} prior does not factorise" if logvar is not None
              else f"the {run.config.posterior.name} posterior's dimensions are not "
                   "independent")
    return DimensionUsage(variance, False, "Var_x E[z_u|x]",
                          f"{reason}: "
                          f"variance of the posterior means over {len(data)} {split} images "
                          "(Burda et al. 2015)", variance)


def usage_summary(usage: DimensionUsage, threshold: float, name: str) -> str:
    """"N of Z active units" (Burda et al.'s, as `vaelab eval` counts them) and, when the
    values are KL, how many dimensions carry KL."""
    active = int((usage.mean_variance > threshold).sum())
    text = (f"{name}: {active} of {len(usage.values)} active units "
            f"(Var_x E[z_u|x] > {threshold:g}, Burda et al. 2015)")
    if usage.is_kl:
        carrying = int((usage.values > KL_CARRYING).sum())
        text += f"; {carrying} of {len(usage.values)} carry KL > {KL_CARRYING:g} nats"
    return text


def _draw_usage(bar_ax: Axes, hist_ax: Axes, usage: DimensionUsage, threshold: float,
                name: str) -> None:
    values = usage.values
    dims = np.arange(len(values))  # numbered from 0, as in metrics.json
    active = usage.mean_variance > threshold
    level = KL_CARRYING if usage.is_kl else threshold
    bar_ax.bar(dims, values, color=np.where(active, "tab:blue", "0.7"), width=0.8)
    bar_ax.axhline(level, color="tab:red", linestyle="--", linewidth=1,
                   label=(f"carries KL above {level:g} nats" if usage.is_kl else
                          f"active-unit threshold {level:g}"))
    bar_ax.bar([], [], color="tab:blue", label="active unit (blue)")
    bar_ax.set_xlabel("latent dimension u (from 0)")
    bar_ax.set_ylabel(usage.label, fontsize=8)
    bar_ax.set_xticks(dims[::max(1, len(values) // 20)])
    bar_ax.set_xlim(-0.7, len(values) - 0.3)
    # Headroom above the tallest bar so the legend never hides one.
    bar_ax.set_ylim(0, max(float(values.max()), level) * 1.3 or 1.0)
    bar_ax.legend(fontsize=8, loc="upper right")
    bar_ax.set_title(f"{name}: {int(active.sum())} of {len(values)} active units",
                     fontsize=10)
    hist_ax.hist(values, bins=min(30, max(5, len(values))), color="tab:blue",
                 edgecolor="white")
    hist_ax.axvline(level, color="tab:red", linestyle="--", linewidth=1)
    hist_ax.set_xlabel(usage.label, fontsize=8)
    hist_ax.set_ylabel("number of dimensions")
    hist_ax.yaxis.get_major_locator().set_params(integer=True)
    hist_ax.set_title("histogram over dimensions", fontsize=10)


@COMPARE.register("kl-per-dim")
def kl_per_dim_compare(runs: Sequence[Run], threshold: float = ACTIVE_THRESHOLD,
                       split: str = "test") -> Figure:
    """One row per run: mean KL per latent dimension (active units blue, the KL-carrying
    level dashed) and the histogram of those values. ``threshold``: of the active-unit
    test Var_x E[z_u|x] > threshold (Burda et al. 2015)."""
    runs = require_runs(runs, "kl-per-dim")
    if threshold < 0:
        raise VaelabError(f"--threshold must be >= 0, got {threshold}")
    usages = [dimension_usage(run, split) for run in runs]
    names = [run_label(run) if len(runs) > 1 else "posterior usage" for run in runs]
    summaries = [usage_summary(u, threshold, name)
                 for u, name in zip(usages, names, strict=True)]
    estimators = "; ".join(sorted({u.estimator for u in usages}))
    if len(runs) == 1:
        text = caption(runs[0], f"{summaries[0]}; {estimators}")
    else:
        text = "; ".join(f"{run.path.name}: {model_summary(run)}" for run in runs)
        text += f"; {estimators}; " + "; ".join(summaries)
    widest = max(len(u.values) for u in usages)
    fig = new_figure(max(9.0, 4.0 + 0.22 * widest), 3.4 * len(runs), text)
    for row, (usage, name) in enumerate(zip(usages, names, strict=True)):
        _draw_usage(fig.add_subplot(len(runs), 2, 2 * row + 1),
                    fig.add_subplot(len(runs), 2, 2 * row + 2), usage, threshold, name)
    fig.suptitle("Latent dimensions in use (posterior collapse)" if usages[0].is_kl else
                 "Latent dimensions in use: variance of the posterior means", fontsize=11)
    return fig


@FIGURES.register("kl-per-dim")
def kl_per_dim(run: Run, threshold: float = ACTIVE_THRESHOLD, split: str = "test") -> Figure:
    """Mean KL per latent dimension, active units (Burda et al. 2015) in blue, and its
    histogram."""
    return kl_per_dim_compare([run], threshold=threshold, split=split)
