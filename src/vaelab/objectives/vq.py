"""The VQ-VAE's two training stages (van den Oord et al. 2017), for ``--model vqvae``.

Stage 1 (the first ``--autoencoder-epochs`` epochs), their eq. 3 per image:

    L = −log p(x|z_q(x)) + ‖sg[z_e(x)] − e‖² + β ‖z_e(x) − sg[e]‖²,

with the straight-through estimator for the decoder's input, the middle (codebook) term
only under ``--codebook-update loss`` (the EMA rule moves the codes instead, after each
training step: ``after_step``), β = ``--commitment``. Stage 2 (every later epoch): the
encoder, codebook and decoder are frozen (no gradient reaches them) and the PixelCNN code
prior learns −log p(c) of the codes c(x) of the training images (§3.3).

Not variational: there is no q(z|x) and so no ELBO; evaluation reports the
reconstruction error −log p(x|z_q(x)). Logged per epoch (history's train_<name>):
commitment ‖z_e − sg[e]‖², code_nll (the prior's −log p(c), in stage 1 of the prior as
yet untrained), codebook perplexity and the fraction of codes used per batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vaelab.errors import VaelabError
from vaelab.objectives.base import OBJECTIVES, Objective, ObjectiveOutput
from vaelab.options import option


@OBJECTIVES.register("vq")
class VectorQuantised(Objective):
    """See the module docstring."""

    @dataclass
    class Options:
        commitment: float = option(0.25, "Commitment weight β of --objective vq (van den "
                                   "Oord et al. 2017, eq. 3).", low=0.0)
        autoencoder_epochs: int = option(
            5, "--objective vq: epochs of stage 1 (encoder, codebook, decoder); the epochs "
            "after them train the PixelCNN prior over the codes.", low=1)

    examples = [{}, {"commitment": 1.0, "autoencoder_epochs": 2}]
    is_variational = False
    model_family = "vqvae"  # the family it trains (the contract tests build it)

    def check(self, model) -> None:
        if not hasattr(model, "quantize"):
            raise VaelabError("--objective vq trains a vector-quantised model; add "
                              "--model vqvae")

    def kl_weight(self, step: int) -> float:
        return 0.0

    def prior_stage(self, step: int) -> bool:
        return step >= self.cfg.autoencoder_epochs * self.steps_per_epoch

    def __call__(self, model, x, step, generator=None, kl_weight=None) -> ObjectiveOutput:
        batch = x.shape[0]
        training_prior = self.prior_stage(step)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not training_prior):
            z_e, straight, quantized, codes = model.quantize(x)
            params = model.decoder_params(straight.reshape(batch, -1))
            recon = -model.likelihood.log_prob(x, params)  # [B]
            commitment = ((z_e - quantized.detach()) ** 2).reshape(batch, -1).sum(1)
            loss_per_image = recon + self.cfg.commitment * commitment
            if model.quantizer.update_rule == "loss":
                codebook = ((z_e.detach() - quantized) ** 2).reshape(batch, -1).sum(1)
                loss_per_image = loss_per_image + codebook
        with torch.set_grad_enabled(torch.is_grad_enabled() and training_prior):
            code_nll = model.code_nll(codes)  # [B]
        loss = code_nll.mean() if training_prior else loss_per_image.mean()
        perplexity, used = code_usage(codes, model.quantizer.codes)
        return ObjectiveOutput(loss=loss, recon=recon, kl=torch.zeros_like(recon),
                               kl_weight=0.0,
                               terms={"commitment": commitment, "code_nll": code_nll,
                                      "codebook_perplexity": perplexity,
                                      "codes_used": used})

    @torch.no_grad()
    def after_step(self, model, x: torch.Tensor, step: int) -> None:
        """Stage 1: the codebook's EMA update and dead-code reset with the encoder outputs
        of the batch (after the step: the encoder as it now is). Stage 2: count the
        prior's steps (an untrained prior refuses to sample)."""
        if self.prior_stage(step):
            model.prior.trained_steps += 1
            return
        z_e = model.encoder(x).reshape(-1, model.code_dim)
        model.quantizer.update(z_e, model.quantizer.nearest(z_e))

    @classmethod
    def describe_config(cls, cfg) -> str:
        return (f"vq β={cfg.commitment:g}, {cfg.autoencoder_epochs} autoencoder epochs, then "
                "the code prior")


def code_usage(index: torch.Tensor, codes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(perplexity exp(−Σ p_k log p_k) of the codes' frequencies p_k, fraction of the K
    codes used) over the indices of one batch."""
    freq = torch.bincount(index.flatten(), minlength=codes).to(torch.float32)
    freq = freq / freq.sum()
    entropy = -(freq * torch.log(freq.clamp_min(1e-12))).sum()
    return torch.exp(entropy), (freq > 0).to(torch.float32).mean()
