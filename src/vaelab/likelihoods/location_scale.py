"""Gaussian and Laplace pixels, with a fixed scale or a learned one.

The location is μ = sigmoid(decoder output), keeping means in the [0, 1] pixel range
(the decoders of the seed studies ended in a sigmoid). Values include the normalising
constants, so they are true nats, not bare MSE/MAE:
  Gaussian: −log p = ‖x−μ‖²/(2σ²) + D·(log σ + ½ log 2π)
  Laplace:  −log p = ‖x−μ‖₁/b + D·log(2b)
A learned scale is either per pixel (the decoder outputs a second value per pixel) or
one shared scalar parameter (the layout whose parameter counts one seed study tabulated:
MLP weights + 1). Either way it passes through a bounded map into
[--sigma-min, --sigma-max], so it can neither collapse to 0 (an unbounded density on
constant background pixels) nor explode (the failure one seed study saw with batch 16).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from vaelab.errors import VaelabError
from vaelab.likelihoods.base import LIKELIHOODS, Likelihood
from vaelab.options import option

LOG_2PI = math.log(2 * math.pi)


class LocationScale(Likelihood):
    """Shared machinery; subclasses give the family (``_log_density``, ``_noise``) and
    whether the scale is learned."""

    learned: bool = False

    def __init__(self, cfg, data_dim: int):
        super().__init__(cfg, data_dim)
        if self.learned and cfg.sigma_min >= cfg.sigma_max:
            raise VaelabError(f"--sigma-min {cfg.sigma_min:g} must be below --sigma-max "
                              f"{cfg.sigma_max:g}")
        self.shared = self.learned and cfg.learned_scale == "shared"
        if self.learned and not self.shared:
            self.params_per_pixel = 2
        if self.shared:
            # Starts at the middle of the allowed range (sigmoid(0) = ½).
            self.raw_scale = nn.Parameter(torch.zeros(()))

    def split(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(location, scale), each [..., B, D]."""
        if not self.learned:
            location = torch.sigmoid(params)
            return location, torch.full_like(location, self.cfg.sigma)
        if self.shared:
            location = torch.sigmoid(params)
            return location, self._bounded(self.raw_scale).expand_as(location)
        raw_location, raw_scale = params.chunk(2, dim=-1)
        return torch.sigmoid(raw_location), self._bounded(raw_scale)

    def _bounded(self, raw: torch.Tensor) -> torch.Tensor:
        low, high = self.cfg.sigma_min, self.cfg.sigma_max
        return low + (high - low) * torch.sigmoid(raw)

    def log_prob(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        location, scale = self.split(params)
        return self._log_density(x, location, scale).sum(-1)

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        return self.split(params)[0]

    def sample(self, params: torch.Tensor, generator: torch.Generator | None = None
               ) -> torch.Tensor:
        location, scale = self.split(params)
        return location + scale * self._noise(location, generator)

    @classmethod
    def describe_config(cls, cfg) -> str:
        if not cls.learned:
            return f"{cfg.name} (fixed scale {cfg.sigma:g})"
        return (f"{cfg.name} ({cfg.learned_scale} learned scale in "
                f"[{cfg.sigma_min:g}, {cfg.sigma_max:g}])")

    def _log_density(self, x: torch.Tensor, location: torch.Tensor, scale: torch.Tensor
                     ) -> torch.Tensor:
        raise NotImplementedError

    def _noise(self, like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        raise NotImplementedError


@dataclass
class FixedScale:
    sigma: float = option(
        0.7071067811865476, "Fixed scale of the likelihood: std σ of the gaussian, scale b of "
        "the laplace. The default σ = 1/√2 makes the gaussian −log p = Σ(x−μ)² + const, "
        "i.e. the summed MSE.", low=0.0, low_open=True)


@dataclass
class LearnedScale:
    learned_scale: str = option(
        "per-pixel", "A scale per pixel (output by the decoder) or one shared learned "
        "scalar.", choices=lambda: ["per-pixel", "shared"])
    sigma_min: float = option(0.01, "Lower bound of the learned scale.", low=0.0,
                              low_open=True)
    sigma_max: float = option(10.0, "Upper bound of the learned scale.", low=0.0,
                              low_open=True)


class GaussianFamily(LocationScale):
    def _log_density(self, x, location, scale):
        return -0.5 * ((x - location) / scale) ** 2 - torch.log(scale) - 0.5 * LOG_2PI

    def _noise(self, like, generator):
        return torch.randn(like.shape, generator=generator, device=like.device,
                           dtype=like.dtype)


class LaplaceFamily(LocationScale):
    def _log_density(self, x, location, scale):
        return -(x - location).abs() / scale - torch.log(2 * scale)

    def _noise(self, like, generator):
        # Inverse CDF of the standard Laplace: −sign(u)·log(1 − 2|u|), u ~ U(−½, ½).
        u = torch.rand(like.shape, generator=generator, device=like.device,
                       dtype=like.dtype) - 0.5
        return -torch.sign(u) * torch.log1p(-2 * u.abs().clamp(max=0.5 - 1e-7))


@LIKELIHOODS.register("gaussian")
class Gaussian(GaussianFamily):
    """Fixed σ = --sigma. The default σ = 1/√2 makes −log p = Σ(x−μ)² + const: the summed
    MSE the seed studies trained with, in nats."""

    Options = FixedScale
    examples = [{}, {"sigma": 0.1}]


@LIKELIHOODS.register("gaussian-learned")
class GaussianLearned(GaussianFamily):
    """σ learned per pixel or shared (--learned-scale), bounded to [--sigma-min,
    --sigma-max]."""

    Options = LearnedScale
    examples = [{}, {"learned_scale": "shared", "sigma_min": 0.05, "sigma_max": 2.0}]
    learned = True


@LIKELIHOODS.register("laplace")
class Laplace(LaplaceFamily):
    """Fixed scale b = --sigma: −log p = Σ|x−μ|/b + const, the MAE analogue."""

    Options = FixedScale
    examples = [{}, {"sigma": 1.0}]


@LIKELIHOODS.register("laplace-learned")
class LaplaceLearned(LaplaceFamily):
    """Scale b learned per pixel or shared (--learned-scale), bounded like gaussian-learned.
    """

    Options = LearnedScale
    examples = [{}, {"learned_scale": "shared"}]
    learned = True
