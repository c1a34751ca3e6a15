"""The importance-weighted autoencoder bound (Burda et al. 2015), and the importance
weights that the multi-sample objectives (iwae, miwae, piwae, ciwae) share."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from vaelab.objectives.base import OBJECTIVES, Objective, ObjectiveOutput, analytic_kl
from vaelab.options import option


@dataclass
class ImportanceWeights:
    """S posterior samples per image and what every multi-sample objective reads of them."""

    log_w: torch.Tensor  # [S, B] log p(x, z_s) − log q(z_s|x), z_s ~ q(z|x) reparameterised
    recon: torch.Tensor  # [B] −log p(x|z) averaged over the S samples (true-ELBO term)
    kl: torch.Tensor  # [B] analytic KL(q ‖ p), else the Monte Carlo mean of log q − log p


def importance_weights(model, x: torch.Tensor, samples: int,
                       generator: torch.Generator | None = None) -> ImportanceWeights:
    """Draw ``samples`` reparameterised z per image (one [S, B, Z] draw) and weigh them."""
    q = model.posterior(x)
    # log q(z|x) of each draw as the posterior computes it alongside (exact for flows).
    z, log_qz = q.rsample_with_log_prob(samples, generator=generator)  # [S, B, Z], [S, B]
    log_px_z = model.likelihood.log_prob(x, model.decoder_params(z))  # [S, B]
    log_pz = model.prior.log_prob(z)
    log_w = log_px_z + log_pz - log_qz
    analytic = analytic_kl(model, q)
    kl = analytic if analytic is not None else (log_qz - log_pz).mean(0)
    return ImportanceWeights(log_w=log_w, recon=-log_px_z.mean(0), kl=kl)


def iwae_bound(log_w: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """log (1/k) Σ_i w_i over the k weights along ``dim`` (Burda et al. 2015, eq. 8)."""
    return torch.logsumexp(log_w, dim=dim) - math.log(log_w.shape[dim])


@OBJECTIVES.register("iwae")
class IWAE(Objective):
    """loss = −mean_B[ log (1/k) Σ_i p(x, z_i)/q(z_i|x) ], z_1..z_k ~ q(z|x)
    reparameterised (Burda et al. 2015, eq. 8; k = --iwae-k). The gradient is plain
    autograd through the log-sum-exp of the reparameterised weights — the paper's
    estimator (eq. 14); nothing is detached. k = 1 is exactly the ELBO with a Monte Carlo
    KL. The logged recon/KL are the true-ELBO terms averaged over the k samples."""

    @dataclass
    class Options:
        iwae_k: int = option(5, "Importance samples k of the iwae bound (K per bound of "
                             "miwae, piwae and ciwae).", low=1)

    graph_safe = True
    examples = [{}, {"iwae_k": 1}]

    def __call__(self, model, x, step, generator=None, kl_weight=None) -> ObjectiveOutput:
        weights = importance_weights(model, x, self.cfg.iwae_k, generator)
        bound = iwae_bound(weights.log_w)  # [B]
        return ObjectiveOutput(loss=-bound.mean(), recon=weights.recon, kl=weights.kl)

    @classmethod
    def describe_config(cls, cfg) -> str:
        return f"iwae k={cfg.iwae_k}"
