"""Fully connected encoder/decoder."""

from __future__ import annotations

import math

import torch
from torch import nn

from vaelab.config import NetworkConfig
from vaelab.networks.base import ACTIVATIONS, NETWORKS, Networks, initialise


class GatedLinear(nn.Module):
    """A gated linear unit h = (W_a x + a) ⊙ σ(W_g x + g) (Dauphin et al. 2017), the
    "gated dense" layer of the VampPrior paper's MLPs (Tomczak & Welling 2018)."""

    def __init__(self, n_in: int, n_out: int, cfg: NetworkConfig):
        super().__init__()
        self.value = initialise(nn.Linear(n_in, n_out), cfg, "linear")
        self.gate = initialise(nn.Linear(n_in, n_out), cfg, "sigmoid")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.value(x) * torch.sigmoid(self.gate(x))


def mlp(sizes: list[int], cfg: NetworkConfig) -> nn.Sequential:
    """Layers through ``sizes``: hidden layers are Linear + activation (or one gated unit
    with --gated), the last is a plain Linear (its output is raw distribution
    parameters)."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        is_last = i == len(sizes) - 2
        if is_last:
            layers.append(initialise(nn.Linear(sizes[i], sizes[i + 1]), cfg, "linear"))
        elif cfg.gated:
            layers.append(GatedLinear(sizes[i], sizes[i + 1], cfg))
        else:
            layers.append(initialise(nn.Linear(sizes[i], sizes[i + 1]), cfg, cfg.activation))
            layers.append(ACTIVATIONS.get(cfg.activation)())
    return nn.Sequential(*layers)


@NETWORKS.register("mlp")
def build_mlp(cfg: NetworkConfig, image_shape: tuple[int, ...], params_per_pixel: int
              ) -> Networks:
    """Symmetric MLPs: D → hidden… → 2Z and Z → reversed(hidden)… → P·D.
    ``hidden = []`` is the 'vanilla' VAE with one linear layer each way."""
    data_dim = math.prod(image_shape)
    encoder = mlp([data_dim, *cfg.hidden, 2 * cfg.latent_dim], cfg)
    decoder = mlp([cfg.latent_dim, *reversed(cfg.hidden), params_per_pixel * data_dim], cfg)
    return Networks(encoder=encoder, decoder=decoder)
