"""The code prior of a VQ-VAE (--model vqvae), on the codes c(x) its encoder gives a
split: the prior's −log p(c) (the PixelCNN's exact autoregressive likelihood, nats per
image and bits per code), the reconstruction error −log p(x|z_q(x)), and their sum,
an upper bound on −log p(x) of the whole model: p(x) = Σ_c p(x|c) p(c) ≥ p(x|c(x)) p(c(x)),
one term of the sum. The bound is loose (one code of K^(G·G)); it is no ELBO (there is
no q(z|x)), and the report says which it is."""

from __future__ import annotations

import math

import torch

from vaelab.data import PreparedData
from vaelab.metrics.base import check_applicable, provenance, register, scored_split
from vaelab.metrics.shown import Number
from vaelab.model import VAE

SAME_IMAGES = ("images", "binarization")
NUMBERS = (
    Number("code NLL", ("code_nll", "code_nll"), better="lower", comparable=SAME_IMAGES),
    Number("bits/code", ("code_nll", "bits_per_code"), unit="", format=".3f", better="lower",
           comparable=SAME_IMAGES),
    Number("NLL bound (one code)", ("code_nll", "nll_bound"), better="lower",
           comparable=SAME_IMAGES),
)


def _without_code_prior(model: VAE) -> str | None:
    if hasattr(model, "code_nll"):
        return None
    return (f"needs a model with a learned code prior (--model vqvae); this run is a "
            f"{model.config.model.name}")


@register("code-nll", key="code_nll", cheap=False, model_unfit=_without_code_prior,
          help="a VQ-VAE's code prior: −log p(c) of the encoder's codes, and the bound "
               "recon + code NLL ≥ −log p(x)", title="code prior", numbers=NUMBERS)
def gather(model: VAE, data: PreparedData, *, seed: int = 0, split: str = "test",
           batch_size: int = 2000, progress: bool = False) -> dict:
    check_applicable("code-nll", data, split, model=model)
    scored = scored_split(data, split)
    was_training = model.training
    model.eval()
    nll = recon = 0.0
    try:
        with torch.no_grad():
            for start in range(0, len(scored), batch_size):
                x = scored.x[start:start + batch_size]
                _, _, quantized, codes = model.quantize(x)
                params = model.decoder_params(quantized.reshape(x.shape[0], -1))
                recon += float(-model.likelihood.log_prob(x, params).double().sum())
                nll += float(model.code_nll(codes).double().sum())
    finally:
        model.train(was_training)
    n, positions = len(scored), model.grid * model.grid
    nll, recon = nll / n, recon / n
    return {
        **provenance(data, scored, seed),
        "estimator": ("exact: the PixelCNN prior's −log p(c) of the encoder's code grid c(x); "
                      "nll_bound = reconstruction error + code NLL ≥ −log p(x) (one term of "
                      "Σ_c p(x|c) p(c)); not an ELBO"),
        "units": "nats per image",
        "code_nll": nll,
        "bits_per_code": nll / (positions * math.log(2)),
        "recon": recon,
        "nll_bound": recon + nll,
        "prior_trained_steps": int(model.prior.trained_steps),
    }
