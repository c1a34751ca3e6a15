"""A Gaussian posterior with a full covariance, Cholesky-factored."""

from __future__ import annotations

import torch

from vaelab.posterior import LOG_2PI
from vaelab.posteriors.base import POSTERIORS, PosteriorFamily


class FullGaussian:
    """q(z|x) = N(μ, L Lᵀ) with L lower triangular, positive diagonal: z = μ + L ε,
    log q(z) = log N(ε; 0, I) − Σ_i log L_ii with ε = L⁻¹(z − μ).
    ``mean`` [B, Z], ``scale_tril`` [B, Z, Z]."""

    def __init__(self, mean: torch.Tensor, scale_tril: torch.Tensor):
        self.mean = mean
        self.scale_tril = scale_tril

    def rsample(self, k: int | None = None, generator: torch.Generator | None = None
                ) -> torch.Tensor:
        shape = self.mean.shape if k is None else (k, *self.mean.shape)
        eps = torch.randn(shape, generator=generator, device=self.mean.device,
                          dtype=self.mean.dtype)
        return self.mean + (self.scale_tril @ eps.unsqueeze(-1)).squeeze(-1)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        diff = (z - self.mean).unsqueeze(-1)  # [..., B, Z, 1]
        tril = self.scale_tril.expand(*diff.shape[:-2], *self.scale_tril.shape[-2:])
        eps = torch.linalg.solve_triangular(tril, diff, upper=False).squeeze(-1)
        log_diag = torch.diagonal(self.scale_tril, dim1=-2, dim2=-1).log().sum(-1)
        return -0.5 * (eps**2 + LOG_2PI).sum(-1) - log_diag

    def rsample_with_log_prob(self, k: int | None = None,
                              generator: torch.Generator | None = None
                              ) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.rsample(k, generator=generator)
        return z, self.log_prob(z)


@POSTERIORS.register("full-gaussian")
class FullCovariance(PosteriorFamily):
    """The encoder outputs μ (Z), log of the squared Cholesky diagonal (Z) and the strict
    lower triangle of L (Z(Z−1)/2), all amortised: the location-scale reparameterisation
    z = μ + Lε of Kingma & Welling 2014, §2.4."""

    @property
    def raw_size(self) -> int:
        z = self.latent_dim
        return 2 * z + z * (z - 1) // 2

    def forward(self, raw: torch.Tensor) -> FullGaussian:
        z = self.latent_dim
        mean, logvar, lower = raw[..., :z], raw[..., z:2 * z], raw[..., 2 * z:]
        rows, cols = torch.tril_indices(z, z, offset=-1, device=raw.device)
        tril = raw.new_zeros(*raw.shape[:-1], z, z)
        tril[..., rows, cols] = lower
        tril = tril + torch.diag_embed(torch.exp(0.5 * logvar))
        return FullGaussian(mean, tril)

    @classmethod
    def describe_config(cls, cfg) -> str:
        return "full-covariance Gaussian q"


__all__ = ["FullGaussian"]
