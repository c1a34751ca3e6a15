"""Priors p(z): one module per family, registered in PRIORS (vaelab/concepts.py).

Adding a prior = one module here with one class and its ``@PRIORS.register`` line, plus
its import below.
"""

from vaelab.priors import laplace, mixture, normal, student_t, vampprior  # noqa: F401
from vaelab.priors.base import PRIORS, Prior


def build_prior(cfg, latent_dim: int) -> Prior:
    """The prior named by a [prior] config section."""
    return PRIORS.get(cfg.name)(cfg, latent_dim)


__all__ = ["PRIORS", "Prior", "build_prior"]
