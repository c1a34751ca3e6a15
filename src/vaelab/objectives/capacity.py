"""The capacity-controlled β-VAE objective (Burgess et al. 2018)."""

from __future__ import annotations

from dataclasses import dataclass

from vaelab.objectives.base import OBJECTIVES, Objective, ObjectiveOutput, kl_term
from vaelab.options import option


@OBJECTIVES.register("capacity")
class Capacity(Objective):
    """loss = mean_B[−log p(x|z)] + γ·|mean_B[KL(q(z|x) ‖ p(z))] − C(step)|
    (Burgess et al. 2018, "Understanding disentangling in β-VAE", eq. 8): instead of
    weighting the KL by β, the encoder is pushed to carry exactly C nats, and C rises
    linearly from 0 to --capacity-max over --capacity-steps optimiser steps, so the
    latent channel opens gradually (the paper: γ = 1000, C_max = 25 nats over 100 000
    steps on dSprites). The logged recon/KL/ELBO are the true ELBO's (β = 1) terms of the
    same samples; the loss itself is not a bound on log p(x). ``kl_weight`` reports γ."""

    @dataclass
    class Options:
        gamma: float = option(1000.0, "Weight γ of the capacity term γ·|KL − C|.", low=0.0)
        capacity_max: float = option(25.0, "Final capacity C_max in nats (per image).",
                                     low=0.0)
        capacity_steps: int = option(100000, "Optimiser steps over which C rises linearly "
                                     "from 0 to --capacity-max.", low=1)

    examples = [{}, {"gamma": 10.0, "capacity_max": 5.0, "capacity_steps": 4}]

    def capacity(self, step: int) -> float:
        """C(step): linear from 0 to C_max, then constant (a pure function of the step)."""
        return self.cfg.capacity_max * min(1.0, step / self.cfg.capacity_steps)

    def kl_weight(self, step: int) -> float:
        return self.cfg.gamma

    def __call__(self, model, x, step, generator=None, kl_weight=None) -> ObjectiveOutput:
        q = model.posterior(x)
        z = q.rsample(generator=generator)
        recon = -model.likelihood.log_prob(x, model.decoder_params(z))
        kl = kl_term(model, q, z)
        gamma = self.kl_weight(step) if kl_weight is None else kl_weight
        loss = recon.mean() + gamma * (kl.mean() - self.capacity(step)).abs()
        return ObjectiveOutput(loss=loss, recon=recon, kl=kl, kl_weight=gamma)

    @classmethod
    def describe_config(cls, cfg) -> str:
        return (f"capacity γ={cfg.gamma:g}, C 0→{cfg.capacity_max:g} nats over "
                f"{cfg.capacity_steps} steps")
