"""The diagonal Gaussian prior N(m, s²·I) — N(0, I) by default."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from vaelab.options import option
from vaelab.posterior import LOG_2PI, DiagonalGaussian
from vaelab.priors.base import PRIORS, Prior


@PRIORS.register("normal")
class Normal(Prior):
    """p(z) = N(m, s²) in every dimension, m = --prior-mean, s = --prior-std (a standard
    deviation, not a variance: the "N(1, 2)" study is --prior-mean 1 --prior-std 2)."""

    @dataclass
    class Options:
        mean: float = option(0.0, "Location of the prior in every dimension.")
        std: float = option(1.0, "Standard deviation (not variance) of the normal prior: "
                            "N(1, 2) is --prior-mean 1 --prior-std 2.", low=0.0, low_open=True)

    examples = [{}, {"mean": 1.0, "std": 2.0}]

    def __init__(self, cfg, latent_dim: int):
        super().__init__(cfg, latent_dim)
        self.loc = cfg.mean
        self.scale = cfg.std
        self._log_scale = math.log(cfg.std)

    def log_prob_per_dim(self, z: torch.Tensor) -> torch.Tensor:
        return -0.5 * ((z - self.loc) / self.scale) ** 2 - self._log_scale - 0.5 * LOG_2PI

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return self.log_prob_per_dim(z).sum(-1)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.loc + self.scale * self._randn((n, self.latent_dim), generator)

    def kl_per_dim(self, q: DiagonalGaussian) -> torch.Tensor:
        """KL(N(μ, σ²) ‖ N(m, s²)) = log(s/σ) + (σ² + (μ − m)²)/(2s²) − ½ per dimension
        (Kingma & Welling 2014, App. B, for m = 0, s = 1)."""
        variance_ratio = torch.exp(q.logvar) / self.scale**2
        return 0.5 * (variance_ratio + (q.mean - self.loc) ** 2 / self.scale**2 - 1.0
                      - torch.log(variance_ratio))

    def kl(self, q: DiagonalGaussian) -> torch.Tensor:
        return self.kl_per_dim(q).sum(-1)

    def icdf(self, probs: torch.Tensor) -> torch.Tensor:
        return self.loc + self.scale * torch.special.ndtri(probs)

    @classmethod
    def describe_config(cls, cfg) -> str:
        return f"normal N({cfg.mean:g}, {cfg.std:g}²)"
