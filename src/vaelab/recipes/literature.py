"""Published MNIST likelihoods, reproduced with vaelab's own estimators: dynamically
binarised MNIST, the importance-sampled NLL with k = 5000 (Burda et al. 2015, App. D) on
the test set, measured beside the published number.

- Burda, Grosse & Salakhutdinov 2015, "Importance Weighted Autoencoders", Table 1, one
  stochastic layer: 2 × 200 tanh units, z = 50, Adam (β₁ 0.9, β₂ 0.999, ε 1e-4), batch 20,
  3^i epochs at lr 1e-3·10^(−i/7) for i = 0…7 (3280 epochs; --lr-schedule burda), trained
  on all 60,000 images: VAE (k = 1) 86.76, IWAE k = 5 85.54, IWAE k = 50 84.78 nats.
- Tomczak & Welling 2018, "VAE with a VampPrior", Table 2, one stochastic layer:
  2 × 300 gated units, z = 40, Adam lr 5e-4, batch 100, KL warm-up over 100 epochs,
  50,000 training / 10,000 validation images, at most 2000 epochs (the paper stops early
  after 50 epochs without a better validation bound; vaelab trains all of them and
  keeps best.safetensors beside): VampPrior K = 500 pseudo-inputs 85.57, standard prior
  88.56 nats. Their pseudo-inputs pass a hard-tanh; vaelab's a sigmoid.

A finding per row (rules.matches_published): agrees when |measured − published| ≤ 2
s.e. + TOLERANCE, else disagrees with the gap. One seed per row (each is thousands of
epochs): the standard error is the IS-NLL's over the 10,000 test images; with more seeds
it is the standard error over seeds. The full run is long (3280 epochs of batch 20); it
resumes where it stopped when run again, and trains on a GPU with --set device=cuda.
"""

from __future__ import annotations

from typing import Any

from vaelab.config import Config
from vaelab.lr_schedules import burda_epochs
from vaelab.recipes.base import (
    RECIPES,
    FigurePlan,
    Finding,
    Recipe,
    Results,
    fmt,
    fmt_estimate,
    judged,
)
from vaelab.recipes.rules import Estimate, matches_published
from vaelab.sweep import Point, SweepSpec

SOURCE_BURDA = "Burda et al. 2015, Table 1 (one stochastic layer)"
SOURCE_TOMCZAK = "Tomczak & Welling 2018, Table 2 (one stochastic layer)"
SOURCE = f"{SOURCE_BURDA}; {SOURCE_TOMCZAK}"
TOLERANCE = 0.3  # nats: what "the same number" allows beyond two standard errors
IS_K = 5000
# Point → (published test NLL in nats, its source).
PUBLISHED = {
    "burda-vae-k1": (86.76, SOURCE_BURDA),
    "burda-iwae-k5": (85.54, SOURCE_BURDA),
    "burda-iwae-k50": (84.78, SOURCE_BURDA),
    "vampprior-k500": (85.57, SOURCE_TOMCZAK),
    "standard-prior": (88.56, SOURCE_TOMCZAK),
}
CLAIMS = {
    "burda-vae-k1": "VAE (k = 1), 2×200 tanh, z = 50: test NLL 86.76 nats",
    "burda-iwae-k5": "IWAE k = 5, 2×200 tanh, z = 50: test NLL 85.54 nats",
    "burda-iwae-k50": "IWAE k = 50, 2×200 tanh, z = 50: test NLL 84.78 nats",
    "vampprior-k500": "VAE with a VampPrior (K = 500), 2×300 gated, z = 40: test NLL 85.57 "
                      "nats",
    "standard-prior": "The same VAE with the standard N(0, I) prior: test NLL 88.56 nats",
}


