"""The diagonal Gaussian posterior q(z|x) = N(μ, diag σ²) (Kingma & Welling 2014, §3),
the default of the posterior registry (vaelab/posteriors/), and the rule that says where
its closed forms apply."""

from __future__ import annotations

import math

import torch

LOG_2PI = math.log(2 * math.pi)


class DiagonalGaussian:
    """q(z|x) for a batch. ``mean``, ``logvar``: [B, Z]."""

    def __init__(self, mean: torch.Tensor, logvar: torch.Tensor):
        self.mean = mean
        self.logvar = logvar

    @classmethod
    def from_raw(cls, raw: torch.Tensor) -> DiagonalGaussian:
        """Split an encoder output [B, 2Z] into mean and log-variance."""
        mean, logvar = raw.chunk(2, dim=-1)
        return cls(mean, logvar)

    @property
    def std(self) -> torch.Tensor:
        return torch.exp(0.5 * self.logvar)

    def rsample(self, k: int | None = None, generator: torch.Generator | None = None
                ) -> torch.Tensor:
        """Reparameterised sample z = μ + σ·ε (the reparameterisation trick):
        [B, Z] when k is None, else [k, B, Z]."""
        shape = self.mean.shape if k is None else (k, *self.mean.shape)
        eps = torch.randn(shape, generator=generator, device=self.mean.device,
                          dtype=self.mean.dtype)
        return self.mean + self.std * eps

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log q(z|x) summed over latent dimensions, in nats: [..., B]."""
        return -0.5 * (((z - self.mean) ** 2) * torch.exp(-self.logvar)
                       + self.logvar + LOG_2PI).sum(-1)

    def log_prob_per_dim(self, z: torch.Tensor) -> torch.Tensor:
        """log q(z_j|x) per latent dimension, [..., B, Z]."""
        return -0.5 * (((z - self.mean) ** 2) * torch.exp(-self.logvar) + self.logvar + LOG_2PI)

    def log_prob_each(self, z: torch.Tensor) -> torch.Tensor:
        """Every z [..., Z] under every one of these K Gaussians (mean [K, Z]): [..., K].
        Used for mixtures such as the VampPrior, whose components are posteriors."""
        diff = z.unsqueeze(-2) - self.mean  # [..., K, Z]
        return -0.5 * (diff**2 * torch.exp(-self.logvar) + self.logvar + LOG_2PI).sum(-1)

    def detach(self) -> DiagonalGaussian:
        return DiagonalGaussian(self.mean.detach(), self.logvar.detach())

    def rsample_with_log_prob(self, k: int | None = None,
                              generator: torch.Generator | None = None
                              ) -> tuple[torch.Tensor, torch.Tensor]:
        """A reparameterised sample and its exact log q(z|x): ([k,] B, Z), ([k,] B)."""
        z = self.rsample(k, generator=generator)
        return z, self.log_prob(z)


def diagonal_gaussian(q: object) -> DiagonalGaussian | None:
    """The one rule for closed forms: analytic KLs, per-dimension KLs (free bits, the
    collapse breakdown), the aggregate-posterior density and the VampPrior's components are
    written for a diagonal Gaussian q. This returns q when it is one and None for every
    other posterior (full covariance, flows), whose callers then take the Monte Carlo path
    with q's exact log-density, or refuse in one line."""
    return q if isinstance(q, DiagonalGaussian) else None
