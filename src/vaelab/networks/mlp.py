"""Fully connected encoder/decoder."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from vaelab.networks.base import (
    ACTIVATIONS,
    NETWORKS,
    LayerOptions,
    NetworkFamily,
    Networks,
    initialise,
)
from vaelab.options import option


class GatedLinear(nn.Module):
    """A gated linear unit h = (W_a x + a) ⊙ σ(W_g x + g) (Dauphin et al. 2017), the
    "gated dense" layer of the VampPrior paper's MLPs (Tomczak & Welling 2018)."""

    def __init__(self, n_in: int, n_out: int, cfg):
        super().__init__()
        self.value = initialise(nn.Linear(n_in, n_out), cfg, "linear")
        self.gate = initialise(nn.Linear(n_in, n_out), cfg, "sigmoid")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.value(x) * torch.sigmoid(self.gate(x))


def mlp(sizes: list[int], cfg, *, gated: bool = False) -> nn.Sequential:
    """Layers through ``sizes``: hidden layers are Linear + activation (or one gated unit
    with ``gated``), the last is a plain Linear (its output is raw distribution
    parameters)."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        is_last = i == len(sizes) - 2
        if is_last:
            layers.append(initialise(nn.Linear(sizes[i], sizes[i + 1]), cfg, "linear"))
        elif gated:
            layers.append(GatedLinear(sizes[i], sizes[i + 1], cfg))
        else:
            layers.append(initialise(nn.Linear(sizes[i], sizes[i + 1]), cfg, cfg.activation))
            layers.append(ACTIVATIONS.get(cfg.activation)())
    return nn.Sequential(*layers)


@NETWORKS.register("mlp")
class MLP(NetworkFamily):
    """Symmetric MLPs: D → hidden… → 2Z and Z → reversed(hidden)… → P·D.
    ``hidden = []`` is the 'vanilla' VAE with one linear layer each way."""

    @dataclass
    class Options(LayerOptions):
        gated: bool = option(False, "Hidden layers as gated linear units h = (Wx)·σ(Vx) "
                             "(Dauphin et al. 2017; the VampPrior paper's MLPs).")

    examples = [{}, {"hidden": [8, 4], "gated": True, "activation": "tanh", "init": "kaiming"},
                {"hidden": []}]

    @classmethod
    def build(cls, cfg, image_shape: tuple[int, ...], params_per_pixel: int,
              encoder_outputs: int | None = None) -> Networks:
        data_dim = math.prod(image_shape)
        outputs = encoder_outputs or 2 * cfg.latent_dim
        encoder = mlp([data_dim, *cfg.hidden, outputs], cfg, gated=cfg.gated)
        decoder = mlp([cfg.latent_dim, *reversed(cfg.hidden), params_per_pixel * data_dim],
                      cfg, gated=cfg.gated)
        return Networks(encoder=encoder, decoder=decoder)

    @classmethod
    def describe_config(cls, cfg) -> str:
        layers = "-".join(map(str, cfg.hidden)) or "linear"
        gated = " gated" if cfg.gated else ""
        return f"mlp {layers}{gated}, z = {cfg.latent_dim}, {cfg.activation}"
