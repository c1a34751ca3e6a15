"""Posterior-collapse diagnostics: KL per latent dimension, active units, the mutual
information I(x; z) and per-dimension statistics of the posterior parameters.

- Active units (Burda et al. 2015, §5.2): dimension u is active when
  A_u = Cov_x(E_q(z|x)[z_u]) > 0.01, i.e. the posterior mean moves with the input. This
  is vaelab's one meaning of "active" (``active_units``; the kl-per-dim figure uses it
  too, and calls dimensions with KL above a threshold "KL-carrying", not active).
  Dimensions are numbered from 0 everywhere (``latent_name``), as in metrics.json.
- Mutual information under the aggregate posterior (Hoffman & Johnson 2016; the estimator
  of He et al. 2019, "Lagging inference networks", App. A, with both terms at the same
  samples, ``_mutual_information``):
      I(x; z) = E_x E_q(z|x)[log q(z|x)] − E_q(z)[log q(z)],
  with q(z) = (1/M) Σ_m q(z|x_m) estimated over a seeded subsample of M = min(N,
  ``MI_IMAGES``) images of the split (one z per image): O(M²·Z) work and memory bounded by
  the chunk, whatever N. It is at most log M (stored as ``mutual_information_max``).
- KL(q(z|x) ‖ p(z)) per dimension, averaged over the split: analytic when the prior has
  ``kl_per_dim(q)``; a Monte Carlo estimate when the prior factorises over dimensions and
  says so with ``log_prob_per_dim(z) -> [..., B, Z]``; otherwise only the total KL.
- A posterior that is not a diagonal Gaussian (full covariance, flows) has neither
  per-dimension KLs nor a cheap aggregate-posterior density: the total KL is the Monte
  Carlo mean of log q(z|x) − log p(z) with q's exact log-density, active units come from
  its point codes, and I(x; z) and the per-dimension KL are left out (None).
"""

from __future__ import annotations

import math

import torch

from vaelab.data import PreparedData
from vaelab.memory import chunk_size
from vaelab.metrics.base import (
    check_positive,
    deterministic_encoder,
    posterior_moments,
    provenance,
    register,
    scored_split,
)
from vaelab.metrics.shown import DETAIL, Breakdown, Number
from vaelab.model import VAE
from vaelab.posterior import LOG_2PI, DiagonalGaussian

ACTIVE_THRESHOLD = 0.01  # Burda et al. 2015
# nats: a dimension "carries KL" when its mean KL to the prior is above this (study 000's
# per-dimension KL bars). Not an active unit: free bits hold every dimension's KL near its
# floor (0.05 nats in study 000) whether or not its posterior mean moves.
KL_CARRYING = 0.1
# Images whose aggregate posterior estimates I(x; z): the cost is O(M²·Z) (all 10 000 MNIST
# test images, Z = 64, took most of a CI run); the estimate is capped at log M = 7.6 nats.
MI_IMAGES = 2000
# Bytes one (z_i, x_n) pair of the log-density matrix costs: the [b, N, Z] float64
# difference and its square, per latent dimension.
MI_PAIR_BYTES_PER_DIM = 16


def active_units(means: torch.Tensor, threshold: float = ACTIVE_THRESHOLD
                 ) -> tuple[int, torch.Tensor]:
    """(number of active units, A_u = Var_x(E_q[z_u]) [Z] float64 on CPU) from posterior
    means [N, Z] (Burda et al. 2015, §5.2; the sample variance over the split)."""
    means = means.detach().double().cpu()
    variances = means.var(0) if means.shape[0] > 1 else torch.zeros(means.shape[1],
                                                                     dtype=torch.float64)
    return int((variances > threshold).sum()), variances


def latent_name(u: int) -> str:
    """How every table and figure names latent dimension u: from 0, as metrics.json's
    ``active_dims`` and the index into z."""
    return f"z{u}"


def _log_density_matrix(z: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor
                        ) -> torch.Tensor:
    """log N(z_i; μ_n, diag σ_n²) for every pair: z [b, Z], mean/logvar [N, Z] → [b, N],
    in float64. The squares are of the differences z_i − μ_n themselves: the expanded
    form z² − 2zμ + μ² cancels catastrophically when σ is tiny (β = 0 drives σ → 0,
    where μ²/σ² ~ 1e18 and float64 keeps ~16 digits)."""
    z, mean, logvar = z.double(), mean.double(), logvar.double()
    precision = torch.exp(-logvar)  # [N, Z]
    quad = ((z[:, None, :] - mean[None]) ** 2 * precision[None]).sum(-1)  # [b, N]
    return -0.5 * (quad + logvar.sum(-1) + z.shape[-1] * LOG_2PI)


