"""Residual encoder/decoder for images [C, H, W]: stride-2 stages as in ``conv``, each
followed (encoder) or preceded (decoder) by residual blocks.

A residual block is h + W₂·act(W₁·act(norm(h))) with W₁ a 3×3 convolution to a quarter of
the channels and W₂ a 1×1 convolution back: the ResBlock of pythae's ResNet VAEs
(Chadebec et al. 2022, as in VQ-VAE, van den Oord et al. 2017), in the pre-activation
order of He et al. 2016 ("Identity mappings", eq. 3: the skip path is left untouched),
the residual up/down layout of the IAF paper (Kingma et al. 2016, §6). --norm chooses the
normalisation before each activation of a block: none (pythae), batch (Ioffe & Szegedy
2015; note that in training a batch's images then depend on each other), group (Wu & He
2018, up to 32 groups) or layer (one group).

Encoder: per stage c: 4×4 stride-2 conv to c, then --blocks residual blocks; act,
flatten, the --hidden layers, the posterior's raw numbers. The decoder mirrors it with
transposed convolutions restoring each stage's exact size (networks/conv.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from vaelab.networks.base import ACTIVATIONS, NETWORKS, NetworkFamily, Networks, initialise
from vaelab.networks.conv import (
    Conv,
    ImageDecoder,
    ImageEncoder,
    check_stages,
    stage_sizes,
    up_convolution,
)
from vaelab.networks.mlp import mlp
from vaelab.options import option
from vaelab.shapes import chw

NORMS: dict[str, Callable[[int], nn.Module]] = {
    "none": lambda channels: nn.Identity(),
    "batch": nn.BatchNorm2d,
    "group": lambda channels: nn.GroupNorm(math.gcd(32, channels), channels),
    "layer": lambda channels: nn.GroupNorm(1, channels),
}


class ResidualBlock(nn.Module):
    """h + conv1×1(act(conv3×3(act(norm(h))))), channels kept; [N, c, H, W] → same."""

    def __init__(self, channels: int, cfg):
        super().__init__()
        middle = max(1, channels // 4)
        self.norm_in = NORMS[cfg.norm](channels)
        self.conv_in = initialise(nn.Conv2d(channels, middle, 3, padding=1), cfg,
                                  cfg.activation)
        self.norm_mid = NORMS[cfg.norm](middle)
        self.conv_out = initialise(nn.Conv2d(middle, channels, 1), cfg, "linear")
        self.activation = ACTIVATIONS.get(cfg.activation)()

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        inner = self.conv_in(self.activation(self.norm_in(h)))
        return h + self.conv_out(self.activation(self.norm_mid(inner)))


class ResNetEncoder(ImageEncoder):
    def __init__(self, cfg, image_shape: tuple[int, int, int], outputs: int):
        super().__init__()
        self.image_shape = image_shape
        layers: list[nn.Module] = []
        channels = [image_shape[0], *cfg.channels]
        for c_in, c_out in zip(channels[:-1], channels[1:], strict=True):
            layers.append(initialise(nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), cfg,
                                     cfg.activation))
            layers += [ResidualBlock(c_out, cfg) for _ in range(cfg.blocks)]
        layers.append(ACTIVATIONS.get(cfg.activation)())
        self.features = nn.Sequential(*layers)
        height, width = stage_sizes(image_shape, len(cfg.channels))[-1]
        self.head = mlp([channels[-1] * height * width, *cfg.hidden, outputs], cfg)


class ResNetDecoder(ImageDecoder):
    def __init__(self, cfg, image_shape: tuple[int, int, int], params_per_pixel: int):
        super().__init__()
        depth = len(cfg.channels)
        sizes = stage_sizes(image_shape, depth)[::-1]  # smallest first
        self.start = (cfg.channels[-1], *sizes[0])
        self.head = mlp([cfg.latent_dim, *reversed(cfg.hidden), math.prod(self.start)], cfg)
        layers: list[nn.Module] = []
        channels = [*reversed(cfg.channels), params_per_pixel * image_shape[0]]
        for i, (c_in, c_out) in enumerate(zip(channels[:-1], channels[1:], strict=True)):
            layers += [ResidualBlock(c_in, cfg) for _ in range(cfg.blocks)]
            layers.append(ACTIVATIONS.get(cfg.activation)())
            is_last = i == depth - 1
            layers.append(initialise(up_convolution(c_in, c_out, sizes[i], sizes[i + 1]),
                                     cfg, "linear" if is_last else cfg.activation))
        self.features = nn.Sequential(*layers)


@NETWORKS.register("resnet")
class ResNet(NetworkFamily):
    @dataclass
    class Options(Conv.Options):
        blocks: int = option(2, "Residual blocks per stage of the resnet network (pythae: 2).",
                             low=0)
        norm: str = option("none", "Normalisation inside the resnet's residual blocks: none "
                           "(pythae), batch, group or layer.", choices=lambda: list(NORMS))

    examples = [{"hidden": [8], "channels": [4], "blocks": 1},
                {"hidden": [], "channels": [4, 8], "norm": "group"},
                {"hidden": [8], "channels": [4, 4], "blocks": 1, "norm": "batch"}]

    @classmethod
    def build(cls, cfg, image_shape: tuple[int, ...], params_per_pixel: int,
              encoder_outputs: int | None = None) -> Networks:
        image_shape = chw(image_shape)
        check_stages("resnet", image_shape, cfg.channels)
        return Networks(encoder=ResNetEncoder(cfg, image_shape,
                                              encoder_outputs or 2 * cfg.latent_dim),
                        decoder=ResNetDecoder(cfg, image_shape, params_per_pixel))

    @classmethod
    def describe_config(cls, cfg) -> str:
        hidden = f" + {'-'.join(map(str, cfg.hidden))}" if cfg.hidden else ""
        norm = "" if cfg.norm == "none" else f", {cfg.norm} norm"
        return (f"resnet {'-'.join(map(str, cfg.channels))} × {cfg.blocks} blocks{hidden}, "
                f"z = {cfg.latent_dim}, {cfg.activation}{norm}")
