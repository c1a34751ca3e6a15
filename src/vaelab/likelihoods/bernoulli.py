"""Bernoulli and continuous Bernoulli pixels."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from vaelab.likelihoods.base import LIKELIHOODS, Likelihood, check_unit_interval


@LIKELIHOODS.register("bernoulli")
class Bernoulli(Likelihood):
    """Independent Bernoulli pixels with logits = params (Kingma & Welling 2014, App. C.1):
    log p(x|z) = Σ_d x_d log σ(l_d) + (1−x_d) log(1−σ(l_d)) = −BCE-with-logits. On grey
    data in (0,1) this is the usual "BCE loss" but not a normalised density (use
    continuous-bernoulli or binarise the data)."""

    support = "binary"

    def log_prob(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        target = x.expand_as(params)
        return -F.binary_cross_entropy_with_logits(params, target, reduction="none").sum(-1)

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(params)

    def sample(self, params: torch.Tensor, generator: torch.Generator | None = None
               ) -> torch.Tensor:
        return torch.bernoulli(torch.sigmoid(params), generator=generator)

    def check_support(self, x: torch.Tensor, what: str) -> None:
        super().check_support(x, what)
        check_unit_interval(x, what, self.cfg.name)


# Near λ = ½ (logit 0) the closed forms below are 0/0; for |logit| below this their
# Taylor series are used (the next term is O(l⁶), far below float32 precision).
_CB_SERIES_BELOW = 1e-2


def _cb_log_normalizer(logits: torch.Tensor) -> torch.Tensor:
    """log C(λ) of the continuous Bernoulli, λ = σ(l) (Loaiza-Ganem & Cunningham 2019,
    eq. 7): C(λ) = 2·atanh(1−2λ)/(1−2λ) for λ ≠ ½, and 2 at λ = ½.
    With 1−2λ = −tanh(l/2) and atanh(1−2λ) = −l/2 this is C = l / tanh(l/2), which is
    stable for large |l|; near l = 0 the series log 2 + l²/12 − 7l⁴/1440 is used."""
    small = logits.abs() < _CB_SERIES_BELOW
    safe = torch.where(small, torch.ones_like(logits), logits)
    exact = torch.log(safe / torch.tanh(safe / 2))
    series = math.log(2.0) + logits**2 / 12 - 7 * logits**4 / 1440
    return torch.where(small, series, exact)


@LIKELIHOODS.register("continuous-bernoulli")
class ContinuousBernoulli(Likelihood):
    """The continuous Bernoulli (Loaiza-Ganem & Cunningham 2019): the properly normalised
    density on [0, 1] whose unnormalised part is the Bernoulli's, so
    log p(x|λ) = BCE-term + log C(λ). Its mean is not λ:
    E[x] = λ/(2λ−1) + 1/(2·atanh(1−2λ)), which figures show."""

    support = "unit-interval"

    def log_prob(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        target = x.expand_as(params)
        unnormalised = -F.binary_cross_entropy_with_logits(params, target, reduction="none")
        return (unnormalised + _cb_log_normalizer(params)).sum(-1)

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        # In logits: E[x] = 1/(1−e^{−l}) − 1/l, with the series ½ + l/12 near l = 0.
        small = params.abs() < _CB_SERIES_BELOW
        safe = torch.where(small, torch.ones_like(params), params)
        exact = 1 / (-torch.expm1(-safe)) - 1 / safe
        return torch.where(small, 0.5 + params / 12, exact)

    def sample(self, params: torch.Tensor, generator: torch.Generator | None = None
               ) -> torch.Tensor:
        # Inverse CDF (paper eq. 8 in logits): x = log(1 + u(e^l − 1)) / l, u ~ U(0,1).
        u = torch.rand(params.shape, generator=generator, device=params.device,
                       dtype=params.dtype)
        small = params.abs() < 1e-6  # log1p/expm1 keep the exact form accurate down to here
        safe = torch.where(small, torch.ones_like(params), params)
        exact = torch.log1p(u * torch.expm1(safe)) / safe
        return torch.where(small, u, exact).clamp(0, 1)

    def check_support(self, x: torch.Tensor, what: str) -> None:
        super().check_support(x, what)
        check_unit_interval(x, what, self.cfg.name)
