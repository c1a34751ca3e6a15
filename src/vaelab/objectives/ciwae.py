"""The combination importance-weighted autoencoder bound (Rainforth et al. 2018)."""

from __future__ import annotations

from dataclasses import dataclass

from vaelab.objectives.base import OBJECTIVES, Objective, ObjectiveOutput
from vaelab.objectives.iwae import IWAE, importance_weights, iwae_bound
from vaelab.options import option


@OBJECTIVES.register("ciwae")
class CIWAE(Objective):
    """loss = −mean_B[ β·(1/K) Σ_k log w_k + (1−β)·log (1/K) Σ_k w_k ],
    w_k = p(x, z_k)/q(z_k|x), z_1..z_K ~ q(z|x) reparameterised: the convex combination
    of the K-sample Monte Carlo ELBO and the IWAE bound of the same samples (Rainforth et
    al. 2018, §4, "CIWAE"; β = --ciwae-beta, K = --iwae-k). Both are lower bounds on
    log p(x), so the combination is one. β = 1 is the ELBO (Monte Carlo KL), β = 0 is
    IWAE. The logged recon/KL are the true-ELBO terms averaged over the K samples."""

    graph_safe = True  # a pure tensor step: may be captured in a CUDA graph

    @dataclass
    class Options(IWAE.Options):
        ciwae_beta: float = option(0.5, "Weight β of the ELBO in ciwae's β·ELBO + "
                                   "(1−β)·IWAE.", low=0.0, high=1.0)

    examples = [{}, {"ciwae_beta": 0.0}, {"ciwae_beta": 1.0, "iwae_k": 1}]

    def __call__(self, model, x, step, generator=None, kl_weight=None) -> ObjectiveOutput:
        weights = importance_weights(model, x, self.cfg.iwae_k, generator)
        beta = self.cfg.ciwae_beta
        elbo = weights.log_w.mean(0)  # [B]
        bound = beta * elbo + (1 - beta) * iwae_bound(weights.log_w)
        return ObjectiveOutput(loss=-bound.mean(), recon=weights.recon, kl=weights.kl)

    @classmethod
    def describe_config(cls, cfg) -> str:
        return f"ciwae β={cfg.ciwae_beta:g}, K={cfg.iwae_k}"