def _mutual_information(mean: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor,
                        chunk: int = 1024) -> float:
    """He et al. 2019's estimate of I(x; z) in nats; z [N, Z] holds one sample z_n of each
    q(z|x_n):  (1/N) Σ_n [log q(z_n|x_n) − log (1/N) Σ_m q(z_n|x_m)].
    He et al. take the first term as the analytic −H(q(z|x)); here it is read at the same
    samples as the second, so every term is at most log N (q(z_n|x_n) is one of the N terms
    of the mixture) and the estimate never exceeds its bound log N. With the analytic
    entropy the two terms' Monte Carlo errors do not cancel and a well-separated posterior
    scored 7.61 nats against log 2000 = 7.60."""
    n, latent = mean.shape
    z64, mean64, logvar64 = z.double(), mean.double(), logvar.double()
    own = -0.5 * (((z64 - mean64) ** 2 * torch.exp(-logvar64)).sum(-1) + logvar64.sum(-1)
                  + latent * LOG_2PI)  # log q(z_n|x_n) [N]
    neg_entropy = float(own.mean())
    # [chunk, N, Z] float64 temporaries ≤ 64 MB, and within the memory available.
    chunk = chunk_size(MI_PAIR_BYTES_PER_DIM * n * latent, device=mean.device,
                       preferred=max(1, min(chunk, 8_000_000 // (n * latent))))
    total = 0.0  # Σ_i log q(z_i), a running sum over chunks
    for i in range(0, n, chunk):
        total += float(torch.logsumexp(_log_density_matrix(z[i:i + chunk], mean, logvar),
                                       1).sum())
    return neg_entropy - (total / n - math.log(n))


def mi_subsample(n: int, images: int, seed: int) -> torch.Tensor | None:
    """Indices of the seeded subsample (sorted) whose aggregate posterior estimates
    I(x; z), or None when all ``n`` images are used (n ≤ images)."""
    if n <= images:
        return None
    generator = torch.Generator().manual_seed(seed)
    return torch.randperm(n, generator=generator)[:images].sort().values


@torch.no_grad()
def kl_per_dimension(model: VAE, mean: torch.Tensor, logvar: torch.Tensor, *, samples: int,
                     generator: torch.Generator) -> dict:
    """Mean KL per dimension [Z] (or only the total) and the estimator used; logvar None
    (a posterior that is not a diagonal Gaussian): neither, see ``monte_carlo_kl``."""
    if logvar is None:
        return {"kl_estimator": "KL: none per dimension (the posterior's dimensions are not "
                                "independent", "kl_per_dim": None, "kl_total": None}
    prior = model.prior
    n, latent = mean.shape
    # Images per chunk: [S, b, Z] float32 samples and about four temporaries of that size.
    block = chunk_size(4 * 5 * samples * latent, device=mean.device, preferred=4096)
    estimator = None
    sums = torch.zeros(latent, dtype=torch.float64, device=mean.device)  # running Σ
    for start in range(0, n, block):
        q = DiagonalGaussian(mean[start:start + block], logvar[start:start + block])
        kind, part = _kl_sum(prior, q, samples, generator)
        if kind is None:
            return {"kl_estimator": "analytic KL, total only (the prior gives no "
                                    "per-dimension KL)",
                    "kl_per_dim": None, "kl_total": float(prior.kl(
                        DiagonalGaussian(mean, logvar)).double().mean())}
        estimator = kind
        sums += part
    if estimator == "analytic":
        per_dim = sums / n
        return {"kl_estimator": "analytic KL", "kl_per_dim": per_dim.tolist(),
                "kl_total": float(per_dim.sum())}
    if estimator == "per-dim":
        per_dim = sums / (samples * n)
        return {"kl_estimator": f"Monte Carlo KL, {samples} samples per image (the prior "
                                "factorises over dimensions)",
                "kl_per_dim": per_dim.tolist(), "kl_total": float(per_dim.sum())}
    return {"kl_estimator": f"Monte Carlo KL, {samples} samples per image, total only (the "
                            "prior does not factorise over dimensions)",
            "kl_per_dim": None, "kl_total": float(sums[0]) / (samples * n)}


def _kl_sum(prior, q: DiagonalGaussian, samples: int, generator: torch.Generator
            ) -> tuple[str | None, torch.Tensor]:
    """(which estimator, its sum over the chunk's images [and samples]) per dimension
    [Z] float64: "analytic", "per-dim" (Monte Carlo, a factorised prior) or "total"
    (Monte Carlo, the sum in element 0); None: only an analytic total exists (not
    summed here, see the caller)."""
    analytic_per_dim = prior.kl_per_dim(q)
    if analytic_per_dim is not None:
        return "analytic", analytic_per_dim.double().sum(0)
    if prior.kl(q) is not None:
        return None, torch.zeros(())
    z = q.rsample(samples, generator=generator)  # [S, b, Z]
    log_p_per_dim = prior.log_prob_per_dim(z)
    if log_p_per_dim is not None:
        return "per-dim", (q.log_prob_per_dim(z) - log_p_per_dim).double().sum((0, 1))
    total = torch.zeros(q.mean.shape[-1], dtype=torch.float64, device=q.mean.device)
    total[0] = (q.log_prob(z) - prior.log_prob(z)).double().sum()
    return "total", total


@torch.no_grad()
def monte_carlo_kl(model: VAE, x: torch.Tensor, *, samples: int, batch_size: int,
                   generator: torch.Generator) -> dict:
    """Mean KL(q(z|x) ‖ p(z)) over images x [N, D] by Monte Carlo with q's exact
    log-density (log-determinants included): any posterior, any prior."""
    total = torch.zeros((), dtype=torch.float64, device=x.device)
    for start in range(0, x.shape[0], batch_size):
        q = model.posterior(x[start:start + batch_size])
        z, log_q = q.rsample_with_log_prob(samples, generator=generator)  # [S, b, Z], [S, b]
        total += (log_q - model.prior.log_prob(z)).double().mean(0).sum()
    return {"kl_estimator": f"Monte Carlo KL, {samples} samples per image, exact log q, total "
                            "only (the posterior's dimensions are not independent)",
            "kl_per_dim": None, "kl_total": float(total) / x.shape[0]}


SAME_IMAGES = ("images", "binarization")
NUMBERS = (
    Number("active units", ("collapse", "active_units"), unit="", format="d", short="AU",
           comparable=SAME_IMAGES, detail="of {latent_dim}"),
    Number("I(x;z)", ("collapse", "mutual_information"), better="higher",
           comparable=(*SAME_IMAGES, "mutual_information_images"),
           detail="(max {mutual_information_max})"),
    Number("KL total", ("collapse", "kl_total"), level=DETAIL, comparable=SAME_IMAGES,
           estimator=("collapse", "kl_estimator")),
)
PER_DIMENSION = Breakdown(
    "posterior collapse ({split}): {active_units} of {latent_dim} dimensions active",
    "dim", ("collapse",),
    (Number("KL", ("kl_per_dim",), format=".3f"),
     Number("Var_x E[z]", ("mean_variance",), unit="", format=".4f"),
     Number("mean μ", ("mean_mean",), unit="", format=".3f"),
     Number("mean log σ²", ("logvar_mean",), unit="", format=".3f")),
    columnar=True, marked=("active_dims", "active"),
    caption="active: Var_x E[z] above the threshold of the estimator")


PER_LAYER = Breakdown(
    "posterior collapse per stochastic layer ({split})", "layer", ("collapse", "layers"),
    (Number("dims", ("dims",), unit="", format="d"),
     Number("active units", ("active_units",), unit="", format="d"),
     Number("KL", ("kl",), format=".3f")),
    caption="KL(q(z_i|z_i+1, x) ‖ p(z_i|z_i+1)) at samples of the upper layers, analytic per "
            "layer; active: Var_x E[z] above the threshold")


@torch.no_grad()
def per_layer(model: VAE, x: torch.Tensor, variances: torch.Tensor, threshold: float, *,
              samples: int, batch_size: int, generator: torch.Generator) -> dict:
    """Active units and mean KL of each layer of a hierarchical model (models/ladder.py),
    {"z1": {dims, active_units, kl}, …}; the KL is the prior's ``kl_layers`` at
    ``samples`` draws of q per image."""
    dims = model.latent_layers
    sums = {f"kl_z{i + 1}": 0.0 for i in range(len(dims))}
    for start in range(0, x.shape[0], batch_size):
        q = model.posterior(x[start:start + batch_size])
        kls = model.prior.kl_layers(q, q.rsample(samples, generator=generator))
        for name, value in kls.items():
            sums[name] += float(value.double().mean(0).sum())
    layers, first = {}, 0
    for i, size in enumerate(dims):
        active = int((variances[first:first + size] > threshold).sum())
        layers[f"z{i + 1}"] = {"dims": size, "active_units": active,
                               "kl": sums[f"kl_z{i + 1}"] / x.shape[0]}
        first += size
    return layers


@register("collapse", key="collapse", cheap=True,
          help="posterior collapse: KL per dimension, active units, I(x;z), posterior stats",
          title="posterior collapse", numbers=NUMBERS, breakdowns=(PER_DIMENSION, PER_LAYER))
def gather(model: VAE, data: PreparedData, *, seed: int = 0, split: str = "test",
           batch_size: int = 2000, threshold: float = ACTIVE_THRESHOLD, kl_samples: int = 16,
           mi_images: int = MI_IMAGES, progress: bool = False) -> dict:
    """``mi_images``: the size M of the seeded subsample that estimates I(x; z)."""
    check_positive("kl_samples", kl_samples)
    check_positive("mi_images", mi_images)
    scored = scored_split(data, split)
    was_training = model.training
    model.eval()
    try:
        mean, logvar = posterior_moments(model, scored.x, batch_size)
        generator = torch.Generator(device=mean.device).manual_seed(seed)
        no_density = deterministic_encoder(model)
        if no_density is not None:
            kl = {"kl_estimator": f"KL {no_density}", "kl_per_dim": None, "kl_total": None}
            mi, mi_count, logvar = None, 0, None  # the untrained variance head is not shown
        elif logvar is None:
            kl = monte_carlo_kl(model, scored.x, samples=kl_samples, batch_size=batch_size,
                                generator=generator)
            mi = None  # needs q(z|x_n) at every other image's z: left out, see above
            mi_count = 0
        else:
            kl = kl_per_dimension(model, mean, logvar, samples=kl_samples,
                                  generator=generator)
            pick = mi_subsample(mean.shape[0], mi_images, seed)
            mi_mean, mi_logvar = ((mean, logvar) if pick is None else
                                  (mean[pick.to(mean.device)], logvar[pick.to(mean.device)]))
            # z in float64: with a tiny σ, μ + σε in float32 rounds σε away.
            z = DiagonalGaussian(mi_mean.double(), mi_logvar.double()).rsample(
                generator=generator)
            mi = _mutual_information(mi_mean, mi_logvar, z)
            mi_count = mi_mean.shape[0]
    finally:
        model.train(was_training)
    count, variances = active_units(mean, threshold)
    layers = None
    if getattr(model, "latent_layers", None) and no_density is None:
        generator = torch.Generator(device=mean.device).manual_seed(seed)
        model.eval()
        try:
            layers = per_layer(model, scored.x, variances, threshold, samples=kl_samples,
                               batch_size=batch_size, generator=generator)
        finally:
            model.train(was_training)
    return {
        **provenance(data, scored, seed),
        "estimator": (f"active units: Var_x(E_q[z_j]) > {threshold:g} (Burda et al. 2015), "
                      "dimensions numbered from 0; "
                      + (f"mutual information: aggregate-posterior estimate over {mi_count} "
                         "images" + (f" (a seeded subsample of the split's {mean.shape[0]})"
                                     if mi_count < mean.shape[0] else "")
                         + ", one z per image, both terms at that z (He et al. 2019; "
                           "at most log M)" if mi is not None else
                         f"mutual information: {no_density}" if no_density is not None else
                         "mutual information: not estimated (needs q(z|x_n) at every other "
                         "image's z, which this posterior does not give cheaply)")),
        "units": "nats",
        "latent_dim": int(mean.shape[1]),
        "active_units": count,
        "active_threshold": threshold,
        "active_dims": [j for j, v in enumerate(variances.tolist()) if v > threshold],
        "mean_variance": variances.tolist(),  # A_j per dimension
        "mutual_information": mi,
        "mutual_information_images": mi_count,  # M: the aggregate posterior's images
        "mutual_information_max": math.log(mi_count) if mi_count else None,  # ≤ log M
        **kl,
        "mean_mean": mean.double().mean(0).tolist(),
        "logvar_mean": logvar.double().mean(0).tolist() if logvar is not None else None,
        "logvar_std": (logvar.double().std(0).tolist()
                       if logvar is not None and mean.shape[0] > 1 else None),
        **({"layers": layers} if layers is not None else {}),
    }
