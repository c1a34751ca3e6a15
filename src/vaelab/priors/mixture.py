"""Learnable mixture-of-Gaussians prior."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vaelab.options import option
from vaelab.posterior import LOG_2PI
from vaelab.priors.base import PRIORS, Prior


@PRIORS.register("mog")
class MixtureOfGaussians(Prior):
    """p(z) = Σ_k π_k N(z; μ_k, diag σ_k²) with K = --prior-components learnable
    components (means, log-std and mixing logits are trained with the model). It does not
    factorise over dimensions and has no closed-form KL: Monte Carlo KL."""

    @dataclass
    class Options:
        components: int = option(10, "Number of mixture components / pseudo-inputs.", low=1)

    examples = [{}, {"components": 3}]

    def __init__(self, cfg, latent_dim: int):
        super().__init__(cfg, latent_dim)
        k = cfg.components
        # Spread the initial means like draws from N(0, I) so components start distinct;
        # a fixed generator keeps initialisation independent of the model's RNG use.
        generator = torch.Generator().manual_seed(0)
        self.means = nn.Parameter(torch.randn(k, latent_dim, generator=generator))
        self.log_stds = nn.Parameter(torch.zeros(k, latent_dim))
        self.logits = nn.Parameter(torch.zeros(k))

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        # z [..., B, Z] → per component [..., B, K], then log-sum-exp over K.
        diff = (z.unsqueeze(-2) - self.means) * torch.exp(-self.log_stds)
        per_component = -0.5 * (diff**2 + LOG_2PI).sum(-1) - self.log_stds.sum(-1)
        log_weights = torch.log_softmax(self.logits, dim=0)
        return torch.logsumexp(per_component + log_weights, dim=-1)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        weights = torch.softmax(self.logits.detach(), dim=0)
        component = torch.multinomial(weights, n, replacement=True, generator=generator)
        noise = self._randn((n, self.latent_dim), generator)
        return self.means[component] + torch.exp(self.log_stds[component]) * noise

    @classmethod
    def describe_config(cls, cfg) -> str:
        return f"mixture of {cfg.components} Gaussians"
