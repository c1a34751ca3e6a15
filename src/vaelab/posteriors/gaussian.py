"""The diagonal Gaussian posterior, the default (Kingma & Welling 2014, §3)."""

from __future__ import annotations

import torch

from vaelab.posterior import DiagonalGaussian
from vaelab.posteriors.base import POSTERIORS, PosteriorFamily


@POSTERIORS.register("gaussian")
class Gaussian(PosteriorFamily):
    """q(z|x) = N(μ(x), diag σ²(x)); the encoder outputs μ and log σ² (2Z numbers).
    The closed forms of vaelab.posterior apply to it alone."""

    diagonal = True

    @property
    def raw_size(self) -> int:
        return 2 * self.latent_dim

    def forward(self, raw: torch.Tensor) -> DiagonalGaussian:
        return DiagonalGaussian.from_raw(raw)

    @classmethod
    def describe_config(cls, cfg) -> str:
        return "diagonal Gaussian q"
