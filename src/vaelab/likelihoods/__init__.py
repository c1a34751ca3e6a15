"""Decoder likelihoods p(x|z): one module per family, registered in LIKELIHOODS
(vaelab/concepts.py)."""

from vaelab.likelihoods import (  # noqa: F401  (register)
    bernoulli,
    discretized_logistic,
    location_scale,
    perceptual,
)
from vaelab.likelihoods.base import LIKELIHOODS, Likelihood, check_unit_interval


def build_likelihood(cfg, data_dim: int) -> Likelihood:
    """The likelihood named by a [likelihood] config section."""
    return LIKELIHOODS.get(cfg.name)(cfg, data_dim)


__all__ = ["LIKELIHOODS", "Likelihood", "build_likelihood", "check_unit_interval"]
