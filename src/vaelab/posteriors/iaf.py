"""Inverse autoregressive flow posterior (Kingma et al. 2016)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vaelab.options import option
from vaelab.posteriors.base import (
    POSTERIORS,
    FlowOptions,
    FlowPosterior,
    PosteriorFamily,
    split_base,
)

# Initial bias of s: Kingma et al. 2016 (§4, after eq. 14) initialise s "sufficiently
# positive, such as close to +1 or +2", so that each step first changes z only slightly.
GATE_BIAS = 2.0


class MADE(nn.Module):
    """An autoregressive network (Germain et al. 2015) with a context input:
    [m, s](z, h) where output i depends on z_<i only (masked weights) and on all of h."""

    def __init__(self, latent_dim: int, hidden: int, context: int):
        super().__init__()
        degree_in = torch.arange(1, latent_dim + 1)
        degree_hidden = torch.arange(hidden) % max(latent_dim - 1, 1) + 1
        degree_out = torch.cat([degree_in, degree_in])  # m and s
        self.register_buffer("mask_in", (degree_hidden[:, None] >= degree_in[None, :]).float())
        self.register_buffer("mask_out", (degree_out[:, None] > degree_hidden[None, :]).float())
        self.inp = nn.Linear(latent_dim, hidden)
        self.context = nn.Linear(context, hidden, bias=False)
        self.out = nn.Linear(hidden, 2 * latent_dim)
        with torch.no_grad():
            self.out.bias[latent_dim:] = GATE_BIAS

    def forward(self, z: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = F.elu(F.linear(z, self.inp.weight * self.mask_in, self.inp.bias)
                       + self.context(h))
        return F.linear(hidden, self.out.weight * self.mask_out, self.out.bias).chunk(2, -1)


class IAFStep:
    """z ↦ σ⊙z + (1 − σ)⊙m, [m, s] = MADE(z, h), σ = sigmoid(s); log|det| = Σ_i log σ_i
    (Kingma et al. 2016, eq. 10–11 and Algorithm 1's numerically stable form). The order
    of the dimensions is reversed after the step (§4), so that stacked steps see every
    ordering. h: the encoder's context [B, C]."""

    def __init__(self, made: MADE, context: torch.Tensor):
        self.made, self.h = made, context

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m, s = self.made(z, self.h)
        gate = torch.sigmoid(s)
        return (gate * z + (1 - gate) * m).flip(-1), F.logsigmoid(s).sum(-1)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """Exact after Z passes: pass i fixes z_i, whose m_i and s_i need z_<i only."""
        y = y.flip(-1)
        z = torch.zeros_like(y)
        for _ in range(y.shape[-1]):
            m, s = self.made(z, self.h)
            gate = torch.sigmoid(s)
            z = (y - (1 - gate) * m) / gate
        return z


@POSTERIORS.register("iaf")
class IAF(PosteriorFamily):
    """z_K from K IAF steps applied to z_0 ~ N(μ, diag σ²). As in the paper, μ, σ and the
    context h are amortised (encoder outputs: 2Z + C numbers); the K MADE networks are free
    parameters shared by all images."""

    @dataclass
    class Options(FlowOptions):
        iaf_hidden: int = option(64, "Hidden units of each IAF step's MADE network.", low=1)
        iaf_context: int = option(16, "Size C of the context vector h the encoder hands to "
                                  "every IAF step.", low=1)

    examples = [{"flow_length": 1, "iaf_hidden": 8, "iaf_context": 2},
                {"flow_length": 2, "iaf_hidden": 6, "iaf_context": 3}]

    def __init__(self, cfg, latent_dim: int):
        super().__init__(cfg, latent_dim)
        self.steps = nn.ModuleList(MADE(latent_dim, cfg.iaf_hidden, cfg.iaf_context)
                                   for _ in range(cfg.flow_length))

    @property
    def raw_size(self) -> int:
        return 2 * self.latent_dim + self.cfg.iaf_context

    def forward(self, raw: torch.Tensor) -> FlowPosterior:
        base, context = split_base(raw, self.latent_dim)
        return FlowPosterior(base, [IAFStep(made, context) for made in self.steps])

    @classmethod
    def describe_config(cls, cfg) -> str:
        return (f"IAF q, K={cfg.flow_length}, MADE {cfg.iaf_hidden}, "
                f"context {cfg.iaf_context}")
