"""The objective interface: ``objective(model, x, step) -> ObjectiveOutput``.

The objective averages over the batch (the one place that does, DESIGN rule 2). Every
objective also returns the reconstruction and KL terms of the true ELBO (β = 1, no free
bits, no warm-up) of the same samples, so the logged, compared number never depends on
the training trick (rule 3). Schedules are pure functions of the explicit step (rule 4).
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import nn

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
    # Named extra terms of the training loss, each [B] (per image) or a scalar (one value
    # per batch); the loop averages each over the epoch into history's train_<name>.
    # None (nothing built per step) for an objective without such terms.
    terms: Mapping[str, torch.Tensor] | None = None

    @property
    def elbo(self) -> torch.Tensor:
        """The true ELBO per image [B] = log p(x|z) − KL (β = 1)."""
        return -(self.recon + self.kl)


@dataclass
class Auxiliary:
    """A network that an objective trains beside the model with an optimiser of its own
    (FactorVAE's discriminator). The training loop steps it through the objective's
    ``step_auxiliaries`` and saves its weights and optimiser state with the model's
    (model.safetensors, best.safetensors and resume.safetensors), so that --resume
    restores it bit for bit."""

    module: nn.Module
    optimizer: torch.optim.Optimizer


class Objective:
    """Base class. ``steps_per_epoch`` lets schedules given in epochs become steps;
    ``train_size`` is the number of training images N (None outside training: an
    estimator that needs N then treats the batch as the data set).
    A subclass declares ``Options`` (its own [objective] keys and flags: an option it
    does not declare is refused, never silently ignored), ``describe_config`` and
    ``examples`` (option sets the shared contract tests train it with)."""

    Options = NoOptions
    examples: list[dict] = [{}]
    # False for objectives that are not variational (the plain autoencoder): evaluation
    # then reports its reconstruction error instead of an ELBO. An objective whose answer
    # depends on its options overrides ``variational(cfg)``; an instance's
    # ``is_variational`` is always that answer for its own options.
    is_variational: bool = True
    # True when the loss is mean_B[recon + kl_weight(step)·KL]: then M models stacked in
    # one batch (vaelab.batched) each get exactly their own gradient from the stacked
    # loss, and ``per_model_options`` (those that only set kl_weight) may differ in a
    # batch.
    stackable: bool = False
    per_model_options: tuple[str, ...] = ()
    # True when a training step is a pure tensor function of (model, x, kl_weight): no
    # read back to the host, no use of ``step`` beyond ``kl_weight(step)``, no networks
    # of its own. Then stepper.py may capture the step in a CUDA graph.
    graph_safe: bool = False

    def __init__(self, cfg, steps_per_epoch: int = 1, train_size: int | None = None):
        self.cfg = cfg
        self.steps_per_epoch = steps_per_epoch
        self.train_size = train_size
        self.is_variational = self.variational(cfg)

    @classmethod
    def variational(cls, cfg) -> bool:
        """Whether a model trained with these options has a posterior density q(z|x), so
        that its true ELBO is defined and is what evaluation reports (the one rule that
        evaluation, history and figures follow). False: the encoder is deterministic
        and its numbers are reconstruction errors, as the autoencoder's."""
        return cls.is_variational

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

    def after_step(self, model, x: torch.Tensor, step: int) -> None:
        """After the optimiser step ``step`` on batch ``x`` (no gradients): update state
        that is no gradient step (the VQ-VAE's EMA codebook, objectives/vq.py). Keeping it
        out of ``__call__`` keeps the loss a pure function of the model and batch."""

    # -- networks an objective trains itself (FactorVAE's discriminator) -----------------
    def attach(self, model) -> None:
        """Build the auxiliary networks and optimisers this objective trains beside
        ``model`` (on its device; initialised from the global generator, so a seeded run
        repeats). The training loop calls it once before the first step."""

    @property
    def auxiliaries(self) -> dict[str, Auxiliary]:
        """The attached auxiliary networks by name (what the loop saves and restores);
        none for most objectives. An objective with auxiliaries cannot be stacked."""
        return {}

    def step_auxiliaries(self, model, x: torch.Tensor, step: int,
                         draw_batch: Callable[[], torch.Tensor]) -> None:
        """One update of the auxiliaries after the model's optimiser step on batch ``x``
        (their own forward, backward and optimiser step). ``draw_batch()`` returns a
        fresh training batch of the same size, independent of ``x``."""

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
    """KL(q ‖ p) per image [..., B]: analytic if the prior has it (per layer, at the
    sampled upper layers, for a hierarchical prior), else the single-sample Monte Carlo
    estimate log q(z|x) − log p(z) at the z used for the reconstruction."""
    analytic = analytic_kl(model, q)
    if analytic is None:  # a hierarchical model's closed forms per layer (models/ladder.py)
        analytic = model.prior.kl_given_sample(q, z)
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


def require_diagonal_posterior(model, what: str) -> None:
    """Fail before training when ``what`` reads the diagonal Gaussian's own parameters
    (means and log-variances), which other posteriors do not have."""
    if not model.posterior_family.diagonal:
        raise VaelabError(f"{what} reads the diagonal Gaussian posterior's means and "
                          f"variances, but the {model.config.posterior.name} posterior has "
                          "none; use --posterior gaussian")


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
