"""The (β-)ELBO with KL warm-up / cyclical annealing and free bits."""

from __future__ import annotations

import torch

from vaelab.objectives.base import (
    OBJECTIVES,
    Objective,
    ObjectiveOutput,
    kl_per_dim,
    kl_term,
    require_per_dim_kl,
)
from vaelab.objectives.schedules import KL_SCHEDULES, steps_from


@OBJECTIVES.register("elbo")
class ELBO(Objective):
    """loss = mean_B[ −log p(x|z) ] + w(step)·β·KL-term, z ~ q(z|x) reparameterised
    (Kingma & Welling 2014 eq. 3; β-VAE: Higgins et al. 2017).
    w(step) is the warm-up / cyclical factor (--warmup, --anneal). With --free-bits λ
    the KL-term is Σ_j max(λ, mean_B KL_j) (Kingma et al. 2016, eq. 15: per latent
    dimension, averaged over the batch before the max)."""

    def __init__(self, cfg, steps_per_epoch: int = 1):
        super().__init__(cfg, steps_per_epoch)
        self.schedule_steps = steps_from(cfg.warmup, cfg.warmup_unit, steps_per_epoch)
        self.schedule = KL_SCHEDULES.get(cfg.anneal)

    def check(self, model) -> None:
        if self.cfg.free_bits > 0:
            require_per_dim_kl(model, f"--free-bits {self.cfg.free_bits:g}")

    def kl_weight(self, step: int) -> float:
        return self.cfg.beta * self.schedule(step, self.schedule_steps)

    def __call__(self, model, x, step, generator=None, kl_weight=None) -> ObjectiveOutput:
        q = model.posterior(x)
        z = q.rsample(generator=generator)
        recon = -model.likelihood.log_prob(x, model.decoder_params(z))
        weight = self.kl_weight(step) if kl_weight is None else kl_weight
        if self.cfg.free_bits > 0:
            per_dim = kl_per_dim(model, q, z)  # [B, Z]
            kl = per_dim.sum(-1)
            clamped = torch.clamp(per_dim.mean(0), min=self.cfg.free_bits).sum()
            loss = recon.mean() + weight * clamped
        else:
            kl = kl_term(model, q, z)
            loss = (recon + weight * kl).mean()
        return ObjectiveOutput(loss=loss, recon=recon, kl=kl, kl_weight=weight)

    def describe(self) -> str:
        parts = [f"elbo β={self.cfg.beta:g}"]
        if self.schedule_steps > 0:
            parts.append(f"{self.cfg.anneal} KL schedule over {self.cfg.warmup:g} "
                         f"{self.cfg.warmup_unit}")
        if self.cfg.free_bits > 0:
            parts.append(f"free bits {self.cfg.free_bits:g} nats/dim")
        return ", ".join(parts)


def true_elbo(cfg) -> ELBO:
    """The plain ELBO (β = 1, no schedule, no free bits) used for every logged number."""
    from dataclasses import replace

    return ELBO(replace(cfg, name="elbo", beta=1.0, warmup=0.0, free_bits=0.0))
