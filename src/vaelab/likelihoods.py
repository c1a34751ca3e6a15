"""Decoder likelihoods p(x|z).

Every likelihood turns the decoder's raw output ``params`` [..., B, P·D] into a
distribution over flattened images [B, D] and answers in nats, summed per image
(DESIGN rule 2): ``log_prob(x, params) -> [..., B]``. Adding one = a class here + its
registry line; the contract tests in tests/test_contracts.py pick it up automatically.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from vaelab.config import LikelihoodConfig
from vaelab.errors import VaelabError
from vaelab.registry import Registry

LIKELIHOODS: Registry[type[Likelihood]] = Registry("likelihood")


class Likelihood(nn.Module):
    """Base class. Subclasses set ``params_per_pixel`` and implement the four methods."""

    params_per_pixel: int = 1
    # False for losses that are not normalised densities (e.g. perceptual): then the
    # "ELBO" is not a bound on log p(x) and outputs must say so.
    is_density: bool = True

    def __init__(self, cfg: LikelihoodConfig):
        super().__init__()
        self.cfg = cfg

    def log_prob(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def sample(self, params: torch.Tensor, generator: torch.Generator | None = None
               ) -> torch.Tensor:
        raise NotImplementedError

    def check_support(self, x: torch.Tensor, what: str) -> None:
        """Raise a VaelabError naming ``what`` if the data cannot come from this
        likelihood."""
        if not torch.isfinite(x).all():
            raise VaelabError(f"{what} contains NaN or infinite values; clean the data")


@LIKELIHOODS.register("bernoulli")
class Bernoulli(Likelihood):
    """Independent Bernoulli pixels with logits = params (Kingma & Welling 2014, App. C.1).
    log p(x|z) = Σ_d x_d log σ(l_d) + (1−x_d) log(1−σ(l_d)) = −BCE-with-logits. On grey
    data in [0,1] this is the usual "BCE loss" but not a normalised density."""

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
        low, high = float(x.min()), float(x.max())
        if low < 0 or high > 1:
            raise VaelabError(f"{what} has values in [{low:g}, {high:g}] but the bernoulli "
                              "likelihood needs data in [0, 1]; rescale the data or choose "
                              "another --likelihood")


@LIKELIHOODS.register("gaussian")
class Gaussian(Likelihood):
    """Independent Gaussian pixels N(x; μ, σ²) with μ = sigmoid(params) (means stay in the
    [0,1] pixel range) and a fixed σ (``--sigma``). The normalising constant is included,
    so values are true nats: −log p = ‖x−μ‖²/(2σ²) + D·(log σ + ½ log 2π), i.e. MSE up to
    constants."""

    def __init__(self, cfg: LikelihoodConfig):
        super().__init__(cfg)
        self.sigma = cfg.sigma
        self._log_norm = math.log(cfg.sigma) + 0.5 * math.log(2 * math.pi)

    def log_prob(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        squared = (x - torch.sigmoid(params)) ** 2
        data_dim = params.shape[-1]
        return -squared.sum(-1) / (2 * self.sigma**2) - data_dim * self._log_norm

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(params)

    def sample(self, params: torch.Tensor, generator: torch.Generator | None = None
               ) -> torch.Tensor:
        noise = torch.randn(params.shape, generator=generator, device=params.device,
                            dtype=params.dtype)
        return torch.sigmoid(params) + self.sigma * noise


def build_likelihood(cfg: LikelihoodConfig) -> Likelihood:
    return LIKELIHOODS.get(cfg.name)(cfg)
