"""Importance-sampled negative log-likelihood (Burda et al. 2015, eq. 8; Rezende et al.
2014, App. E):

    log p(x) ≈ log (1/k) Σ_i p(x, z_i) / q(z_i|x),   z_i ~ q(z|x),

a stochastic lower bound on log p(x) that tightens as k grows (k = 1 is the ELBO in
expectation) and is consistent as k → ∞. The literature reports k = 5000.

The pure core streams: the encoder runs once per block of images, the k samples are drawn
and decoded in chunks of ``samples_per_chunk`` × images rows (one batched matmul each),
and a running max and sum of exp(w − max) per image (a streaming log-sum-exp in float64)
replace the [k, B] weight matrix, so memory does not grow with k. The per-image results go
into two [N] float64 buffers allocated before the loop, so memory does not grow with N
either (vaelab/memory.py says why a list of per-block tensors would), and a chunk's rows
are capped by the memory available (``memory.chunk_size`` with ``decoded_row_bytes``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch

from vaelab.data import PreparedData
from vaelab.errors import VaelabError
from vaelab.evaluate import bits_per_dim, conditional_note
from vaelab.memory import chunk_size
from vaelab.metrics.base import (
    check_positive,
    decoded_row_bytes,
    deterministic_encoder,
    progress_bar,
    provenance,
    register,
    scored_split,
)
from vaelab.metrics.shown import DETAIL, DIAGNOSTIC, Number
from vaelab.model import VAE
from vaelab.posterior import DiagonalGaussian
from vaelab.precision import EVAL_PRECISIONS, arithmetic, effective

# Rows (samples × images) decoded per chunk: large enough for an efficient matmul, small
# enough that the [rows, D] decoder output and its elementwise temporaries stay in cache-
# friendly tens of MB. Measured in benchmarks/iw_nll.py. Lowered when memory is short
# (``chunk_rows_for``).
CHUNK_ROWS = 4096
# On a GPU the rows per chunk set how many launches a pass takes: k = 5000 over MNIST's
# 10 000 test images took 18.3 s at 4 096 rows, 1.44 s at 65 536 and 1.24 s at 262 144 on
# an H200 (benchmarks/gpu_speed.py), where a 784-pixel chunk of 262 144 rows is ~5 GB.
CUDA_CHUNK_ROWS = 262_144

LogJoint = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x [B,D], z [S,B,Z]) -> [S,B]


@torch.no_grad()
def _iw_log_px(x: torch.Tensor, posterior: Callable[[torch.Tensor], DiagonalGaussian],
               log_joint: LogJoint, k: int, *, samples_per_chunk: int,
               generator: torch.Generator | None = None,
               advance: Callable[[int], None] | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """The importance-sampled log p(x) of each image in x [B, D] with k samples from
    q = posterior(x) (called once), and the mean log weight (the k-sample Monte Carlo
    ELBO); both [B] float64, nats."""
    check_positive("k (--iw-samples)", k)
    q = posterior(x)
    batch = x.shape[0]
    running_max = torch.full((batch,), -math.inf, dtype=torch.float64, device=x.device)
    running_sum = torch.zeros(batch, dtype=torch.float64, device=x.device)
    weight_sum = torch.zeros(batch, dtype=torch.float64, device=x.device)
    done = 0
    while done < k:
        s = min(samples_per_chunk, k - done)
        z, log_q = q.rsample_with_log_prob(s, generator=generator)  # [s, B, Z], [s, B]
        log_w = (log_joint(x, z) - log_q).double()  # [s, B]
        new_max = torch.maximum(running_max, log_w.max(0).values)
        running_sum.mul_(torch.exp(running_max - new_max)).add_(
            torch.exp(log_w - new_max).sum(0))
        running_max.copy_(new_max)
        weight_sum += log_w.sum(0)
        done += s
        if advance is not None:
            advance(s * batch)
    return running_max + torch.log(running_sum) - math.log(k), weight_sum / k


def model_log_joint(model: VAE) -> LogJoint:
    """log p(x, z) = log p(x|z) + log p(z) of a vaelab model, [S, B]."""

    def log_joint(x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return model.likelihood.log_prob(x, model.decoder_params(z)) + model.prior.log_prob(z)

    return log_joint


def chunk_shape(k: int, n_images: int, chunk_rows: int) -> tuple[int, int]:
    """(images per block, samples per chunk) with about ``chunk_rows`` decoded rows."""
    samples = min(k, chunk_rows)
    images = max(1, min(n_images, chunk_rows // samples))
    return images, samples


def chunk_rows_for(model: VAE, device: torch.device | str,
                   preferred: int | None = None) -> int:
    """Rows decoded per chunk: ``preferred`` (default CHUNK_ROWS on the CPU,
    CUDA_CHUNK_ROWS on a GPU), lowered to what the memory available on ``device`` allows
    at ``decoded_row_bytes(model)`` per row (memory.chunk_size)."""
    if preferred is None:
        preferred = CUDA_CHUNK_ROWS if torch.device(device).type == "cuda" else CHUNK_ROWS
    return chunk_size(decoded_row_bytes(model), preferred=preferred, device=device)


@torch.no_grad()
def importance_sampled_log_px(model: VAE, x: torch.Tensor, k: int, *, seed: int,
                              chunk_rows: int | None = None, progress: bool = False
                              ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image IS estimate of log p(x) and the k-sample MC ELBO, [N] float64 each.
    ``chunk_rows`` None: ``chunk_rows_for(model, x.device)``."""
    check_positive("k (--iw-samples)", k)
    if chunk_rows is None:
        chunk_rows = chunk_rows_for(model, x.device)
    check_positive("chunk_rows", chunk_rows)
    n = x.shape[0]
    images, samples = chunk_shape(k, n, chunk_rows)
    generator = torch.Generator(device=x.device).manual_seed(seed)
    log_joint = model_log_joint(model)
    # Allocated once: per-block results written into them allocate nothing that
    # outlives a block (vaelab/memory.py: kept per-block tensors grow the heap).
    log_px = torch.empty(n, dtype=torch.float64, device=x.device)
    elbo = torch.empty(n, dtype=torch.float64, device=x.device)
    with progress_bar(f"IS-NLL k={k}", n * k, enabled=progress) as advance:
        for start in range(0, n, images):
            lp, el = _iw_log_px(x[start:start + images], model.posterior, log_joint, k,
                                samples_per_chunk=samples, generator=generator,
                                advance=advance)
            log_px[start:start + images] = lp
            elbo[start:start + images] = el
            del lp, el
    return log_px, elbo


