"""Evaluation of a trained model on a data split: the true ELBO and its two terms.

Numbers are nats per image, averaged over the split, with one posterior sample per
image drawn from a seeded generator (so they are reproducible), and always with β = 1
(DESIGN rule 3). With dynamic binarisation the split is the one fixed draw of the
binarisation stream (PreparedData.eval_split), whatever the seed of the posterior samples,
so that epochs, runs and metrics are scored on the same binary images.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from vaelab.data import PreparedData, TensorSplit
from vaelab.data.prepare import binarization_note
from vaelab.model import VAE
from vaelab.objectives import Objective, evaluation_objective

EVAL_SEED = 0  # fixed: every run is scored on the same posterior samples
LN2 = math.log(2)


def split_numbers(loss: float, recon: float, kl: float, *, variational: bool
                  ) -> dict[str, float]:
    """The per-image means an epoch or a split reports (history and metrics.json): loss
    and reconstruction error, plus KL and the true ELBO for a variational objective. A
    plain autoencoder has neither: its "KL" is no KL and −recon is no bound on anything."""
    numbers = {"loss": loss, "recon": recon}
    if variational:
        numbers.update(kl=kl, elbo=-(recon + kl))
    return numbers


def headline(row: dict[str, float]) -> tuple[str, float]:
    """What a progress bar shows of a history row: the (validation) ELBO, or an
    autoencoder's reconstruction error."""
    for name in ("elbo", "recon"):
        for split in ("val", "train"):
            if f"{split}_{name}" in row:
                return name, row[f"{split}_{name}"]
    raise KeyError("a history row has train_recon")


def bits_per_dim(nll: float, likelihood: Any, data: Any) -> tuple[float | None, str]:
    """(bits per dimension, what they are) of a mean NLL in nats per image; ``likelihood``
    has ``support`` and ``is_density``, ``data`` has ``dim`` and ``binarize``.

    - Binary data, Bernoulli likelihood: a probability already, nll / (D ln 2).
    - 8-bit data, a likelihood of the 256 levels (discretized-logistic): a probability
      already, nll / (D ln 2), D = C·H·W; the unit of every CIFAR-10 table.
    - 8-bit grey data x = k/255, a continuous density p: x lies in its bin
      [k/256, (k+1)/256], so the discrete probability P(k) = ∫_bin p ≈ p(x)/256^D and
      −log P(k) ≈ −log p(x) + D·ln 256 (Theis et al. 2016, §3.1). That is the number the
      8-bit tables report; with uniform dequantisation (x + u)/256 in training and
      evaluation it would be a bound, here it is a point estimate.
    - No discrete counterpart: a density of binary data, or a loss that is no density
      (a Bernoulli "likelihood" of grey values, --binarize none, is the usual BCE loss:
      no probability of anything)."""
    dim = data.dim
    if not likelihood.is_density:
        return None, "none: the likelihood is a loss, not a density"
    if likelihood.support == "binary":
        if data.binarize == "none":
            return None, ("none: a Bernoulli likelihood of grey data is a loss (BCE), not a "
                          "probability; --binarize dynamic gives bits/dim")
        return nll / (dim * LN2), "bits per dimension of binary data: nll / (D ln 2)"
    if likelihood.support == "8-bit":
        return nll / (dim * LN2), (
            "bits per dimension of the 8-bit data: nll / (D ln 2), D = C·H·W, the likelihood "
            "being a probability of the 256 levels (no dequantisation term)")
    if data.binarize == "none":
        return ((nll + dim * math.log(256)) / (dim * LN2),
                "bits per dimension of the 8-bit data: (nll + D·ln 256) / (D ln 2), the "
                "density at x = k/255 standing for the mass of its 1/256-wide bin (Theis et "
                "al. 2016), an approximation of the discrete NLL rather than a bound on it (no "
                "dequantisation)")
    return None, ("none: a continuous density of binary data has no discrete counterpart; "
                  "not comparable with published bits/dim")


@torch.no_grad()
def evaluate_split(model: VAE, objective: Objective, split: TensorSplit, batch_size: int,
                   *, seed: int, step: int) -> dict[str, float]:
    """Mean loss (of ``objective``), recon, KL and true ELBO per image over ``split``
    (``split_numbers``: no KL and ELBO for an autoencoder)."""
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
    return split_numbers(loss, recon, kl, variational=objective.is_variational)


def conditional_note(model: VAE) -> str:
    """What a conditional family's bound is on (VAE.elbo_of), for estimator texts; "" for
    the unconditional ones."""
    return "" if model.elbo_of == VAE.elbo_of else f"; a bound on {model.elbo_of}"


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
    numbers = {
        "split": split_name,
        "images": len(scored),
        "estimator": (f"single-sample ELBO (β = 1, 1 posterior sample per image, seed {seed})"
                      f"{conditional_note(model)}" if objective.is_variational else
                      f"autoencoder reconstruction error at {model.point_code} (no KL: not "
                      "an ELBO)"),
        "units": "nats per image",
    }
    if objective.is_variational:
        value, units = bits_per_dim(-stats["elbo"], model.likelihood, data)
        numbers.update(elbo=stats["elbo"], recon=stats["recon"], kl=stats["kl"],
                       bits_per_dim=value, bits_per_dim_units=units + (
                           "" if value is None else "; computed from −ELBO, which bounds "
                           "the NLL from above"))
    else:
        numbers["recon"] = stats["recon"]
    numbers["binarization"] = binarization_note(data.binarize)
    numbers["likelihood_is_density"] = bool(model.likelihood.is_density)
    return numbers
