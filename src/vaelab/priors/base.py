"""The prior interface and its registry.

``log_prob(z) -> [..., B]`` in nats summed over latent dimensions, ``sample(n)``, and
``kl(q)``: the analytic KL(q(z|x) ‖ p(z)) per image [B], or None when there is none (the
objective then uses the single-sample Monte Carlo estimate log q(z|x) − log p(z)).
A prior that factorises over dimensions also answers ``log_prob_per_dim(z)`` (needed by
free bits and the per-dimension collapse diagnostics); one that does not returns None.
"""

from __future__ import annotations

import torch
from torch import nn

from vaelab.concepts import PRIORS
from vaelab.options import NoOptions
from vaelab.posterior import DiagonalGaussian


class Prior(nn.Module):
    """Base class. A subclass declares ``Options`` (its own config fields, turned into
    [prior] keys and --prior-* flags), ``describe_config`` and ``examples`` (option sets
    the shared contract tests run it over)."""

    Options = NoOptions
    examples: list[dict] = [{}]

    def __init__(self, cfg, latent_dim: int):
        super().__init__()
        self.cfg = cfg
        self.latent_dim = latent_dim
        # A buffer only so that the prior knows the model's device and dtype.
        self.register_buffer("_anchor", torch.zeros(()), persistent=False)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        raise NotImplementedError

    def kl(self, q: DiagonalGaussian) -> torch.Tensor | None:
        """Analytic KL(q ‖ p) per image [B], or None."""
        return None

    def kl_given_sample(self, q, z: torch.Tensor) -> torch.Tensor | None:
        """A hierarchical prior's KL(q ‖ p) per image [B] with closed forms per layer at
        the sample z that q drew (vaelab/models/ladder.py), or None."""
        return None

    def kl_layers(self, q, z: torch.Tensor) -> dict[str, torch.Tensor] | None:
        """That KL per stochastic layer by name, [B] each (logged by the ELBO), or None."""
        return None

    def kl_per_dim(self, q: DiagonalGaussian) -> torch.Tensor | None:
        """Analytic KL per latent dimension [B, Z], or None."""
        return None

    def log_prob_per_dim(self, z: torch.Tensor) -> torch.Tensor | None:
        """log p(z_j) per dimension [..., B, Z] for a factorising prior, else None."""
        return None

    def icdf(self, probs: torch.Tensor) -> torch.Tensor | None:
        """Per-dimension quantiles of a factorising prior (probs [..., Z] in (0,1)), else
        None (figures then use empirical quantiles)."""
        return None

    def bind(self, model: nn.Module) -> None:
        """Called once the model is built; priors that use the encoder (VampPrior) keep a
        reference here."""

    @classmethod
    def describe_config(cls, cfg) -> str:
        """One line naming this prior with its settings, from its config section."""
        return cfg.name

    def describe(self) -> str:
        return self.describe_config(self.cfg)

    @property
    def device(self) -> torch.device:
        return self._anchor.device

    def _randn(self, shape: tuple[int, ...], generator: torch.Generator | None
               ) -> torch.Tensor:
        return torch.randn(shape, generator=generator, device=self.device,
                           dtype=self._anchor.dtype)


__all__ = ["PRIORS", "Prior"]
