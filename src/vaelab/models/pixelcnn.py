"""A small gated PixelCNN over a grid of discrete codes: the learned prior p(c) of the
VQ-VAE (van den Oord et al. 2017, §3.3), p(c) = Π_i p(c_i | c_<i) in raster order.

Layers: an embedding of the codes, one masked 'A' convolution (position i sees only
positions before it), then residual masked 'B' convolutions (i may also see itself, i.e.
what the layers below computed from c_<i), each with the gated activation
tanh(W_f ∗ h) ⊙ σ(W_g ∗ h) of van den Oord et al. 2016 ("Conditional image generation
with PixelCNN decoders", eq. 2), and a 1×1 convolution to K logits per position. This is
the single-stack PixelCNN with gated units: it keeps the original PixelCNN's blind spot
(some positions up and to the right of i are out of view), which costs likelihood but
never causality (tests/test_model_vqvae.py checks the mask).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional


class MaskedConv2d(nn.Conv2d):
    """A k×k convolution whose kernel is zero at and after the centre in raster order
    ('A') or after the centre ('B') (van den Oord et al. 2016a, Fig. 2)."""

    def __init__(self, channels_in: int, channels_out: int, kernel: int, mask_type: str):
        super().__init__(channels_in, channels_out, kernel, padding=kernel // 2)
        mask = torch.ones(kernel, kernel)
        centre = kernel // 2
        mask[centre, centre + (mask_type == "B"):] = 0
        mask[centre + 1:] = 0
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return functional.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


def gate(h: torch.Tensor) -> torch.Tensor:
    """tanh(first half) ⊙ σ(second half) over channels."""
    value, gate_ = h.chunk(2, dim=1)
    return torch.tanh(value) * torch.sigmoid(gate_)


class GatedPixelCNN(nn.Module):
    """Logits of p(c_i | c_<i) for codes c [B, G, G] in {0 … K−1}."""

    def __init__(self, codes: int, channels: int, layers: int):
        super().__init__()
        self.codes = codes
        self.embed = nn.Embedding(codes, channels)
        self.first = MaskedConv2d(channels, 2 * channels, 5, "A")
        self.layers = nn.ModuleList(MaskedConv2d(channels, 2 * channels, 3, "B")
                                    for _ in range(layers))
        self.out = nn.Conv2d(channels, codes, 1)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        """[B, G, G] → logits [B, K, G, G]."""
        h = gate(self.first(self.embed(codes).permute(0, 3, 1, 2)))
        for layer in self.layers:
            h = h + gate(layer(h))
        return self.out(torch.relu(h))

    def log_prob(self, codes: torch.Tensor) -> torch.Tensor:
        """log p(c) per grid, nats, [B]."""
        logits = self(codes)
        return -functional.cross_entropy(logits, codes, reduction="none").sum((1, 2))

    @torch.no_grad()
    def sample(self, n: int, grid: int, generator: torch.Generator | None = None,
               device: torch.device | str = "cpu") -> torch.Tensor:
        """Ancestral samples [n, G, G], one position at a time in raster order."""
        codes = torch.zeros(n, grid, grid, dtype=torch.long, device=device)
        for row in range(grid):
            for col in range(grid):
                probs = torch.softmax(self(codes)[:, :, row, col], dim=1)
                codes[:, row, col] = torch.multinomial(probs, 1, generator=generator)[:, 0]
        return codes
