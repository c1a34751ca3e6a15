"""Latent samplers (``vaelab sample --sampler``, ``vaelab eval --sampler``): one module
per sampler, registered in SAMPLERS; adding one = one module here plus its import below."""

from vaelab.samplers import gmm, prior  # noqa: F401
from vaelab.samplers.base import (
    SAMPLERS,
    LatentSampler,
    fitted_sampler,
    model_digest,
    sampler_options,
)

__all__ = ["SAMPLERS", "LatentSampler", "fitted_sampler", "model_digest", "sampler_options"]
