"""Planar-flow posterior (Rezende & Mohamed 2015, §4.1)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vaelab.posteriors.base import (
    POSTERIORS,
    FlowOptions,
    FlowPosterior,
    PosteriorFamily,
    split_base,
)

# Bisection steps of the numerical inverse: the bracket has width 2|wᵀû| ≤ 2·|w|·|û| and
# halves each step, so 64 steps reach float64 resolution for any sane parameter.
INVERSE_STEPS = 64


class PlanarStep:
    """f(z) = z + û·tanh(wᵀz + b) (eq. 10); log|det ∂f/∂z| = log|1 + ûᵀψ(z)|,
    ψ(z) = (1 − tanh²(wᵀz + b))·w (eq. 11–12). û = u + (m(wᵀu) − wᵀu)·w/‖w‖² with
    m(a) = −1 + softplus(a) keeps wᵀû ≥ −1, which makes f invertible (Appendix A.1).
    u, w [B, Z]; b [B, 1]."""

    def __init__(self, u: torch.Tensor, w: torch.Tensor, b: torch.Tensor):
        wu = (w * u).sum(-1, keepdim=True)
        self.u = u + (F.softplus(wu) - 1 - wu) * w / (w * w).sum(-1, keepdim=True)
        self.w, self.b = w, b

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = torch.tanh((z * self.w).sum(-1, keepdim=True) + self.b)  # [..., B, 1]
        psi = (1 - a**2) * self.w
        log_det = torch.log((1 + (psi * self.u).sum(-1)).abs())
        return z + self.u * a, log_det

    @torch.no_grad()
    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """Solve α = wᵀz from wᵀy = α + wᵀû·tanh(α + b), increasing in α since wᵀû ≥ −1
        (bisection on the bracket wᵀy ± |wᵀû|), then z = y − û·tanh(α + b)."""
        target = (y * self.w).sum(-1, keepdim=True).double()
        slope = (self.w * self.u).sum(-1, keepdim=True).double()
        bias = self.b.double()
        low, high = target - slope.abs() - 1e-9, target + slope.abs() + 1e-9
        for _ in range(INVERSE_STEPS):
            middle = 0.5 * (low + high)
            above = middle + slope * torch.tanh(middle + bias) > target
            high = torch.where(above, middle, high)
            low = torch.where(above, low, middle)
        alpha = (0.5 * (low + high)).to(y.dtype)
        return y - self.u * torch.tanh(alpha + self.b)


@POSTERIORS.register("planar")
class Planar(PosteriorFamily):
    """z_K from K planar steps applied to z_0 ~ N(μ, diag σ²). As in the paper's
    experiments, every flow parameter (u_k, w_k, b_k) is amortised: an output of the
    encoder, 2Z + 1 numbers per step after μ and log σ²."""

    Options = FlowOptions
    examples = [{"flow_length": 1}, {"flow_length": 3}]

    @property
    def raw_size(self) -> int:
        return 2 * self.latent_dim + self.cfg.flow_length * (2 * self.latent_dim + 1)

    def forward(self, raw: torch.Tensor) -> FlowPosterior:
        base, rest = split_base(raw, self.latent_dim)
        z = self.latent_dim
        steps = []
        for params in rest.split(2 * z + 1, dim=-1):
            steps.append(PlanarStep(params[..., :z], params[..., z:2 * z], params[..., 2 * z:]))
        return FlowPosterior(base, steps)

    @classmethod
    def describe_config(cls, cfg) -> str:
        return f"planar flow q, K={cfg.flow_length}"
