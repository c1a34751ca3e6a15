"""Priors p(z).

``log_prob(z) -> [..., B]`` in nats summed over latent dimensions, ``sample(n)``, and
``kl(q)``: the analytic KL(q(z|x) ‖ p(z)) per image [B], or None when there is none (the
objective then uses the Monte Carlo estimate log q(z|x) − log p(z)).
"""

from __future__ import annotations

import torch
from torch import nn

from vaelab.config import PriorConfig
from vaelab.posterior import LOG_2PI, DiagonalGaussian
from vaelab.registry import Registry

PRIORS: Registry[type[Prior]] = Registry("prior")


class Prior(nn.Module):
    def __init__(self, cfg: PriorConfig, latent_dim: int):
        super().__init__()
        self.cfg = cfg
        self.latent_dim = latent_dim

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        raise NotImplementedError

    def kl(self, q: DiagonalGaussian) -> torch.Tensor | None:
        return None

    def _device(self) -> torch.device:
        for tensor in [*self.parameters(), *self.buffers()]:
            return tensor.device
        return torch.device("cpu")


@PRIORS.register("normal")
class StandardNormal(Prior):
    """p(z) = N(0, I)."""

    def __init__(self, cfg: PriorConfig, latent_dim: int):
        super().__init__(cfg, latent_dim)
        # A buffer only to follow the model's device.
        self.register_buffer("_anchor", torch.zeros(()), persistent=False)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return -0.5 * (z**2 + LOG_2PI).sum(-1)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn((n, self.latent_dim), generator=generator, device=self._device())

    def kl(self, q: DiagonalGaussian) -> torch.Tensor:
        """KL(N(μ,σ²) ‖ N(0,1)) = ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²)
        (Kingma & Welling 2014, App. B)."""
        return self.kl_per_dim(q).sum(-1)

    def kl_per_dim(self, q: DiagonalGaussian) -> torch.Tensor:
        return 0.5 * (q.mean**2 + torch.exp(q.logvar) - 1.0 - q.logvar)


def build_prior(cfg: PriorConfig, latent_dim: int) -> Prior:
    return PRIORS.get(cfg.name)(cfg, latent_dim)

