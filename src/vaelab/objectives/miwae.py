"""The multiply importance-weighted autoencoder bound (Rainforth et al. 2018)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vaelab.objectives.base import OBJECTIVES, Objective, ObjectiveOutput
from vaelab.objectives.iwae import IWAE, importance_weights, iwae_bound
from vaelab.options import option


@dataclass
class MultiSampleOptions(IWAE.Options):
    """M bounds of K importance samples each (M·K samples per image)."""

    iwae_m: int = option(8, "Number M of K-sample IWAE bounds averaged (miwae; piwae's "
                         "encoder target); M·K posterior samples per image. Rainforth et "
                         "al. 2018 compare e.g. M = K = 8.", low=1)


def miwae_bound(log_w: torch.Tensor, m: int) -> torch.Tensor:
    """(1/M) Σ_m log (1/K) Σ_k w_{m,k} [B] from log weights [M·K, B], sample m·K + k in
    group m (Rainforth et al. 2018, §4)."""
    return iwae_bound(log_w.view(m, -1, log_w.shape[-1]), dim=1).mean(0)


@OBJECTIVES.register("miwae")
class MIWAE(Objective):
    """loss = −mean_B[ (1/M) Σ_m log (1/K) Σ_k p(x, z_mk)/q(z_mk|x) ], M·K reparameterised
    samples z_mk ~ q(z|x) (Rainforth et al. 2018, "Tighter variational bounds are not
    necessarily better", §4; M = --iwae-m, K = --iwae-k). The average of M IWAE bounds
    is a looser bound than one IWAE bound on all M·K samples, but its encoder gradient has
    a better signal-to-noise ratio (their §3). M = 1 is IWAE with K samples; K = 1 is the
    M-sample Monte Carlo ELBO. The logged recon/KL are the true-ELBO terms averaged over
    the M·K samples."""

    Options = MultiSampleOptions
    examples = [{}, {"iwae_m": 1, "iwae_k": 3}, {"iwae_m": 3, "iwae_k": 1}]
    graph_safe = True  # a pure tensor step: may be captured in a CUDA graph

    def __call__(self, model, x, step, generator=None, kl_weight=None) -> ObjectiveOutput:
        weights = importance_weights(model, x, self.cfg.iwae_m * self.cfg.iwae_k, generator)
        bound = miwae_bound(weights.log_w, self.cfg.iwae_m)  # [B]
        return ObjectiveOutput(loss=-bound.mean(), recon=weights.recon, kl=weights.kl)

    @classmethod
    def describe_config(cls, cfg) -> str:
        return f"miwae M={cfg.iwae_m}, K={cfg.iwae_k}"
