"""The factorised Laplace prior."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from vaelab.options import option
from vaelab.priors.base import PRIORS, Prior


@PRIORS.register("laplace")
class Laplace(Prior):
    """p(z) = Π_j Laplace(z_j; m, b), m = --prior-mean, b = --prior-scale. KL against the
    Gaussian posterior has no closed form here: the objective uses Monte Carlo."""

    @dataclass
    class Options:
        mean: float = option(0.0, "Location of the prior in every dimension.")
        scale: float = option(1.0, "Scale of the prior in every dimension.", low=0.0,
                              low_open=True)

    examples = [{}, {"mean": -0.5, "scale": 2.0}]

    def __init__(self, cfg, latent_dim: int):
        super().__init__(cfg, latent_dim)
        self.loc = cfg.mean
        self.scale = cfg.scale
        self._log_2b = math.log(2 * cfg.scale)

    def log_prob_per_dim(self, z: torch.Tensor) -> torch.Tensor:
        return -(z - self.loc).abs() / self.scale - self._log_2b

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return self.log_prob_per_dim(z).sum(-1)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        # Inverse CDF: m − b·sign(u)·log(1 − 2|u|), u ~ U(−½, ½).
        u = torch.rand((n, self.latent_dim), generator=generator, device=self.device) - 0.5
        return self.loc - self.scale * torch.sign(u) * torch.log1p(
            -2 * u.abs().clamp(max=0.5 - 1e-7))

    def icdf(self, probs: torch.Tensor) -> torch.Tensor:
        centred = probs - 0.5
        return self.loc - self.scale * torch.sign(centred) * torch.log1p(-2 * centred.abs())

    @classmethod
    def describe_config(cls, cfg) -> str:
        return f"laplace(loc {cfg.mean:g}, scale {cfg.scale:g})"
