"""The network interface: activations, initialisations and the NETWORKS registry.

An encoder maps flattened images [B, D] to the raw posterior parameters [B, 2·Z] (mean
and log-variance); a decoder maps latents [..., B, Z] to the raw likelihood parameters
[..., B, P·D], where P is the likelihood's number of parameters per pixel. Networks know
nothing about distributions: the model turns raw outputs into them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from vaelab.concepts import NETWORKS  # noqa: F401  (re-exported: components register here)
from vaelab.options import NoOptions, option
from vaelab.registry import Registry

ACTIVATIONS: Registry[Callable[[], nn.Module]] = Registry("activation")
ACTIVATIONS.register("relu")(nn.ReLU)
ACTIVATIONS.register("tanh")(nn.Tanh)
ACTIVATIONS.register("softplus")(nn.Softplus)
ACTIVATIONS.register("elu")(nn.ELU)
ACTIVATIONS.register("leaky-relu")(nn.LeakyReLU)
ACTIVATIONS.register("gelu")(nn.GELU)
ACTIVATIONS.register("silu")(nn.SiLU)

# The gain each activation needs under Kaiming init (He et al. 2015).
_KAIMING_NONLINEARITY = {"relu": "relu", "leaky-relu": "leaky_relu", "elu": "relu",
                         "gelu": "relu", "silu": "relu", "tanh": "tanh",
                         "softplus": "relu", "linear": "linear", "sigmoid": "sigmoid"}

INITS: Registry[Callable[[nn.Module, str], None]] = Registry("init")


@INITS.register("default")
def _default_init(layer: nn.Module, activation: str) -> None:
    """PyTorch's own init (Kaiming-uniform with a = √5): leave the layer as built."""


@INITS.register("kaiming")
def _kaiming_init(layer: nn.Module, activation: str) -> None:
    """He et al. 2015 normal init with the gain of the following activation, zero bias."""
    nn.init.kaiming_normal_(layer.weight, nonlinearity=_KAIMING_NONLINEARITY[activation])
    nn.init.zeros_(layer.bias)


@INITS.register("xavier")
def _xavier_init(layer: nn.Module, activation: str) -> None:
    """Glorot & Bengio 2010 uniform init, zero bias."""
    nn.init.xavier_uniform_(layer.weight)
    nn.init.zeros_(layer.bias)


def initialise(layer: nn.Module, cfg, activation: str) -> nn.Module:
    """Apply the configured init to a Linear/Conv layer followed by ``activation``."""
    INITS.get(cfg.init)(layer, activation)
    return layer


@dataclass
class Networks:
    encoder: nn.Module
    decoder: nn.Module


def _check_hidden(values: list[int]) -> str | None:
    if any(v < 1 for v in values):
        return f"every hidden size must be >= 1, got {values}; use 'none' for no hidden layer"
    return None


@dataclass
class LayerOptions:
    """Options every network family here has."""

    hidden: list[int] = option(
        [400], "Hidden layer sizes of the encoder (the decoder mirrors them), e.g. 512,256; "
        "'none' gives the single-linear-layer 'vanilla' VAE.", check=_check_hidden)
    activation: str = option("relu", "Hidden activation.", choices=ACTIVATIONS.names)
    init: str = option("default", "Weight initialisation.", choices=INITS.names)


class NetworkFamily:
    """A registered network family: ``build`` makes the encoder and decoder; ``Options``
    are its own [network] keys and flags; ``examples`` the option sets the contract tests
    build it with."""

    Options = NoOptions
    examples: list[dict] = [{}]

    @classmethod
    def build(cls, cfg, image_shape: tuple[int, ...], params_per_pixel: int,
              encoder_outputs: int | None = None) -> Networks:
        """(network config, image shape (H, W), likelihood params per pixel, the
        posterior's raw numbers per image (default 2·latent_dim)) → Networks."""
        raise NotImplementedError

    @classmethod
    def describe_config(cls, cfg) -> str:
        return f"{cfg.name}, z = {cfg.latent_dim}"


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
