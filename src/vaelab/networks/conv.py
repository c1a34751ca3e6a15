"""Convolutional encoder/decoder for square grey images (28×28 MNIST, 8×8 digits).

Each conv stage halves the image with a 4×4 kernel, stride 2, padding 1 (the DCGAN-style
block); the decoder mirrors it with transposed convolutions. Between the convolutional
features and the latent sit the fully connected ``--hidden`` layers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from vaelab.errors import VaelabError
from vaelab.networks.base import (
    ACTIVATIONS,
    NETWORKS,
    LayerOptions,
    NetworkFamily,
    Networks,
    initialise,
)
from vaelab.networks.mlp import mlp
from vaelab.options import option


class ConvEncoder(nn.Module):
    def __init__(self, cfg, image_shape: tuple[int, int], outputs: int):
        super().__init__()
        self.image_shape = image_shape
        layers: list[nn.Module] = []
        channels = [1, *cfg.channels]
        for c_in, c_out in zip(channels[:-1], channels[1:], strict=True):
            layers.append(initialise(nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), cfg,
                                     cfg.activation))
            layers.append(ACTIVATIONS.get(cfg.activation)())
        self.features = nn.Sequential(*layers)
        height, width = (side // 2 ** len(cfg.channels) for side in image_shape)
        self.head = mlp([channels[-1] * height * width, *cfg.hidden, outputs], cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch = x.shape[:-1]  # x [..., D]
        images = x.reshape(-1, 1, *self.image_shape)
        features = self.features(images).flatten(1)
        return self.head(features).reshape(*batch, -1)


class ConvDecoder(nn.Module):
    def __init__(self, cfg, image_shape: tuple[int, int], params_per_pixel: int):
        super().__init__()
        depth = len(cfg.channels)
        self.start = (cfg.channels[-1], image_shape[0] // 2**depth, image_shape[1] // 2**depth)
        self.head = nn.Sequential(
            mlp([cfg.latent_dim, *reversed(cfg.hidden), math.prod(self.start)], cfg),
            ACTIVATIONS.get(cfg.activation)())
        layers: list[nn.Module] = []
        channels = [*reversed(cfg.channels), params_per_pixel]
        for i, (c_in, c_out) in enumerate(zip(channels[:-1], channels[1:], strict=True)):
            is_last = i == depth - 1
            layers.append(initialise(nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1),
                                     cfg, "linear" if is_last else cfg.activation))
            if not is_last:
                layers.append(ACTIVATIONS.get(cfg.activation)())
        self.features = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        batch = z.shape[:-1]  # z [..., Z]
        start = self.head(z.reshape(-1, z.shape[-1])).reshape(-1, *self.start)
        # [N, P, H, W] → [..., P·H·W]: channel-major, so parameter p is the p-th block of D.
        return self.features(start).reshape(*batch, -1)


@NETWORKS.register("conv")
class Conv(NetworkFamily):
    @dataclass
    class Options(LayerOptions):
        channels: list[int] = option(
            [32, 64], "Channels of the conv network's stride-2 stages (each halves the "
            "image).", low=1)

    examples = [{"hidden": [16], "channels": [4]}, {"hidden": [], "channels": [2, 4]}]

    @classmethod
    def build(cls, cfg, image_shape: tuple[int, ...], params_per_pixel: int,
              encoder_outputs: int | None = None) -> Networks:
        if len(image_shape) != 2:
            raise VaelabError(f"--network conv needs grey images [H, W], got shape "
                              f"{image_shape}")
        factor = 2 ** len(cfg.channels)
        if not cfg.channels or any(side % factor for side in image_shape):
            raise VaelabError(
                f"--network conv with --channels {','.join(map(str, cfg.channels))} halves "
                f"the image {len(cfg.channels)} times, so {image_shape[0]}×{image_shape[1]} "
                f"must be divisible by {factor}; use fewer channels (e.g. 2 stages for 28×28 "
                "or 8×8)")
        return Networks(encoder=ConvEncoder(cfg, image_shape,
                                            encoder_outputs or 2 * cfg.latent_dim),
                        decoder=ConvDecoder(cfg, image_shape, params_per_pixel))

    @classmethod
    def describe_config(cls, cfg) -> str:
        hidden = f" + {'-'.join(map(str, cfg.hidden))}" if cfg.hidden else ""
        return (f"conv {'-'.join(map(str, cfg.channels))}{hidden}, z = {cfg.latent_dim}, "
                f"{cfg.activation}")
