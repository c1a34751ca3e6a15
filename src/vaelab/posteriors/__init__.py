"""Posteriors q(z|x): one module per family, registered in POSTERIORS
(vaelab/concepts.py). Adding one = one module here with one class and its
``@POSTERIORS.register`` line, plus its import below.
"""

from vaelab.posteriors import full_gaussian, gaussian, iaf, planar, radial  # noqa: F401
from vaelab.posteriors.base import POSTERIORS, PosteriorFamily


def build_posterior(cfg, latent_dim: int) -> PosteriorFamily:
    """The posterior family named by a [posterior] config section."""
    return POSTERIORS.get(cfg.name)(cfg, latent_dim)


__all__ = ["POSTERIORS", "PosteriorFamily", "build_posterior"]
