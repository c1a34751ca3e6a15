"""Encoder/decoder networks: one module per family, registered in NETWORKS
(vaelab/concepts.py)."""

from vaelab.networks import conv, mlp, resnet  # noqa: F401  (register)
from vaelab.networks.base import (
    ACTIVATIONS,
    INITS,
    NETWORKS,
    NetworkFamily,
    Networks,
    count_parameters,
    initialise,
)

__all__ = ["ACTIVATIONS", "INITS", "NETWORKS", "NetworkFamily", "Networks",
           "count_parameters", "initialise"]
