"""Priors p(z): one module per family, one registry (PRIORS)."""

from vaelab.config import PriorConfig
from vaelab.priors import laplace, mixture, normal, vampprior  # noqa: F401  (register)
from vaelab.priors.base import PRIORS, Prior


def build_prior(cfg: PriorConfig, latent_dim: int) -> Prior:
    return PRIORS.get(cfg.name)(cfg, latent_dim)


__all__ = ["PRIORS", "Prior", "build_prior"]
