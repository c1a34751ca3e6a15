"""The Wasserstein autoencoder with the MMD penalty (Tolstikhin et al. 2018)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vaelab.objectives.base import OBJECTIVES, Objective, ObjectiveOutput, kl_term
from vaelab.objectives.mmd import WAE_SCALES, mmd
from vaelab.options import option


@OBJECTIVES.register("wae-mmd")
class WAEMMD(Objective):
    """loss = mean_B[c(x, G(z))] + λ·MMD²(q(z), p(z)) (Tolstikhin et al. 2018, eq. 4 and
    Algorithm 2), c(x, G(z)) = −log p(x|z) of the chosen likelihood (the paper's squared
    error is the gaussian likelihood's up to constants), MMD² unbiased with the IMQ kernel
    summed over the paper's scales (``mmd.WAE_SCALES``). --wae-encoder deterministic:
    z = the encoder's mean (the paper's MNIST setting); gaussian: z ~ q(z|x)
    reparameterised. The loss is no bound on log p(x). With a deterministic encoder the
    model has no posterior density: like the autoencoder, it has no KL and no ELBO and
    evaluation reports its reconstruction error. With a Gaussian encoder it defines q and
    p, so evaluation reports its true ELBO. MMD² is logged as train_mmd."""

    graph_safe = True  # a pure tensor step: may be captured in a CUDA graph

    @dataclass
    class Options:
        lambda_mmd: float = option(10.0, "Weight λ of the MMD between the aggregate "
                                   "posterior and the prior (infovae: default 1000; "
                                   "wae-mmd: default 10).", low=0.0)
        wae_encoder: str = option(
            "deterministic", "wae-mmd's encoder: deterministic (z = the encoder's mean; "
            "no ELBO) or gaussian (z ~ q(z|x); the true ELBO is reported).",
            choices=lambda: ["deterministic", "gaussian"])

    examples = [{}, {"wae_encoder": "gaussian", "lambda_mmd": 1.0}]

    @classmethod
    def variational(cls, cfg) -> bool:
        return cfg.wae_encoder == "gaussian"

    def kl_weight(self, step: int) -> float:
        return 0.0

    def __call__(self, model, x, step, generator=None, kl_weight=None) -> ObjectiveOutput:
        q = model.posterior(x)
        z = q.rsample(generator=generator) if self.is_variational else q.mean
        recon = -model.likelihood.log_prob(x, model.decoder_params(z))
        prior_z = model.prior.sample(z.shape[0], generator=generator)
        divergence = mmd(z, prior_z, "imq", WAE_SCALES)
        kl = kl_term(model, q, z) if self.is_variational else torch.zeros_like(recon)
        return ObjectiveOutput(loss=recon.mean() + self.cfg.lambda_mmd * divergence,
                               recon=recon, kl=kl, kl_weight=0.0, terms={"mmd": divergence})

    @classmethod
    def describe_config(cls, cfg) -> str:
        no_elbo = "" if cls.variational(cfg) else " (no ELBO)"
        return f"wae-mmd λ={cfg.lambda_mmd:g}, {cfg.wae_encoder} encoder, IMQ MMD{no_elbo}"
