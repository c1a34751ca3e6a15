"""Encoder/decoder networks.

An encoder maps a flattened image [B, D] to the raw posterior parameters [B, 2·Z]
(mean and log-variance); a decoder maps latents [..., B, Z] to the raw likelihood
parameters [..., B, P·D], where P is the likelihood's number of parameters per pixel.
The networks know nothing about distributions: the model turns raw outputs into them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from vaelab.config import NetworkConfig
from vaelab.registry import Registry

ACTIVATIONS: Registry[Callable[[], nn.Module]] = Registry("activation")
ACTIVATIONS.register("relu")(nn.ReLU)
ACTIVATIONS.register("tanh")(nn.Tanh)
ACTIVATIONS.register("softplus")(nn.Softplus)
ACTIVATIONS.register("elu")(nn.ELU)
ACTIVATIONS.register("leaky-relu")(nn.LeakyReLU)
ACTIVATIONS.register("gelu")(nn.GELU)
ACTIVATIONS.register("silu")(nn.SiLU)

INITS: Registry[Callable[[nn.Linear, str], None]] = Registry("init")


@INITS.register("default")
def _default_init(layer: nn.Linear, activation: str) -> None:
    """PyTorch's own Linear init (Kaiming-uniform with a=√5): leave it as built."""


@INITS.register("kaiming")
def _kaiming_init(layer: nn.Linear, activation: str) -> None:
    """He et al. 2015 normal init with the gain of the layer's activation, zero bias."""
    nonlinearity = "relu" if activation in ("relu", "leaky-relu", "elu", "gelu", "silu") else (
        "tanh" if activation == "tanh" else "linear")
    nn.init.kaiming_normal_(layer.weight, nonlinearity=nonlinearity)
    nn.init.zeros_(layer.bias)


@INITS.register("xavier")
def _xavier_init(layer: nn.Linear, activation: str) -> None:
    """Glorot & Bengio 2010 uniform init, zero bias."""
    nn.init.xavier_uniform_(layer.weight)
    nn.init.zeros_(layer.bias)


def mlp(sizes: list[int], cfg: NetworkConfig) -> nn.Sequential:
    """Linear layers through ``sizes`` with the activation between them (none after the
    last: its output is raw distribution parameters)."""
    layers: list[nn.Module] = []
    init = INITS.get(cfg.init)
    for i in range(len(sizes) - 1):
        linear = nn.Linear(sizes[i], sizes[i + 1])
        is_last = i == len(sizes) - 2
        init(linear, "linear" if is_last else cfg.activation)
        layers.append(linear)
        if not is_last:
            layers.append(ACTIVATIONS.get(cfg.activation)())
    return nn.Sequential(*layers)


@dataclass
class Networks:
    encoder: nn.Module
    decoder: nn.Module


NETWORKS: Registry[Callable[[NetworkConfig, tuple[int, ...], int], Networks]] = Registry(
    "network")


@NETWORKS.register("mlp")
def build_mlp(cfg: NetworkConfig, image_shape: tuple[int, ...], params_per_pixel: int
              ) -> Networks:
    """Symmetric MLPs: D → hidden… → 2Z and Z → reversed(hidden)… → P·D.
    ``hidden = []`` is the 'vanilla' VAE with one linear layer each way."""
    data_dim = math.prod(image_shape)
    encoder = mlp([data_dim, *cfg.hidden, 2 * cfg.latent_dim], cfg)
    decoder = mlp([cfg.latent_dim, *reversed(cfg.hidden), params_per_pixel * data_dim], cfg)
    return Networks(encoder=encoder, decoder=decoder)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())

