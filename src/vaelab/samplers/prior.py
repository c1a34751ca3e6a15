"""The model's own prior p(z): what `vaelab sample` has always decoded."""

from __future__ import annotations

import torch

from vaelab.samplers.base import SAMPLERS, LatentSampler


@SAMPLERS.register("prior")
class PriorSampler(LatentSampler):
    """z ~ p(z); nothing to fit or store."""

    stored = False

    def __init__(self, model):
        self.model = model

    @classmethod
    def fit(cls, model, data, **options) -> PriorSampler:
        return cls(model)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.model.prior.sample(n, generator=generator)

    def describe(self) -> str:
        return f"the {self.model.config.prior.name} prior"