SAME_DRAWS = ("k", "binarization", "images")  # NLLs with another k are not comparable
NUMBERS = (
    Number("IS-NLL", ("iw_nll", "nll"), better="lower", comparable=SAME_DRAWS,
           spread="nll_stderr", row_label="IS-NLL (k = {k})"),
    Number("IS-NLL bits/dim", ("iw_nll", "bits_per_dim"), unit="", format=".4f",
           better="lower", level=DETAIL, short="bits/dim", comparable=SAME_DRAWS,
           estimator=("iw_nll", "bits_per_dim_units")),
    # The mean log weight of the same draws: the ELBO itself (Monte Carlo over k samples),
    # not the k-sample IWAE bound, which is −IS-NLL. The gap is what k samples bought.
    # (Stored as "elbo_k" since vaelab 0.1.)
    Number("ELBO from the same draws", ("iw_nll", "elbo_k"), better="higher",
           level=DIAGNOSTIC, short="ELBO (same draws)",
           estimator_note="ELBO: the mean log weight of the same k draws, not the k-sample "
                          "bound"),
    Number("seconds", ("iw_nll", "seconds"), unit="s", format=".1f", level=DIAGNOSTIC),
)


def _note(stats: dict) -> str:
    return str(stats.get("note") or "")


def model_note(model: VAE) -> str:
    """The estimate's target when the family is not the one-latent VAE: a conditional
    model's −log p(x|y), a hierarchical model's q and p over all its layers."""
    note = conditional_note(model)
    if getattr(model, "latent_layers", None):
        note += (f"; with the full hierarchical q(z_1..z_L|x) and p(z_1..z_L) of its "
                 f"{len(model.latent_layers)} layers")
    return note


def _no_proposal(model: VAE) -> str | None:
    """A deterministic encoder trains no q(z|x): its untrained variance head would be the
    proposal, and the estimate would say nothing about the model."""
    if deterministic_encoder(model) is None:
        return None
    return (f"needs q(z|x) to sample from, and objective {model.config.objective.name} "
            "trains a deterministic encoder")


@register("iw-nll", key="iw_nll", cheap=False, model_unfit=_no_proposal,
          help="importance-sampled NLL with k samples from q(z|x) (--iw-samples, 5000 as "
               "in the literature)", title="importance-sampled NLL", numbers=NUMBERS,
          caveat=_note)
def gather(model: VAE, data: PreparedData, *, seed: int = 0, split: str = "test",
           k: int = 5000, chunk_rows: int | None = None, progress: bool = False,
           batch_size: int | None = None, precision: str = "float32") -> dict:
    """``chunk_rows`` None: ``chunk_rows_for`` the device. ``precision`` (precision.py):
    the networks' matmuls in float32, tf32 (CUDA) or bf16; the log weights' running
    log-sum-exp is float64 in every case."""
    check_positive("--iw-samples", k)
    if precision not in EVAL_PRECISIONS:
        raise VaelabError(f"--iw-precision {precision!r}: use one of "
                          f"{', '.join(EVAL_PRECISIONS)}")
    scored = scored_split(data, split)
    device = scored.x.device
    if chunk_rows is None:
        chunk_rows = chunk_rows_for(model, device)
    was_training = model.training
    model.eval()
    started = time.perf_counter()
    try:
        with arithmetic(device, precision):
            log_px, elbo_k = importance_sampled_log_px(model, scored.x, k, seed=seed,
                                                       chunk_rows=chunk_rows,
                                                       progress=progress)
    finally:
        model.train(was_training)
    precision = effective(precision, device)
    seconds = time.perf_counter() - started
    nll = -log_px
    n = nll.shape[0]
    stderr = float(nll.std()) / math.sqrt(n) if n > 1 else float("nan")
    bits, bits_units = bits_per_dim(float(nll.mean()), model.likelihood, data)
    out = {
        **provenance(data, scored, seed),
        "estimator": (f"importance sampling, k = {k} samples from q(z|x) per image "
                      "(Burda et al. 2015), seeded" + model_note(model)
                      + ("" if precision == "float32" else f"; {precision} matmuls")),
        "k": k,
        "precision": precision,  # of the networks' matmuls (precision.py)
        "chunk_rows": chunk_rows,  # decoded rows per chunk: sets the memory, not the number
        "units": "nats per image",
        "nll": float(nll.mean()),
        "nll_stderr": stderr,  # over images, not over the Monte Carlo draw
        "bits_per_dim": bits,
        "bits_per_dim_units": bits_units,
        "elbo_k": float(elbo_k.mean()),  # mean log weight: the MC ELBO from the same draws
        "seconds": seconds,
        "samples_per_second": n * k / seconds if seconds > 0 else None,
    }
    if not model.likelihood.is_density:
        out["note"] = ("the likelihood is a loss, not a normalised density: this is not a "
                       "negative log-likelihood")
    return out
