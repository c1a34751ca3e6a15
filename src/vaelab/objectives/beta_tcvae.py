"""β-TCVAE: the ELBO's KL split into index-code mutual information, total correlation and
dimension-wise KL, each with its own weight (Chen et al. 2018)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from vaelab.objectives.base import (
    OBJECTIVES,
    Objective,
    ObjectiveOutput,
    kl_term,
    require_diagonal_posterior,
)
from vaelab.options import option
from vaelab.posterior import DiagonalGaussian


def pairwise_log_q(q: DiagonalGaussian, z: torch.Tensor) -> torch.Tensor:
    """log q(z_i,d | x_j) for every code i [B, Z] under every posterior j: [B, B, Z]."""
    diff = z.unsqueeze(1) - q.mean.unsqueeze(0)
    return -0.5 * (diff**2 * torch.exp(-q.logvar.unsqueeze(0)) + q.logvar.unsqueeze(0)
                   + math.log(2 * math.pi))


def stratified_log_weights(batch: int, dataset_size: int, device=None,
                           dtype=torch.float32) -> torch.Tensor:
    """log w_ij [B, B] of minibatch stratified sampling (Chen et al. 2018, App. C.2), with
    M = B − 1 other images per code: q(z_i) ≈ Σ_j w_ij q(z_i|x_j) with w_ii = 1/N for the
    image z_i came from, (N − M)/(NM) for one other image (the stratum that stands for
    the rest of the data set) and 1/M for the others. Each row sums to 1. The stratum of
    row i is image i + 1 (mod B): the diagonal is the diagonal, unlike the reference code,
    whose strided fill misplaces it (rtqichen/beta-tcvae pull request 1)."""
    if batch == 1:  # no other image: the code's own posterior is the only estimate
        return torch.zeros(1, 1, device=device, dtype=dtype)
    n, m = dataset_size, batch - 1
    weights = torch.full((batch, batch), 1.0 / m, device=device, dtype=torch.float64)
    rows = torch.arange(batch, device=device)
    weights[rows, (rows + 1) % batch] = (n - m) / (n * m)
    weights[rows, rows] = 1.0 / n
    return weights.log().to(dtype)


def decompose_kl(q: DiagonalGaussian, z: torch.Tensor, log_pz: torch.Tensor,
                 dataset_size: int, estimator: str) -> dict[str, torch.Tensor]:
    """The three terms [B] of Chen et al. 2018, eq. 2, at codes z_i ~ q(z|x_i):
    mi = log q(z_i|x_i) − log q(z_i), tc = log q(z_i) − Σ_d log q(z_i,d),
    dim_kl = Σ_d log q(z_i,d) − log p(z_i). They sum to log q(z_i|x_i) − log p(z_i), the
    single-sample KL, whatever the estimate of the aggregate q(z) = 1/N Σ_n q(z|x_n):
    - mws, minibatch weighted sampling (§4, eq. of E_q(z)[log q(z)]): log q(z_i) ≈
      log Σ_j q(z_i|x_j) − log(NM). Its weights sum to 1/N, not 1, so its logged terms
      are offset: for a q(z|x) that does not depend on x (true MI = TC = 0) it gives
      mi = log N and tc = (Z − 1)·log N.
    - mss, minibatch stratified sampling (App. C.2): the weights of
      ``stratified_log_weights``, which sum to 1 (for a q(z|x) that does not depend on x
      it is exact: mi = tc = 0)."""
    batch = z.shape[0]
    n = max(dataset_size, batch)
    pairs = pairwise_log_q(q, z)  # [B, B, Z]
    if estimator == "mws":
        log_w = torch.full((batch, batch), -math.log(n * batch), device=z.device,
                           dtype=z.dtype)
    else:
        log_w = stratified_log_weights(batch, n, z.device, z.dtype)
    log_qz = torch.logsumexp(log_w + pairs.sum(-1), dim=1)  # [B]
    log_qz_marginals = torch.logsumexp(log_w.unsqueeze(-1) + pairs, dim=1).sum(-1)  # [B]
    log_qz_x = pairs.diagonal(dim1=0, dim2=1).sum(0)  # log q(z_i|x_i), [B]
    return {"mi": log_qz_x - log_qz, "tc": log_qz - log_qz_marginals,
            "dim_kl": log_qz_marginals - log_pz}


@OBJECTIVES.register("beta-tcvae")
class BetaTCVAE(Objective):
    """loss = mean_B[−log p(x|z) + α·MI + β·TC + γ·dimension-wise KL], z ~ q(z|x)
    reparameterised (Chen et al. 2018, eq. 4; their experiments: α = γ = 1, β > 1). The
    three terms (``decompose_kl``) are estimated on the minibatch by --tc-estimator and
    logged as train_mi, train_tc and train_dim_kl; with α = β = γ = 1 the loss is the
    ELBO with a single-sample KL. For a prior that does not factorise, dim_kl is
    KL(Π_d q(z_d) ‖ p(z)). The loss is not a bound on log p(x) unless α = β = γ = 1; the
    logged recon/KL/ELBO are the true ELBO's terms (β = 1) of the same samples.
    ``kl_weight`` reports β."""

    # Not graph-safe: its stratified weights are set by index assignment of Python
    # scalars, a host-to-device copy that CUDA graph capture refuses (found on an H200).

    @dataclass
    class Options:
        alpha: float = option(1.0, "Weight α of the index-code mutual information "
                              "(beta-tcvae: default 1).", low=0.0)
        beta: float = option(6.0, "Weight β of the total correlation (beta-tcvae: "
                             "default 6).", low=0.0)
        gamma: float = option(1.0, "Weight γ of the dimension-wise KL (beta-tcvae: "
                              "default 1).", low=0.0)
        tc_estimator: str = option(
            "mss", "Estimator of the aggregate posterior q(z) on a minibatch (Chen et al. "
            "2018): mss, minibatch stratified sampling (weights that sum to 1), or mws, "
            "minibatch weighted sampling (the paper's first estimator; its logged MI and "
            "TC are offset by up to log N and (Z − 1)·log N).",
            choices=lambda: ["mss", "mws"])

    examples = [{}, {"alpha": 0.5, "beta": 2.0, "gamma": 1.5, "tc_estimator": "mws"}]

    def check(self, model) -> None:
        require_diagonal_posterior(
            model, "--objective beta-tcvae (its minibatch estimate of q(z))")

    def kl_weight(self, step: int) -> float:
        return self.cfg.beta

    def __call__(self, model, x, step, generator=None, kl_weight=None) -> ObjectiveOutput:
        q = model.posterior(x)
        z = q.rsample(generator=generator)
        recon = -model.likelihood.log_prob(x, model.decoder_params(z))
        beta = self.kl_weight(step) if kl_weight is None else kl_weight
        dataset_size = self.train_size if self.train_size is not None else x.shape[0]
        terms = decompose_kl(q, z, model.prior.log_prob(z), dataset_size,
                             self.cfg.tc_estimator)
        penalty = (self.cfg.alpha * terms["mi"] + beta * terms["tc"]
                   + self.cfg.gamma * terms["dim_kl"])
        return ObjectiveOutput(loss=(recon + penalty).mean(), recon=recon,
                               kl=kl_term(model, q, z), kl_weight=beta, terms=terms)

    @classmethod
    def describe_config(cls, cfg) -> str:
        return (f"beta-tcvae α={cfg.alpha:g}, β={cfg.beta:g}, γ={cfg.gamma:g}, "
                f"{cfg.tc_estimator} TC estimate")