def burda_settings(quick: bool) -> dict[str, Any]:
    if quick:  # the same schedule and optimiser, a tiny network, 2 epochs
        return {"hidden": [16, 16], "activation": "tanh", "latent_dim": 4, "batch_size": 50,
                "lr": 1e-3, "lr_schedule": "burda", "adam_eps": 1e-4, "val_fraction": 0.0}
    return {"hidden": [200, 200], "activation": "tanh", "latent_dim": 50, "batch_size": 20,
            "lr": 1e-3, "lr_schedule": "burda", "adam_eps": 1e-4, "epochs": burda_epochs(),
            "val_fraction": 0.0}


def tomczak_settings(quick: bool) -> dict[str, Any]:
    if quick:
        return {"hidden": [16, 16], "gated": True, "latent_dim": 4, "batch_size": 50,
                "lr": 5e-4, "warmup": 1.0, "val_fraction": 1 / 6}
    return {"hidden": [300, 300], "gated": True, "latent_dim": 40, "batch_size": 100,
            "lr": 5e-4, "warmup": 100.0, "epochs": 2000, "val_fraction": 1 / 6}


def build(quick: bool) -> SweepSpec:
    base = Config().replace(dataset="mnist", binarize="dynamic", likelihood="bernoulli")
    components = 500
    if quick:  # seconds: the 8×8 digits, 2 epochs, k = 50
        base = base.replace(dataset="digits", subset=500, epochs=2)
        components = 10
    burda, tomczak = burda_settings(quick), tomczak_settings(quick)
    points = [
        Point("burda-vae-k1", burda),
        Point("burda-iwae-k5", {**burda, "objective": "iwae", "iwae_k": 5}),
        Point("burda-iwae-k50", {**burda, "objective": "iwae", "iwae_k": 50}),
        Point("vampprior-k500", {**tomczak, "prior": "vampprior",
                                 "prior_components": components}),
        Point("standard-prior", tomczak),
    ]
    return SweepSpec(name="literature", base=base, points=points, seeds=[0],
                     metrics=["elbo", "iw-nll"], iw_samples=50 if quick else IS_K,
                     figures=not quick,  # the quick run's own figures: seconds saved in CI
                     title="MNIST likelihoods of the literature")


def measured(r: Results, point: str) -> Estimate | None:
    """The IS-NLL of a point: mean over seeds; standard error over seeds when there are
    several, else the estimator's own over the test images."""
    nll = r.per_seed(point, "test.iw_nll.nll")
    if nll is None or nll.se is not None:
        return nll
    images = r.per_seed(point, "test.iw_nll.nll_stderr")
    return None if images is None else Estimate(nll.mean, images.mean, nll.n)


def findings(r: Results) -> list[Finding]:
    out = []
    for point, (published, source) in PUBLISHED.items():
        nll = measured(r, point)
        k = r.per_seed(point, "test.iw_nll.k")
        evidence = matches_published(nll, published, TOLERANCE, "measured")
        gap = evidence.numbers.get("gap")
        gap_text = "" if gap is None else f" (gap {gap:+.2f} nats)"
        out.append(judged(evidence, CLAIMS[point], source,
                          f"IS-NLL (k = {fmt(k, 0)}, test set, nats): measured "
                          f"{fmt_estimate(nll)} vs published {published:.2f}{gap_text}; "
                          f"tolerance ±{TOLERANCE} nats beyond 2 s.e."))
    return out


RECIPES.register("literature")(Recipe(
    name="literature", title="Published MNIST likelihoods (IWAE, VampPrior)",
    question="Do vaelab's models and estimators reproduce the published test NLLs on "
             "dynamically binarised MNIST: Burda et al. 2015 (VAE, IWAE k = 5, 50) and "
             "Tomczak & Welling 2018 (VampPrior K = 500, standard prior)?",
    source=SOURCE, build=build, findings=findings,
    figures=(FigurePlan("curves", "curves"), FigurePlan("samples", "samples", per_run=True)),
    quick_note="The quick run trains a tiny network on the 8×8 digits, so no published "
               "number applies."))
