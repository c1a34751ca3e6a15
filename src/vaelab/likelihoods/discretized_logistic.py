"""The discretised logistic mixture for 8-bit pixels (Salimans et al. 2017, PixelCNN++,
eq. 2), one mixture per sub-pixel (each channel of each pixel its own K components, the
channels independent given z; PixelCNN++'s shared mixture indicator and its linear
dependence between R, G and B are autoregressive refinements a VAE decoder leaves out).

Scaling: a stored value k ∈ {0, …, 255} arrives as x = k/255 and is mapped to
y = 2x − 1 ∈ [−1, 1], whose bins have half-width 1/255. With a logistic of mean μ and
scale s, σ the sigmoid,
    P(k) = σ((y + 1/255 − μ)/s) − σ((y − 1/255 − μ)/s)      for 0 < k < 255,
    P(0) = σ((y + 1/255 − μ)/s)           (all the mass below the first bin edge),
    P(255) = 1 − σ((y − 1/255 − μ)/s)     (all the mass above the last one),
and p(x|z) = Π_pixels Σ_k π_k P_k(x). These are probabilities of the 256 values, so
−log p is a discrete NLL in nats and bits/dim = −log p / (D ln 2) with no dequantisation
term (evaluate.bits_per_dim). The difference of sigmoids is taken in logs exactly:
σ(a) − σ(b) = σ(a)·σ(−b)·(1 − e^{b−a}), stable for every a > b (PixelCNN++'s code falls
back to the density at the bin centre instead).

Decoder output per sub-pixel, parameter-major (networks put parameter p in block p of
D): K mixture logits, K means μ (in y units, unbounded), K log-scales (clamped below at
−7, as PixelCNN++ does, so that no bin's mass saturates at 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from vaelab.errors import VaelabError
from vaelab.likelihoods.base import LIKELIHOODS, Likelihood
from vaelab.options import option

LEVELS = 256  # 8-bit pixels
HALF_BIN = 1.0 / (LEVELS - 1)  # half a bin in y = 2x − 1 units
LOG_SCALE_MIN = -7.0  # PixelCNN++'s clamp
ON_GRID_TOLERANCE = 1e-4  # of x·255 from an integer (float32 k/255 is within ~1e-5)


@LIKELIHOODS.register("discretized-logistic")
class DiscretizedLogistic(Likelihood):
    """A mixture of --mixtures discretised logistics per sub-pixel, for 8-bit data x = k/255
    (--binarize none); reported in bits/dim."""

    @dataclass
    class Options:
        mixtures: int = option(10, "Logistic components per sub-pixel of the "
                               "discretized-logistic likelihood (PixelCNN++ uses 10).", low=1)

    examples = [{"mixtures": 1}, {"mixtures": 3}]
    support = "8-bit"

    def __init__(self, cfg, data_dim: int):
        super().__init__(cfg, data_dim)
        self.params_per_pixel = 3 * cfg.mixtures

    def split(self, params: torch.Tensor
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(mixture log-weights, means, log-scales), each [..., B, K, D]."""
        mixtures = self.cfg.mixtures
        blocks = params.reshape(*params.shape[:-1], 3 * mixtures, self.data_dim)
        logits, means, log_scales = blocks.split(mixtures, dim=-2)
        return (F.log_softmax(logits, dim=-2), means,
                log_scales.clamp(min=LOG_SCALE_MIN))

    def log_prob(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        log_weights, means, log_scales = self.split(params)
        y = (2 * x - 1).unsqueeze(-2)  # [B, 1, D]
        inverse_scale = torch.exp(-log_scales)
        upper = inverse_scale * (y + HALF_BIN - means)  # a: the bin's upper edge
        lower = inverse_scale * (y - HALF_BIN - means)  # b: its lower edge, b < a
        # log(σ(a) − σ(b)) = log σ(a) + log σ(−b) + log(1 − e^{b−a}), b − a = −2·HALF_BIN/s.
        # (The clamp only matters for scales so large that e^{b−a} rounds to 1.)
        width = (-torch.expm1(lower - upper)).clamp(min=torch.finfo(params.dtype).tiny)
        interior = F.logsigmoid(upper) + F.logsigmoid(-lower) + torch.log(width)
        level = torch.round(x * (LEVELS - 1)).unsqueeze(-2)
        log_mass = torch.where(level <= 0, F.logsigmoid(upper),
                               torch.where(level >= LEVELS - 1, F.logsigmoid(-lower), interior))
        return torch.logsumexp(log_weights + log_mass, dim=-2).sum(-1)

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        """E[x] exactly: E[k] = Σ_{j=1}^{255} P(k ≥ j), and P(k ≥ j) = σ((μ − b_j)/s) with
        b_j = (2j − 1)/255 − 1 the lower edge of bin j; one explicit loop over the 255
        edges (figures only: training never needs it)."""
        log_weights, means, log_scales = self.split(params)
        inverse_scale = torch.exp(-log_scales)
        scaled_mean = means * inverse_scale
        expected_level = torch.zeros_like(means)
        for j in range(1, LEVELS):
            edge = (2 * j - 1) / (LEVELS - 1) - 1
            expected_level += torch.sigmoid_(scaled_mean - edge * inverse_scale)
        return (log_weights.exp() * expected_level).sum(-2) / (LEVELS - 1)

    def sample(self, params: torch.Tensor, generator: torch.Generator | None = None
               ) -> torch.Tensor:
        """A component per sub-pixel, a logistic y = μ + s·log(u/(1−u)), then the bin it
        falls in (the edges take everything beyond them)."""
        log_weights, means, log_scales = self.split(params)
        uniforms = torch.rand((2, *means.shape[:-2], means.shape[-1]), generator=generator,
                              device=params.device, dtype=params.dtype)
        # Inverse CDF of the mixture weights: the first k whose cumulative weight passes u.
        cumulative = log_weights.exp().cumsum(-2)
        component = (cumulative < uniforms[0].unsqueeze(-2)).sum(-2, keepdim=True)
        component = component.clamp(max=self.cfg.mixtures - 1)
        mean = means.gather(-2, component).squeeze(-2)
        scale = log_scales.gather(-2, component).squeeze(-2).exp()
        u = uniforms[1].clamp(1e-6, 1 - 1e-6)
        y = mean + scale * (torch.log(u) - torch.log1p(-u))
        level = torch.round((y + 1) / 2 * (LEVELS - 1)).clamp(0, LEVELS - 1)
        return level / (LEVELS - 1)

    def check_support(self, x: torch.Tensor, what: str) -> None:
        super().check_support(x, what)
        low, high = float(x.min()), float(x.max())
        off_grid = (x * (LEVELS - 1) - torch.round(x * (LEVELS - 1))).abs().max()
        if low < 0 or high > 1 or float(off_grid) > ON_GRID_TOLERANCE:
            raise VaelabError(f"{what} is not 8-bit data x = k/255 (values in [{low:g}, "
                              f"{high:g}], up to {float(off_grid):.3g} from a level), but the "
                              f"{self.cfg.name} likelihood is a probability of the 256 "
                              "levels; use 8-bit images with --binarize none, or another "
                              "--likelihood")

    @classmethod
    def describe_config(cls, cfg) -> str:
        return f"discretized logistic mixture (K = {cfg.mixtures} per sub-pixel, 8-bit)"
