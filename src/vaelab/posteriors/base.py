"""The posterior interface and its registry.

A registered posterior is a family (an ``nn.Module``: IAF's autoregressive networks are
free parameters; the others have none) that the model builds once. It says how many raw
numbers per image the encoder must output (``raw_size``) and turns them into q(z|x) for
the batch (``forward(raw [B, raw_size])``). Every q answers ``rsample(k)`` ([k, B, Z], or
[B, Z] without k), ``rsample_with_log_prob(k)``, ``log_prob(z)`` (the exact log-density,
log-determinants included, [..., B]) and ``mean`` (the point code [B, Z]).

Closed forms (analytic KL, per-dimension KL, the VampPrior's components) apply only where
``vaelab.posterior.diagonal_gaussian(q)`` is not None; ``diagonal`` says so in advance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import nn

from vaelab.concepts import POSTERIORS
from vaelab.options import NoOptions, option
from vaelab.posterior import DiagonalGaussian


class PosteriorFamily(nn.Module):
    """Base class. A subclass declares ``Options``, ``describe_config``, ``examples`` and
    ``diagonal`` (True only for the diagonal Gaussian)."""

    Options = NoOptions
    examples: list[dict] = [{}]
    diagonal = False

    def __init__(self, cfg, latent_dim: int):
        super().__init__()
        self.cfg = cfg
        self.latent_dim = latent_dim

    @property
    def raw_size(self) -> int:
        """Encoder outputs per image."""
        raise NotImplementedError

    def forward(self, raw: torch.Tensor):
        raise NotImplementedError

    @classmethod
    def describe_config(cls, cfg) -> str:
        return cfg.name

    def describe(self) -> str:
        return self.describe_config(self.cfg)


@dataclass
class FlowOptions:
    flow_length: int = option(4, "Number K of flow steps of the planar, radial or iaf "
                              "posterior.", low=1)


class FlowStep(Protocol):
    """One invertible map of a normalising flow, with parameters for the batch [B, ...]
    broadcast over any leading sample dimension of z [..., B, Z]."""

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(f(z) [..., B, Z], log|det ∂f/∂z| [..., B])."""

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """f⁻¹(y) [..., B, Z]."""


class FlowPosterior:
    """q_K(z_K|x) for z_K = f_K ∘ … ∘ f_1(z_0), z_0 ~ N(μ, diag σ²):
    log q_K(z_K) = log q_0(z_0) − Σ_k log|det ∂f_k/∂z_{k−1}| (Rezende & Mohamed 2015,
    eq. 7). ``log_prob`` of the samples this q drew returns the log-density computed along
    their own path (exact, and differentiable in every parameter); of any other z it
    inverts the steps first (used by evaluation and the tests, not by training)."""

    def __init__(self, base: DiagonalGaussian, steps: Sequence[FlowStep]):
        self.base = base
        self.steps = list(steps)
        self._drawn: tuple[torch.Tensor, torch.Tensor] | None = None
        self._mean: torch.Tensor | None = None

    @property
    def mean(self) -> torch.Tensor:
        """The point code [B, Z]: the flow applied to the base mean μ (the code the
        reconstructions and fitted samplers use; not E_q[z], which has no closed form)."""
        if self._mean is None:
            self._mean = self.push(self.base.mean)[0]
        return self._mean

    def push(self, z0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(z_K, Σ_k log|det|) for base points z0 [..., B, Z]."""
        z = z0
        log_det = torch.zeros(z0.shape[:-1], dtype=z0.dtype, device=z0.device)
        for step in self.steps:
            z, step_log_det = step.forward(z)
            log_det = log_det + step_log_det
        return z, log_det

    def rsample_with_log_prob(self, k: int | None = None,
                              generator: torch.Generator | None = None
                              ) -> tuple[torch.Tensor, torch.Tensor]:
        z0 = self.base.rsample(k, generator=generator)
        z, log_det = self.push(z0)
        return z, self.base.log_prob(z0) - log_det

    def rsample(self, k: int | None = None, generator: torch.Generator | None = None
                ) -> torch.Tensor:
        z, log_q = self.rsample_with_log_prob(k, generator=generator)
        self._drawn = (z, log_q)
        return z

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        """z_0 = f_1⁻¹ ∘ … ∘ f_K⁻¹(z)."""
        for step in reversed(self.steps):
            z = step.inverse(z)
        return z

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        if self._drawn is not None and z is self._drawn[0]:
            return self._drawn[1]
        z0 = self.inverse(z)
        return self.base.log_prob(z0) - self.push(z0)[1]


def split_base(raw: torch.Tensor, latent_dim: int) -> tuple[DiagonalGaussian, torch.Tensor]:
    """The base N(μ, diag σ²) from the first 2Z raw numbers and the rest [B, R]."""
    base = DiagonalGaussian.from_raw(raw[..., :2 * latent_dim])
    return base, raw[..., 2 * latent_dim:]


__all__ = ["POSTERIORS", "FlowOptions", "FlowPosterior", "PosteriorFamily", "split_base"]
