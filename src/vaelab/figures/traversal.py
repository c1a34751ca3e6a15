"""``traversal``: change one latent dimension at a time around the posterior mean of a test
image and decode; rows are dimensions, most used first."""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.figure import Figure

from vaelab.errors import VaelabError
from vaelab.figures.common import FIGURES, caption, grid_figure, label_name, split_of
from vaelab.figures.kl import dimension_usage
from vaelab.metrics.collapse import latent_name
from vaelab.run import Run


@FIGURES.register("traversal")
def traversal(run: Run, index: int = 0, steps: int = 9, span: float = 3.0, dims: int = 10,
              split: str = "test") -> Figure:
    """Decoder means at z = μ + δ·e_j for δ in [−span, span] (``steps`` values), around the
    posterior mean μ of test image ``index``; one row per dimension j, the ``dims`` most
    used dimensions sorted by mean KL to the prior (or by the variance of the posterior
    means when the prior has no per-dimension KL; the title says which)."""
    data = split_of(run, split)
    if not 0 <= index < len(data):
        raise VaelabError(f"--index must be in [0, {len(data) - 1}], got {index}")
    if steps < 2:
        raise VaelabError(f"--steps must be at least 2, got {steps}")
    if span <= 0:
        raise VaelabError(f"--span must be > 0, got {span}")
    usage = dimension_usage(run, split)
    order = np.argsort(-usage.values, kind="stable")[:max(1, dims)]
    mu = run.model.encode(data.x[index:index + 1]).mean[0]  # [Z]
    deltas = torch.linspace(-span, span, steps, device=mu.device)
    z = mu.repeat(len(order), steps, 1)  # [rows, steps, Z]
    for row, j in enumerate(order.tolist()):
        z[row, :, j] = mu[j] + deltas
    images = run.model.decode(z.reshape(-1, mu.shape[0])).reshape(
        len(order), steps, *run.model.image_shape)
    unit = "KL" if usage.is_kl else "Var μ"
    row_labels = [f"{latent_name(j)} ({unit} {usage.values[j]:.2f})" for j in order.tolist()]
    col_labels = [f"{d:+.1f}" for d in deltas.tolist()]
    what = "mean KL to the prior" if usage.is_kl else "variance of the posterior means"
    label = "" if data.y is None else f" (a {label_name(run, int(data.y[index]))})"
    shown = f"{len(order)} of {run.model.latent_dim}"
    fig = grid_figure(images, f"Traversal around {split} image #{index}{label}: {shown} "
                      f"dimensions, sorted by {what}",
                      caption(run, f"decoder means at z = μ + δ·e_j, μ = E[z|x]; "
                                   f"{usage.estimator}"),
                      row_labels=row_labels, col_labels=col_labels)
    ax = fig.axes[0]
    ax.set_xlabel("δ (added to z_j)", fontsize=9)
    ax.xaxis.set_label_position("top")
    return fig
