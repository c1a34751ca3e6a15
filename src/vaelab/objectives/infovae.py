"""InfoVAE / MMD-VAE (Zhao et al. 2017, "InfoVAE: balancing learning and inference in
variational autoencoders")."""

from __future__ import annotations

from dataclasses import dataclass

from vaelab.errors import VaelabError
from vaelab.objectives.base import OBJECTIVES, Objective, ObjectiveOutput, kl_term
from vaelab.objectives.mmd import KERNELS, mmd
from vaelab.options import option


@OBJECTIVES.register("infovae")
class InfoVAE(Objective):
    """loss = mean_B[−log p(x|z) + (1 − α)·KL(q(z|x) ‖ p(z))] + (α + λ − 1)·MMD²(q(z), p(z)),
    z ~ q(z|x) reparameterised (Zhao et al. 2017, eq. 6 with the MMD divergence: the
    MMD-VAE is α = 0). MMD² (``mmd.mmd``, unbiased) compares the batch's codes with as
    many prior samples, with the --kernel (rbf or imq) at C = 2·Z. It is logged, unweighted,
    as train_mmd. The loss is not a bound on log p(x) (the MMD term is no KL, and α ≠ 0
    drops part of the KL); the logged recon/KL/ELBO are the true ELBO's (β = 1)."""

    graph_safe = True  # a pure tensor step: may be captured in a CUDA graph

    @dataclass
    class Options:
        alpha: float = option(0.0, "InfoVAE's α: the KL has weight 1 − α, so α <= 1 "
                              "(infovae: default 0, the MMD-VAE).", low=0.0)
        lambda_mmd: float = option(1000.0, "Weight λ of the MMD between the aggregate "
                                   "posterior and the prior (infovae: default 1000; "
                                   "wae-mmd: default 10).", low=0.0)
        kernel: str = option("rbf", "Kernel of the MMD: rbf (exp(−‖x−y‖²/C)) or imq "
                             "(C/(C + ‖x−y‖²)), C = 2·latent dim.",
                             choices=lambda: list(KERNELS))

    examples = [{"alpha": 0.0}, {"alpha": 0.5, "lambda_mmd": 10.0, "kernel": "imq"}]

    def check(self, model) -> None:
        if self.cfg.alpha > 1:
            raise VaelabError(f"--alpha {self.cfg.alpha:g}: infovae weights the KL by "
                              "1 − α, so α must be <= 1; give --alpha between 0 and 1")
        if self.cfg.alpha + self.cfg.lambda_mmd < 1:
            raise VaelabError(f"infovae weights the MMD by α + λ − 1 = "
                              f"{self.cfg.alpha + self.cfg.lambda_mmd - 1:g} < 0; raise "
                              "--lambda-mmd to at least 1 − α")

    def __call__(self, model, x, step, generator=None, kl_weight=None) -> ObjectiveOutput:
        q = model.posterior(x)
        z = q.rsample(generator=generator)
        recon = -model.likelihood.log_prob(x, model.decoder_params(z))
        kl = kl_term(model, q, z)
        prior_z = model.prior.sample(z.shape[0], generator=generator)
        divergence = mmd(z, prior_z, self.cfg.kernel)
        alpha, lam = self.cfg.alpha, self.cfg.lambda_mmd
        loss = (recon + (1 - alpha) * kl).mean() + (alpha + lam - 1) * divergence
        return ObjectiveOutput(loss=loss, recon=recon, kl=kl, kl_weight=1 - alpha,
                               terms={"mmd": divergence})

    @classmethod
    def describe_config(cls, cfg) -> str:
        return f"infovae α={cfg.alpha:g}, λ={cfg.lambda_mmd:g}, {cfg.kernel} MMD"
