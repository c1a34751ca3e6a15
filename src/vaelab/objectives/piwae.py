"""The partially importance-weighted autoencoder (Rainforth et al. 2018)."""

from __future__ import annotations

import torch

from vaelab.objectives.base import OBJECTIVES, Objective, ObjectiveOutput
from vaelab.objectives.iwae import importance_weights, iwae_bound
from vaelab.objectives.miwae import MultiSampleOptions, miwae_bound


@OBJECTIVES.register("piwae")
class PIWAE(Objective):
    """Two targets from the same M·K reparameterised samples (Rainforth et al. 2018, §4,
    "PIWAE"; M = --iwae-m, K = --iwae-k): the generative model (decoder, likelihood and
    prior parameters, θ) climbs the IWAE bound of all M·K samples, whose θ-gradient
    improves with more samples; the encoder (φ) climbs the MIWAE bound (M bounds of K),
    whose φ-gradient does not lose its signal-to-noise ratio as the samples grow (their
    §3). Each parameter group gets the gradient of its own target: two autograd.grad
    calls over one forward pass, handed to the training loop as a surrogate loss whose
    value is −IWAE (the θ target, a bound on log p(x)) and whose gradient is exactly the
    two targets' gradients, one per group. The logged recon/KL are the true-ELBO terms
    averaged over the M·K samples."""

    graph_safe = True  # a pure tensor step: may be captured in a CUDA graph

    Options = MultiSampleOptions
    examples = [{}, {"iwae_m": 2, "iwae_k": 1}]

    def __call__(self, model, x, step, generator=None, kl_weight=None) -> ObjectiveOutput:
        m = self.cfg.iwae_m
        weights = importance_weights(model, x, m * self.cfg.iwae_k, generator)
        decoder_loss = -iwae_bound(weights.log_w).mean()
        encoder_loss = -miwae_bound(weights.log_w, m).mean()
        loss = decoder_loss
        if torch.is_grad_enabled() and decoder_loss.requires_grad:
            encoder = list(model.encoder.parameters())
            mine = {id(p) for p in encoder}
            rest = [p for p in model.parameters() if p.requires_grad and id(p) not in mine]
            loss = decoder_loss.detach() + surrogate(encoder_loss, encoder, retain=True) \
                + surrogate(decoder_loss, rest, retain=False)
        return ObjectiveOutput(loss=loss, recon=weights.recon, kl=weights.kl)

    @classmethod
    def describe_config(cls, cfg) -> str:
        return (f"piwae M={cfg.iwae_m}, K={cfg.iwae_k} (decoder: iwae of M·K samples; "
                "encoder: miwae)")


def surrogate(target: torch.Tensor, params: list[torch.Tensor], *, retain: bool
              ) -> torch.Tensor:
    """A scalar of value 0 whose gradient with respect to ``params`` is the gradient of
    ``target`` (and 0 for every other parameter): Σ_p ⟨g_p, p⟩ − its detached value, with
    g_p = ∂target/∂p held constant."""
    grads = torch.autograd.grad(target, params, retain_graph=retain, allow_unused=True)
    total = target.new_zeros(())
    for param, grad in zip(params, grads, strict=True):
        if grad is not None:
            total = total + (grad.detach() * param).sum()
    return total - total.detach()
