"""The objective interface: ``objective(model, x, step) -> ObjectiveOutput``.

The objective averages over the batch (the one place that does, DESIGN rule 2). Every
objective also returns the reconstruction and KL terms of the true ELBO (β = 1, no free
bits, no warm-up) of the same samples, so the logged, compared number never depends on
the training trick (rule 3). Schedules are pure functions of the explicit step (rule 4).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vaelab.config import ObjectiveConfig
from vaelab.errors import VaelabError
from vaelab.posterior import DiagonalGaussian
from vaelab.registry import Registry


@dataclass
class ObjectiveOutput:
    loss: torch.Tensor  # scalar the optimiser minimises
    recon: torch.Tensor  # [B] reconstruction loss −log p(x|z), nats
    kl: torch.Tensor  # [B] KL(q(z|x) ‖ p(z)) (analytic or single-sample MC), nats
    kl_weight: float = 1.0  # the β·schedule factor this step's loss used

    @property
    def elbo(self) -> torch.Tensor:
        """The true ELBO per image [B] = log p(x|z) − KL (β = 1)."""
        return -(self.recon + self.kl)


class Objective:
    """Base class. ``steps_per_epoch`` lets schedules given in epochs become steps."""

    # False for objectives that are not variational (the plain autoencoder): evaluation
    # then reports its reconstruction error instead of an ELBO.
    is_variational: bool = True

    def __init__(self, cfg: ObjectiveConfig, steps_per_epoch: int = 1):
        self.cfg = cfg
        self.steps_per_epoch = steps_per_epoch

    def __call__(self, model, x: torch.Tensor, step: int,
                 generator: torch.Generator | None = None,
                 kl_weight: float | torch.Tensor | None = None) -> ObjectiveOutput:
        """``generator`` makes the posterior samples reproducible (evaluation); training
        passes None and draws from the seeded global generator. ``kl_weight`` replaces
        ``self.kl_weight(step)`` (the regulariser-weight hook, after disentanglement_lib):
        a stack of M models passes one weight per model as an [M, 1] tensor."""
        raise NotImplementedError

    def kl_weight(self, step: int) -> float:
        """The weight of the KL (regulariser) term at ``step``; 1 unless the objective
        schedules it."""
        return 1.0

    def check(self, model) -> None:
        """Raise a VaelabError if this objective cannot train ``model`` (called before
        anything is written)."""

    def describe(self) -> str:
        return self.cfg.name


OBJECTIVES: Registry[type[Objective]] = Registry("objective")


def kl_term(model, q: DiagonalGaussian, z: torch.Tensor) -> torch.Tensor:
    """KL(q ‖ p) per image [..., B]: analytic if the prior has it, else the single-sample
    Monte Carlo estimate log q(z|x) − log p(z) at the z used for the reconstruction."""
    analytic = model.prior.kl(q)
    if analytic is not None:
        return analytic
    return q.log_prob(z) - model.prior.log_prob(z)


def kl_per_dim(model, q: DiagonalGaussian, z: torch.Tensor) -> torch.Tensor | None:
    """KL per latent dimension [B, Z]: analytic, or single-sample Monte Carlo for a prior
    that factorises; None when the prior does not factorise (mixtures, VampPrior)."""
    analytic = model.prior.kl_per_dim(q)
    if analytic is not None:
        return analytic
    log_p = model.prior.log_prob_per_dim(z)
    if log_p is None:
        return None
    return q.log_prob_per_dim(z) - log_p


def require_per_dim_kl(model, what: str) -> None:
    """Fail before training when ``what`` (free bits) needs a per-dimension KL that the
    model's prior cannot give."""
    zeros = torch.zeros(1, model.latent_dim, device=model.prior.device)
    with torch.no_grad():
        if kl_per_dim(model, DiagonalGaussian(zeros, zeros), zeros) is None:
            raise VaelabError(f"{what} needs a KL per latent dimension, but the "
                              f"{model.config.prior.name} prior does not factorise over "
                              "dimensions; use --prior normal or laplace, or drop it")
