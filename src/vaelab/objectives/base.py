"""The objective interface: ``objective(model, x, step) -> ObjectiveOutput``.

The objective averages over the batch (the one place that does, DESIGN rule 2). Every
objective also returns the reconstruction and KL terms of the true ELBO (β = 1, no free
bits, no warm-up) of the same samples, so the logged, compared number never depends on
the training trick (rule 3). Schedules are pure functions of the explicit step (rule 4).
"""

from __future__ import annotations

import dataclasses
import types
from dataclasses import dataclass

import torch

from vaelab.concepts import OBJECTIVES  # noqa: F401  (re-exported: components register here)
from vaelab.errors import VaelabError
from vaelab.options import NoOptions
from vaelab.posterior import DiagonalGaussian, diagonal_gaussian


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
    """Base class. ``steps_per_epoch`` lets schedules given in epochs become steps.
    A subclass declares ``Options`` (its own [objective] keys and flags: an option it
    does not declare is refused, never silently ignored), ``describe_config`` and
    ``examples`` (option sets the shared contract tests train it with)."""

    Options = NoOptions
    examples: list[dict] = [{}]
    # False for objectives that are not variational (the plain autoencoder): evaluation
    # then reports its reconstruction error instead of an ELBO.
    is_variational: bool = True
    # True when the loss is mean_B[recon + kl_weight(step)·KL]: then M models stacked in
    # one batch (vaelab.batched) each get exactly their own gradient from the stacked
    # loss, and ``per_model_options`` (those that only set kl_weight) may differ in a
    # batch.
    stackable: bool = False
    per_model_options: tuple[str, ...] = ()

    def __init__(self, cfg, steps_per_epoch: int = 1):
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

    @classmethod
    def describe_config(cls, cfg) -> str:
        """One line naming the objective with its settings, from its config section."""
        return cfg.name

    def describe(self) -> str:
        return self.describe_config(self.cfg)

    @classmethod
    def batching_obstacle(cls, cfg) -> str | None:
        """Why a run with this objective cannot be trained in a stack, or None."""
        if not cls.stackable:
            return (f"--objective {cfg.name}: a model's own loss cannot be read back from "
                    "the stacked one")
        return None

    @classmethod
    def with_defaults(cls, name: str, steps_per_epoch: int = 1) -> Objective:
        """This objective with its default options (no config needed)."""
        cfg = types.SimpleNamespace(name=name, **dataclasses.asdict(cls.Options()))
        return cls(cfg, steps_per_epoch)


def analytic_kl(model, q) -> torch.Tensor | None:
    """The prior's closed-form KL(q ‖ p) per image [B], or None: none exists for a
    posterior that is not a diagonal Gaussian (vaelab.posterior.diagonal_gaussian)."""
    diagonal = diagonal_gaussian(q)
    return model.prior.kl(diagonal) if diagonal is not None else None


def kl_term(model, q, z: torch.Tensor) -> torch.Tensor:
    """KL(q ‖ p) per image [..., B]: analytic if the prior has it, else the single-sample
    Monte Carlo estimate log q(z|x) − log p(z) at the z used for the reconstruction."""
    analytic = analytic_kl(model, q)
    if analytic is not None:
        return analytic
    return q.log_prob(z) - model.prior.log_prob(z)


def kl_per_dim(model, q, z: torch.Tensor) -> torch.Tensor | None:
    """KL per latent dimension [B, Z]: analytic, or single-sample Monte Carlo for a prior
    that factorises; None when the prior does not factorise (mixtures, VampPrior) or the
    posterior is not a diagonal Gaussian (its dimensions are not independent)."""
    q = diagonal_gaussian(q)
    if q is None:
        return None
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
    if not model.posterior_family.diagonal:
        raise VaelabError(f"{what} needs a KL per latent dimension, but the "
                          f"{model.config.posterior.name} posterior's dimensions are not "
                          "independent; use --posterior gaussian, or drop it")
    zeros = torch.zeros(1, model.latent_dim, device=model.prior.device)
    with torch.no_grad():
        if kl_per_dim(model, DiagonalGaussian(zeros, zeros), zeros) is None:
            raise VaelabError(f"{what} needs a KL per latent dimension, but the "
                              f"{model.config.prior.name} prior does not factorise over "
                              "dimensions; use --prior normal or laplace, or drop it")
