"""Study 001: Fashion-MNIST (also from the Kaggle CSV layout: --set dataset=csv --set
data-path=fashion-mnist_train.csv), 90/10 split, Bernoulli VAE vs plain autoencoder."""

from __future__ import annotations

from vaelab.config import Config
from vaelab.recipes.base import (
    RECIPES,
    FigurePlan,
    Finding,
    Recipe,
    Results,
    fmt_estimate,
    judged,
    seeds_for,
)
from vaelab.recipes.rules import better, beyond
from vaelab.sweep import Point, SweepSpec

SOURCE = "study 001 (Fashion-MNIST VAE vs AE, from CSV)"


def build(quick: bool) -> SweepSpec:
    base = Config().replace(dataset="fashion-mnist", likelihood="bernoulli", val_fraction=0.1,
                            hidden=[512, 256], epochs=20)
    if quick:
        base = base.replace(subset=10000, epochs=3)
    points = [Point("vae-z2", {"latent_dim": 2}), Point("ae-z2", {"latent_dim": 2,
                                                                   "objective": "ae"}),
              Point("vae-z16", {"latent_dim": 16}), Point("ae-z16", {"latent_dim": 16,
                                                                     "objective": "ae"})]
    return SweepSpec(name="fashion-vae-vs-ae", base=base, points=points, seeds=seeds_for(quick),
                     metrics=["elbo", "fid", "probe"], fid_samples=1000 if quick else 10000,
                     title="Fashion-MNIST: VAE vs autoencoder")


def findings(r: Results) -> list[Finding]:
    out = []
    for z in ("z2", "z16"):
        vae, ae = f"vae-{z}", f"ae-{z}"
        rv, ra = r.estimate(vae, "test.recon"), r.estimate(ae, "test.recon")
        out.append(judged(better(ra, rv, "lower", (f"AE {z}", f"VAE {z}")),
                          f"The AE reconstructs more sharply than the VAE ({z})", SOURCE,
                          f"test reconstruction −log p(x|z), nats per image: AE "
                          f"{fmt_estimate(ra)} vs VAE {fmt_estimate(rv)}"))
        fv = r.estimate(vae, "test.fid.fid_samples")
        fa = r.estimate(ae, "test.fid.fid_samples")
        out.append(judged(better(fv, fa, "lower", (f"VAE {z}", f"AE {z}")),
                          f"Random latent vectors decode to meaningless images for the AE, "
                          f"recognisable ones for the VAE ({z})", SOURCE,
                          f"{r.fid_name} of N(0,I) samples: VAE {fmt_estimate(fv)} vs "
                          f"AE {fmt_estimate(fa)} (lower is better)"))
    acc = r.estimate("vae-z2", "test.probe.accuracy")
    out.append(judged(beyond(acc, 0.5, "above", "probe accuracy"),
                      "Without labels, classes form (overlapping) clusters in the latent "
                      "space", SOURCE,
                      f"linear probe on the 2-D posterior means: accuracy "
                      f"{fmt_estimate(acc, 3)} (chance 0.1; the rule asks for 0.5)"))
    return out


RECIPES.register("fashion-vae-vs-ae")(Recipe(
    name="fashion-vae-vs-ae", title="Fashion-MNIST: VAE vs plain autoencoder",
    question="What does the VAE's KL term buy over a plain autoencoder on Fashion-MNIST: "
             "reconstructions, a usable latent space, samples?",
    source=SOURCE, build=build, findings=findings,
    figures=(FigurePlan("curves", "curves"),
             FigurePlan("tableau", "reconstructions", options={"n": 8}),
             FigurePlan("interpolation", "interpolations", ("vae-z16", "ae-z16"),
                        options={"pairs": 3}),
             FigurePlan("latent", "latent", per_run=True),
             FigurePlan("samples", "samples", per_run=True))))
