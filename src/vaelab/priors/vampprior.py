"""The VampPrior (Tomczak & Welling 2018)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vaelab.errors import VaelabError
from vaelab.options import option
from vaelab.posterior import DiagonalGaussian
from vaelab.priors.base import PRIORS, Prior


@PRIORS.register("vampprior")
class VampPrior(Prior):
    """p(z) = (1/K) Σ_k q(z | u_k): the aggregate posterior of K = --prior-components
    learnable pseudo-inputs u_k (eq. 9 of the paper), pushed through the model's own
    encoder. The pseudo-inputs live in pixel space, kept in [0, 1] by a sigmoid (the
    paper's hard-tanh plays the same role). Monte Carlo KL."""

    @dataclass
    class Options:
        components: int = option(10, "Number of mixture components / pseudo-inputs.", low=1)

    examples = [{}, {"components": 2}]

    def __init__(self, cfg, latent_dim: int):
        super().__init__(cfg, latent_dim)
        self.pseudo_logits: nn.Parameter | None = None
        self._model: list[nn.Module] = []  # a list, so the encoder is not a submodule

    def bind(self, model: nn.Module) -> None:
        if not model.posterior_family.diagonal:
            raise VaelabError(f"--prior vampprior mixes the encoder's posteriors as diagonal "
                              f"Gaussians, but --posterior {model.config.posterior.name} is "
                              "not one; use --posterior gaussian or another prior")
        # Initialised around grey 0.5 with small noise (paper §3.2: "random values"),
        # with a fixed generator so the model's own RNG stream is untouched.
        generator = torch.Generator().manual_seed(0)
        noise = 0.1 * torch.randn(self.cfg.components, model.data_dim, generator=generator)
        self.pseudo_logits = nn.Parameter(noise)
        self._model = [model]

    def pseudo_inputs(self) -> torch.Tensor:
        return torch.sigmoid(self.pseudo_logits)

    def components(self) -> DiagonalGaussian:
        return self._model[0].posterior(self.pseudo_inputs())  # K Gaussians, [K, Z]

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        mixture = self.components()
        # Evaluate every z [..., B, Z] under every component [K, Z] → [..., B, K].
        per_component = mixture.log_prob_each(z)
        return torch.logsumexp(per_component, dim=-1) - torch.log(
            torch.tensor(float(self.cfg.components), device=z.device))

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        mixture = self.components()
        index = torch.randint(self.cfg.components, (n,), generator=generator,
                              device=self.device)
        noise = self._randn((n, self.latent_dim), generator)
        return mixture.mean[index] + mixture.std[index] * noise

    @classmethod
    def describe_config(cls, cfg) -> str:
        return f"VampPrior with {cfg.components} pseudo-inputs"
