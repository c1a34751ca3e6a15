"""Test ELBO, reconstruction and KL (vaelab/evaluate.py), also per class.

The overall numbers are ``evaluate.elbo_metrics`` unchanged (what `vaelab train` writes);
the per-class breakdown re-scores the same images with the same seeded posterior samples
and batch order, so the class means average back to the overall numbers exactly.
"""

from __future__ import annotations

import torch

from vaelab.data import PreparedData
from vaelab.evaluate import elbo_metrics
from vaelab.metrics.base import register, require_labels, scored_split
from vaelab.metrics.shown import DETAIL, Breakdown, Number
from vaelab.model import VAE
from vaelab.objectives import evaluation_objective


def _per_class(values: dict[str, torch.Tensor], labels: torch.Tensor,
               names: list[str] | None) -> dict[str, dict[str, float]]:
    """Mean of each per-image value [N] within each class present in ``labels`` [N]."""
    out: dict[str, dict[str, float]] = {}
    for label in torch.unique(labels).tolist():
        mask = labels == label
        name = names[label] if names is not None and 0 <= label < len(names) else str(label)
        row: dict[str, float] = {"images": int(mask.sum())}
        row.update({key: float(v[mask].double().mean()) for key, v in values.items()})
        out[name] = row
    return out


@torch.no_grad()
def _per_image(model: VAE, x: torch.Tensor, batch_size: int, seed: int
               ) -> dict[str, torch.Tensor]:
    """Per-image recon, KL and ELBO [N] (only recon for an autoencoder, which has no KL
    and no ELBO), with evaluate_split's generator and batches."""
    generator = torch.Generator(device=x.device).manual_seed(seed)
    objective = evaluation_objective(model.config.objective)
    r = k = None  # per-image scalars in buffers allocated once (vaelab/memory.py)
    for start in range(0, x.shape[0], batch_size):
        out = objective(model, x[start:start + batch_size], 0, generator=generator)
        if r is None:
            r = out.recon.new_empty(x.shape[0])
            k = out.kl.new_empty(x.shape[0])
        r[start:start + batch_size] = out.recon
        k[start:start + batch_size] = out.kl
        del out
    if not objective.is_variational:
        return {"recon": r}
    return {"elbo": -(r + k), "recon": r, "kl": k}


# Two runs' ELBOs compare only when scored on the same split, images and binarisation.
SCORED_ALIKE = ("binarization", "split", "images")
# The reconstruction error is a number of its own: a plain autoencoder has it (and no
# ELBO, KL or bits/dim), so it is compared and ranked on its own.
ELBO = Number("ELBO", ("elbo",), better="higher", comparable=SCORED_ALIKE)
RECON = Number("reconstruction error", ("recon",), better="lower", short="recon error",
               comparable=SCORED_ALIKE)
KL = Number("KL", ("kl",), comparable=SCORED_ALIKE)
BITS = Number("bits/dim", ("bits_per_dim",), unit="", format=".4f", better="lower",
              level=DETAIL, comparable=SCORED_ALIKE, estimator=("bits_per_dim_units",))
PER_CLASS = Breakdown(
    "ELBO per class ({split})", "class", ("per_class",),
    (Number("images", ("images",), unit="", format="d"), ELBO, RECON, KL),
    caption="nats per image, same estimator as the ELBO table")


def _not_a_bound(stats: dict) -> str:
    if stats.get("likelihood_is_density", True):
        return ""
    return "the likelihood is a loss, not a density: the ELBO is not a bound"


@register("elbo", key=None, cheap=True,
          help="test ELBO, recon and KL (single-sample, β = 1), also per class",
          title="ELBO", numbers=(ELBO, RECON, KL, BITS), breakdowns=(PER_CLASS,),
          caveat=_not_a_bound)
def gather(model: VAE, data: PreparedData, *, seed: int = 0, split: str = "test",
           batch_size: int = 2000, per_class: bool | None = None, progress: bool = False
           ) -> dict:
    """``per_class``: True requires labels, None adds them when the split has labels."""
    was_training = model.training
    model.eval()
    try:
        scored = scored_split(data, split)  # the one-line error for a missing split
        stats = elbo_metrics(model, data, split, batch_size=batch_size, seed=seed)
        if per_class or (per_class is None and scored.y is not None):
            labels = require_labels(scored, "elbo (per class)")
            values = _per_image(model, scored.x, batch_size, seed)
            stats["per_class"] = _per_class(values, labels, data.classes)
        stats["seed"] = seed
        return stats
    finally:
        model.train(was_training)
