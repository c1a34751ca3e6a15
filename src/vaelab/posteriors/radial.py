"""Radial-flow posterior (Rezende & Mohamed 2015, §4.1)."""

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


class RadialStep:
    """f(z) = z + β·h(α, r)·(z − z₀), r = ‖z − z₀‖, h = 1/(α + r) (eq. 14);
    det ∂f/∂z = (1 + βh)^{d−1}·(1 + βh + βh′r), h′ = −1/(α + r)² (eq. 14).
    α = softplus(α̂) > 0 and β = −α + softplus(β̂) ≥ −α keep f invertible (Appendix A.2).
    z₀ [B, Z]; α̂, β̂ [B, 1]."""

    def __init__(self, centre: torch.Tensor, alpha_raw: torch.Tensor, beta_raw: torch.Tensor):
        self.centre = centre
        self.alpha = F.softplus(alpha_raw)
        self.beta = -self.alpha + F.softplus(beta_raw)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        diff = z - self.centre
        r = diff.norm(dim=-1, keepdim=True)
        h = 1 / (self.alpha + r)
        dims = z.shape[-1]
        log_det = ((dims - 1) * torch.log1p(self.beta * h)
                   + torch.log1p(self.beta * h - self.beta * r * h**2)).squeeze(-1)
        return z + self.beta * h * diff, log_det

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """Closed form: ‖y − z₀‖ = r(1 + β/(α + r)), so r is the positive root of
        r² + (α + β − ‖y − z₀‖)·r − α‖y − z₀‖ = 0; then z − z₀ = (y − z₀)/(1 + β/(α + r))."""
        diff = y - self.centre
        ry = diff.norm(dim=-1, keepdim=True)
        c = self.alpha + self.beta - ry
        r = 0.5 * (-c + torch.sqrt(c**2 + 4 * self.alpha * ry))
        return self.centre + diff / (1 + self.beta / (self.alpha + r))


@POSTERIORS.register("radial")
class Radial(PosteriorFamily):
    """z_K from K radial steps applied to z_0 ~ N(μ, diag σ²); every flow parameter
    (z₀_k, α̂_k, β̂_k) is amortised (an encoder output, Z + 2 numbers per step)."""

    Options = FlowOptions
    examples = [{"flow_length": 1}, {"flow_length": 3}]

    @property
    def raw_size(self) -> int:
        return 2 * self.latent_dim + self.cfg.flow_length * (self.latent_dim + 2)

    def forward(self, raw: torch.Tensor) -> FlowPosterior:
        base, rest = split_base(raw, self.latent_dim)
        z = self.latent_dim
        steps = [RadialStep(p[..., :z], p[..., z:z + 1], p[..., z + 1:])
                 for p in rest.split(z + 2, dim=-1)]
        return FlowPosterior(base, steps)

    @classmethod
    def describe_config(cls, cfg) -> str:
        return f"radial flow q, K={cfg.flow_length}"
