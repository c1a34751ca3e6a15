"""Evaluation of a trained model on a data split: the true ELBO and its two terms.

Numbers are nats per image, averaged over the split, with one posterior sample per
image drawn from a seeded generator (so they are reproducible), and always with β = 1
(DESIGN rule 3). With dynamic binarisation the split is the one fixed draw of the
binarisation stream (PreparedData.eval_split), whatever the seed of the posterior samples,
so that epochs, runs and metrics are scored on the same binary images.
"""

from __future__ import annotations

import math

import torch

from vaelab.data import PreparedData, TensorSplit
from vaelab.data.prepare import binarization_note
from vaelab.model import VAE
from vaelab.objectives import Objective, evaluation_objective

EVAL_SEED = 0  # fixed: every run is scored on the same draws


@torch.no_grad()
def evaluate_split(model: VAE, objective: Objective, split: TensorSplit, batch_size: int,
                   *, seed: int, step: int) -> dict[str, float]:
    """Mean loss (of ``objective``), recon, KL and true ELBO per image over ``split``."""
    was_training = model.training
    model.eval()
    device = split.x.device
    generator = torch.Generator(device=device).manual_seed(seed)
    sums = torch.zeros(3, dtype=torch.float64, device=device)
    n = split.x.shape[0]
    for start in range(0, n, batch_size):
        x = split.x[start:start + batch_size]
        out = objective(model, x, step, generator=generator)
        sums += torch.stack([out.loss.double() * x.shape[0], out.recon.double().sum(),
                             out.kl.double().sum()])
    model.train(was_training)
    loss, recon, kl = (float(v) / n for v in sums)
    return {"loss": loss, "recon": recon, "kl": kl, "elbo": -(recon + kl)}


def elbo_metrics(model: VAE, data: PreparedData, split_name: str, *, batch_size: int,
                 seed: int = EVAL_SEED) -> dict:
    """The numbers of metrics.json for one split, each stating estimator, split and
    binarisation so that they can be compared honestly. ``seed`` seeds the posterior
    samples only: the binary images are the fixed draw (PreparedData.eval_split)."""
    scored = data.eval_split(split_name)
    if scored is None or len(scored) == 0:
        return {}
    objective = evaluation_objective(model.config.objective)
    stats = evaluate_split(model, objective, scored, batch_size, seed=seed, step=0)
    return {
        "split": split_name,
        "images": len(scored),
        "binarization": binarization_note(data.binarize),
        "estimator": (f"single-sample ELBO (β = 1, 1 posterior sample per image, seed {seed})"
                      if objective.is_variational else "autoencoder reconstruction error at "
                      "the posterior mean (no KL: not an ELBO)"),
        "units": "nats per image",
        "elbo": stats["elbo"],
        "recon": stats["recon"],
        "kl": stats["kl"],
        "bits_per_dim": -stats["elbo"] / (data.dim * math.log(2)),
        "likelihood_is_density": bool(model.likelihood.is_density),
    }
