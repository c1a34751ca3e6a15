"""Convolutional encoder/decoder for images [C, H, W] (grey or colour, any size).

Each conv stage halves the image with a 4×4 kernel, stride 2, padding 1 (the DCGAN-style
block), rounding down: 28 → 14 → 7 → 3 → 1. The decoder mirrors it with transposed
convolutions, each given the output padding (0 or 1) that restores the encoder's size at
that stage exactly (7 → 14 needs 0, 3 → 7 needs 1). Between the convolutional features
and the latent sit the fully connected ``--hidden`` layers.

The benchmark stacks are four stages:
  β-VAE (Higgins et al. 2017; Burgess et al. 2018) on 64×64: --channels 32,32,64,64
  --hidden 256 (64 → 32 → 16 → 8 → 4);
  pythae's MNIST/CIFAR convnets (Chadebec et al. 2022) on 28×28 and 32×32:
  --channels 128,256,512,1024 --hidden none (28 → … → 1, 32 → … → 2). Their decoders are
  not exact mirrors; here the decoder always mirrors the encoder.
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
from vaelab.shapes import chw


def stage_sizes(image_shape: tuple[int, ...], stages: int) -> list[tuple[int, int]]:
    """(H, W) before each stride-2 stage and after the last: [(28, 28), (14, 14), (7, 7)].
    A 4×4 kernel with stride 2 and padding 1 maps a side s to ⌊s/2⌋."""
    _, height, width = chw(image_shape)
    sizes = [(height, width)]
    for _ in range(stages):
        height, width = height // 2, width // 2
        sizes.append((height, width))
    return sizes


def check_stages(network: str, image_shape: tuple[int, ...], channels: list[int]) -> None:
    """One line when the stages would shrink the image to nothing."""
    _, height, width = chw(image_shape)
    if not channels:
        raise VaelabError(f"--network {network} needs at least one --channels stage")
    if min(stage_sizes(image_shape, len(channels))[-1]) < 1:
        raise VaelabError(
            f"--network {network} with --channels {','.join(map(str, channels))} halves the "
            f"image {len(channels)} times, which leaves nothing of {height}×{width}; use at "
            f"most {int(math.log2(min(height, width)))} stages")


def up_convolution(c_in: int, c_out: int, size_in: tuple[int, int],
                   size_out: tuple[int, int]) -> nn.ConvTranspose2d:
    """The transposed 4×4 stride-2 convolution from ``size_in`` to exactly ``size_out``:
    it makes 2s, plus an output padding of 0 or 1 for an odd encoder side."""
    padding = tuple(out - 2 * s for s, out in zip(size_in, size_out, strict=True))
    return nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1, output_padding=padding)


class ImageEncoder(nn.Module):
    """What every convolutional encoder does with its ``features`` (image → feature
    maps) and ``head`` (flattened maps → outputs): flat rows [..., D] in, [..., outputs]
    out. Subclasses build the two (conv, resnet)."""

    image_shape: tuple[int, int, int]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch = x.shape[:-1]  # x [..., D]
        images = x.reshape(-1, *self.image_shape)  # [N, C, H, W]
        features = self.features(images).flatten(1)
        return self.head(features).reshape(*batch, -1)


class ImageDecoder(nn.Module):
    """What every convolutional decoder does with its ``head`` (z → the ``start`` maps)
    and ``features`` (maps → P·C output maps): z [..., Z] in, [..., P·D] out."""

    start: tuple[int, int, int]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        batch = z.shape[:-1]  # z [..., Z]
        start = self.head(z.reshape(-1, z.shape[-1])).reshape(-1, *self.start)
        # [N, P·C, H, W] → [..., P·C·H·W]: parameter-major, so parameter p is the p-th
        # block of D = C·H·W, itself an image [C, H, W] in the data's channel-major order.
        return self.features(start).reshape(*batch, -1)


class ConvEncoder(ImageEncoder):
    def __init__(self, cfg, image_shape: tuple[int, int, int], outputs: int):
        super().__init__()
        self.image_shape = image_shape
        layers: list[nn.Module] = []
        channels = [image_shape[0], *cfg.channels]
        for c_in, c_out in zip(channels[:-1], channels[1:], strict=True):
            layers.append(initialise(nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), cfg,
                                     cfg.activation))
            layers.append(ACTIVATIONS.get(cfg.activation)())
        self.features = nn.Sequential(*layers)
        height, width = stage_sizes(image_shape, len(cfg.channels))[-1]
        self.head = mlp([channels[-1] * height * width, *cfg.hidden, outputs], cfg)


class ConvDecoder(ImageDecoder):
    def __init__(self, cfg, image_shape: tuple[int, int, int], params_per_pixel: int):
        super().__init__()
        depth = len(cfg.channels)
        sizes = stage_sizes(image_shape, depth)[::-1]  # smallest first
        self.start = (cfg.channels[-1], *sizes[0])
        self.head = nn.Sequential(
            mlp([cfg.latent_dim, *reversed(cfg.hidden), math.prod(self.start)], cfg),
            ACTIVATIONS.get(cfg.activation)())
        layers: list[nn.Module] = []
        # P parameters per pixel of each of the C channels: P·C output maps.
        channels = [*reversed(cfg.channels), params_per_pixel * image_shape[0]]
        for i, (c_in, c_out) in enumerate(zip(channels[:-1], channels[1:], strict=True)):
            is_last = i == depth - 1
            layers.append(initialise(up_convolution(c_in, c_out, sizes[i], sizes[i + 1]),
                                     cfg, "linear" if is_last else cfg.activation))
            if not is_last:
                layers.append(ACTIVATIONS.get(cfg.activation)())
        self.features = nn.Sequential(*layers)


@NETWORKS.register("conv")
class Conv(NetworkFamily):
    @dataclass
    class Options(LayerOptions):
        channels: list[int] = option(
            [32, 64], "Channels of the conv/resnet network's stride-2 stages (each halves "
            "the image, rounding down).", low=1)

    # The contract tests build these on 8×8 images: at most 3 stages (8 → 4 → 2 → 1).
    examples = [{"hidden": [16], "channels": [4]}, {"hidden": [], "channels": [2, 4]},
                {"hidden": [8], "channels": [2, 4, 4]}]

    @classmethod
    def build(cls, cfg, image_shape: tuple[int, ...], params_per_pixel: int,
              encoder_outputs: int | None = None) -> Networks:
        image_shape = chw(image_shape)
        check_stages("conv", image_shape, cfg.channels)
        return Networks(encoder=ConvEncoder(cfg, image_shape,
                                            encoder_outputs or 2 * cfg.latent_dim),
                        decoder=ConvDecoder(cfg, image_shape, params_per_pixel))

    @classmethod
    def describe_config(cls, cfg) -> str:
        hidden = f" + {'-'.join(map(str, cfg.hidden))}" if cfg.hidden else ""
        return (f"conv {'-'.join(map(str, cfg.channels))}{hidden}, z = {cfg.latent_dim}, "
                f"{cfg.activation}")
