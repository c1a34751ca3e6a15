"""Training objectives: ``objective(model, x, step) -> ObjectiveOutput``.

The objective averages over the batch (the one place that does, DESIGN rule 2). Every
objective also returns the true ELBO (β = 1, no free bits, no warm-up) of the same
samples, so the logged, compared number never depends on the training trick (rule 3).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vaelab.config import ObjectiveConfig
from vaelab.model import VAE
from vaelab.posterior import DiagonalGaussian
from vaelab.registry import Registry

OBJECTIVES: Registry[type[Objective]] = Registry("objective")


@dataclass
class ObjectiveOutput:
    loss: torch.Tensor  # scalar the optimiser minimises
    recon: torch.Tensor  # [B] reconstruction loss −log p(x|z), nats
    kl: torch.Tensor  # [B] KL(q(z|x) ‖ p(z)) (analytic or single-sample MC), nats

    @property
    def elbo(self) -> torch.Tensor:
        """The true ELBO per image [B] = log p(x|z) − KL (β = 1)."""
        return -(self.recon + self.kl)


def kl_term(model: VAE, q: DiagonalGaussian, z: torch.Tensor) -> torch.Tensor:
    """KL(q ‖ p) per image: analytic if the prior has it, else the single-sample Monte
    Carlo estimate log q(z|x) − log p(z) at the z used for the reconstruction."""
    analytic = model.prior.kl(q)
    if analytic is not None:
        return analytic
    return q.log_prob(z) - model.prior.log_prob(z)


class Objective:
    def __init__(self, cfg: ObjectiveConfig):
        self.cfg = cfg

    def __call__(self, model: VAE, x: torch.Tensor, step: int,
                 generator: torch.Generator | None = None) -> ObjectiveOutput:
        """``generator`` makes the posterior samples reproducible (evaluation); training
        passes None and draws from the seeded global generator."""
        raise NotImplementedError


@OBJECTIVES.register("elbo")
class ELBO(Objective):
    """β-weighted negative ELBO (Kingma & Welling 2014 eq. 3; Higgins et al. 2017):
    loss = mean_B[ −log p(x|z) + β·KL(q(z|x) ‖ p(z)) ], z ~ q(z|x) reparameterised."""

    def __call__(self, model: VAE, x: torch.Tensor, step: int,
                 generator: torch.Generator | None = None) -> ObjectiveOutput:
        q = model.posterior(x)
        z = q.rsample(generator=generator)
        recon = -model.likelihood.log_prob(x, model.decoder_params(z))
        kl = kl_term(model, q, z)
        loss = (recon + self.cfg.beta * kl).mean()
        return ObjectiveOutput(loss=loss, recon=recon, kl=kl)


def build_objective(cfg: ObjectiveConfig) -> Objective:
    return OBJECTIVES.get(cfg.name)(cfg)
