"""Study 000: Fashion-MNIST, Gaussian (MSE) decoder, z = 20 — how many latent dimensions
does a plain VAE use, and do KL warm-up (10 epochs) + free bits (0.05 nats/dim) make it
use more? Also: decoding Laplace instead of Normal noise."""

from __future__ import annotations

import math

from vaelab.config import Config
from vaelab.metrics.collapse import KL_CARRYING
from vaelab.recipes.base import RECIPES, FigurePlan, Finding, Recipe, Results, compare, fmt
from vaelab.sweep import Point, SweepSpec

SOURCE = "study 000 (Fashion-MNIST posterior collapse, warm-up + free bits)"


def build(quick: bool) -> SweepSpec:
    base = Config().replace(dataset="fashion-mnist", likelihood="gaussian", latent_dim=20,
                            hidden=[400], epochs=30)
    mitigated = {"warmup": 10.0, "free_bits": 0.05}
    if quick:
        base = base.replace(subset=10000, epochs=3)
        mitigated = {"warmup": 2.0, "free_bits": 0.05}
    return SweepSpec(name="posterior-collapse", base=base, points=[
        Point("baseline", {}), Point("warmup+free-bits", mitigated)],
        metrics=["elbo", "collapse"], title="Posterior collapse on Fashion-MNIST")


def mse_per_image(results: Results, point: str) -> float | None:
    """The summed squared error of the Gaussian decoder: −log p minus its constant
    D·½·log(2πσ²) (σ = 1/√2 gives −log p = Σ(x−μ)² + const)."""
    recon = results.value(point, "test.recon")
    config = results.config(point).get("config")
    if recon is None or config is None:
        return None
    sigma = config["likelihood"]["sigma"]
    pixels = 28 * 28
    constant = pixels * 0.5 * math.log(2 * math.pi * sigma ** 2)
    return (recon - constant) * 2 * sigma ** 2




def dims_carrying_kl(r: Results, point: str) -> int | None:
    per_dim = r.metrics(point).get("test", {}).get("collapse", {}).get("kl_per_dim")
    return None if per_dim is None else sum(1 for kl in per_dim if kl > KL_CARRYING)


def findings(r: Results) -> list[Finding]:
    au_base, au_fix = dims_carrying_kl(r, "baseline"), dims_carrying_kl(r, "warmup+free-bits")
    burda_base = r.value("baseline", "test.collapse.active_units")
    burda_fix = r.value("warmup+free-bits", "test.collapse.active_units")
    kl_base = r.value("baseline", "test.kl")
    mse_base, mse_fix = mse_per_image(r, "baseline"), mse_per_image(r, "warmup+free-bits")
    return [
        compare(None if au_base is None else au_base <= 10,
                "Partial posterior collapse: only 5–6 of the 20 latent dimensions carry KL",
                SOURCE, f"baseline: {fmt(au_base, 0)} of 20 dimensions have a mean KL above "
                f"{KL_CARRYING} nats (first seed's test split)"),
        compare(None if kl_base is None else abs(kl_base - 7.98) / 7.98 < 0.5,
                "The KL term plateaus near 8 nats per image (7.98)", SOURCE,
                f"baseline test KL {fmt(kl_base)} nats; summed squared error "
                f"{fmt(mse_base)} per image (study: 14.88)"),
        compare(None if au_base is None or au_fix is None else au_fix > au_base,
                "Warm-up 10 epochs + free bits 0.05 make the model use more (all 20) "
                "dimensions", SOURCE,
                f"dimensions with KL > {KL_CARRYING} nats: {fmt(au_base, 0)} → {fmt(au_fix, 0)} "
                f"of 20; active units by Burda's Var_x E[z_j] > 0.01: {fmt(burda_base, 0)} → "
                f"{fmt(burda_fix, 0)} (free bits keep every dimension's KL near its "
                "0.05-nat floor, which counts as 'active' without carrying information)"),
        compare(None if mse_base is None or mse_fix is None else mse_fix < mse_base,
                "With warm-up + free bits reconstructions get better", SOURCE,
                f"summed squared error per image {fmt(mse_base)} → {fmt(mse_fix)}"),
        Finding("Decoding Laplace instead of Normal noise degrades samples (prior–decoder "
                "mismatch)", SOURCE, "see samples-laplace.png beside samples.png in each "
                "run (a visual comparison; not scored)", "inconclusive"),
    ]


RECIPES.register("posterior-collapse")(Recipe(
    name="posterior-collapse", title="Posterior collapse, KL warm-up and free bits",
    question="How many of a Gaussian-decoder VAE's 20 latent dimensions carry information "
             "on Fashion-MNIST, and do KL warm-up and free bits fix the collapse?",
    source=SOURCE, build=build, findings=findings,
    figures=(FigurePlan("kl-per-dim", "kl-per-dim"), FigurePlan("curves", "curves"),
             FigurePlan("tableau", "reconstructions", options={"n": 8}),
             FigurePlan("samples", "samples-laplace", per_run=True,
                        options={"source": "laplace"}))))
