"""The (β-)ELBO with KL warm-up / cyclical annealing and free bits."""

from __future__ import annotations

from dataclasses import dataclass

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
from vaelab.options import option


@dataclass
class KLWeightOptions:
    """The KL weight β·w(step) of objectives of the form recon + weight·KL."""

    beta: float = option(1.0, "Weight of the KL term (beta-VAE; 1 is the true ELBO).",
                         low=0.0)
    warmup: float = option(0.0, "Length of the KL warm-up (linear from 0 to beta) or of one "
                           "annealing cycle; 0 = none.", low=0.0)
    warmup_unit: str = option("epochs", "Unit of --warmup.",
                              choices=lambda: ["epochs", "steps"])
    anneal: str = option("linear", "KL schedule: linear warm-up, or cyclical (Fu et al. "
                         "2019: repeats every --warmup).", choices=KL_SCHEDULES.names)


@OBJECTIVES.register("elbo")
class ELBO(Objective):
    """loss = mean_B[ −log p(x|z) ] + w(step)·β·KL-term, z ~ q(z|x) reparameterised
    (Kingma & Welling 2014 eq. 3; β-VAE: Higgins et al. 2017).
    w(step) is the warm-up / cyclical factor (--warmup, --anneal). With --free-bits λ
    the KL-term is Σ_j max(λ, mean_B KL_j) (Kingma et al. 2016, eq. 15: per latent
    dimension, averaged over the batch before the max)."""

    @dataclass
    class Options(KLWeightOptions):
        free_bits: float = option(
            0.0, "Free bits λ in nats per latent dimension (Kingma et al. 2016): "
            "Σ_j max(λ, batch-mean KL_j); 0 = off.", low=0.0)

    examples = [{}, {"beta": 4.0, "warmup": 2, "warmup_unit": "steps"},
                {"anneal": "cyclical", "warmup": 3, "warmup_unit": "steps",
                 "free_bits": 0.1}]
    stackable = True
    graph_safe = True
    per_model_options = ("beta", "warmup", "warmup_unit", "anneal")

    def __init__(self, cfg, steps_per_epoch: int = 1, train_size: int | None = None):
        super().__init__(cfg, steps_per_epoch, train_size)
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
            layers = None
        else:
            # A hierarchical model's KL per layer (history's train_kl_z1, …); None otherwise.
            layers = model.prior.kl_layers(q, z)
            kl = kl_term(model, q, z) if layers is None else sum(layers.values())
            loss = (recon + weight * kl).mean()
        return ObjectiveOutput(loss=loss, recon=recon, kl=kl, kl_weight=weight, terms=layers)

    @classmethod
    def describe_config(cls, cfg) -> str:
        parts = ["elbo" if cfg.beta == 1 else f"elbo β={cfg.beta!r}"]
        if cfg.warmup > 0:
            parts.append(f"{cfg.anneal} KL schedule over {cfg.warmup:g} {cfg.warmup_unit}")
        if cfg.free_bits > 0:
            parts.append(f"free bits {cfg.free_bits:g} nats/dim")
        return ", ".join(parts)

    @classmethod
    def batching_obstacle(cls, cfg) -> str | None:
        if cfg.free_bits > 0:
            return ("--free-bits: the free-bits KL averages over dimension 0, which the "
                    "batched backend uses for the models")
        return None


def true_elbo() -> ELBO:
    """The plain ELBO (β = 1, no schedule, no free bits) used for every logged number,
    whatever objective was trained."""
    return ELBO.with_defaults("elbo")
