"""The importance-weighted autoencoder bound (Burda et al. 2015)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from vaelab.objectives.base import OBJECTIVES, Objective, ObjectiveOutput, analytic_kl
from vaelab.options import option


@OBJECTIVES.register("iwae")
class IWAE(Objective):
    """loss = −mean_B[ log (1/k) Σ_i p(x, z_i)/q(z_i|x) ], z_1..z_k ~ q(z|x)
    reparameterised (Burda et al. 2015, eq. 8; k = --iwae-k). The gradient is plain
    autograd through the log-sum-exp of the reparameterised weights — the paper's
    estimator (eq. 14); nothing is detached. k = 1 is exactly the ELBO with a Monte Carlo
    KL. The logged recon/KL are the true-ELBO terms averaged over the k samples."""

    @dataclass
    class Options:
        iwae_k: int = option(5, "Importance samples k of the iwae bound.", low=1)

    examples = [{}, {"iwae_k": 1}]

    def __call__(self, model, x, step, generator=None, kl_weight=None) -> ObjectiveOutput:
        k = self.cfg.iwae_k
        q = model.posterior(x)
        z, log_qz = q.rsample_with_log_prob(k, generator=generator)  # [k, B, Z], [k, B]
        log_px_z = model.likelihood.log_prob(x, model.decoder_params(z))  # [k, B]
        log_pz = model.prior.log_prob(z)
        bound = torch.logsumexp(log_px_z + log_pz - log_qz, dim=0) - math.log(k)  # [B]
        analytic = analytic_kl(model, q)
        kl = analytic if analytic is not None else (log_qz - log_pz).mean(0)
        recon = -log_px_z.mean(0)
        return ObjectiveOutput(loss=-bound.mean(), recon=recon, kl=kl)

    @classmethod
    def describe_config(cls, cfg) -> str:
        return f"iwae k={cfg.iwae_k}"
