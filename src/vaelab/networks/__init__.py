"""Encoder/decoder networks: one module per family, one registry (NETWORKS)."""

from vaelab.networks import conv, mlp  # noqa: F401  (register)
from vaelab.networks.base import (
                                  ACTIVATIONS,
                                  INITS,
                                  NETWORKS,
                                  Networks,
                                  count_parameters,
                                  initialise,
)

__all__ = ["ACTIVATIONS", "INITS", "NETWORKS", "Networks", "count_parameters", "initialise"]
