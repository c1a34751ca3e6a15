"""Study 001: Fashion-MNIST (also from the Kaggle CSV layout: --set dataset=csv --set
data-path=fashion-mnist_train.csv), 90/10 split, Bernoulli VAE vs plain autoencoder."""

from __future__ import annotations

from vaelab.config import Config
from vaelab.recipes.base import RECIPES, FigurePlan, Finding, Recipe, Results, compare, fmt
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
    return SweepSpec(name="fashion-vae-vs-ae", base=base, points=points,
                     metrics=["elbo", "fid", "probe"], fid_samples=1000 if quick else 10000,
                     title="Fashion-MNIST: VAE vs autoencoder")


def findings(r: Results) -> list[Finding]:
    out = []
    for z in ("z2", "z16"):
        vae, ae = f"vae-{z}", f"ae-{z}"
        rv, ra = r.value(vae, "test.recon"), r.value(ae, "test.recon")
        out.append(compare(None if rv is None or ra is None else ra < rv,
                           f"The AE reconstructs more sharply than the VAE ({z})", SOURCE,
                           f"test reconstruction −log p(x|z), nats per image: AE {fmt(ra)} "
                           f"vs VAE {fmt(rv)}"))
        fv, fa = r.value(vae, "test.fid.fid_samples"), r.value(ae, "test.fid.fid_samples")
        out.append(compare(None if fv is None or fa is None else fv < fa,
                           f"Random latent vectors decode to meaningless images for the AE, "
                           f"recognisable ones for the VAE ({z})", SOURCE,
                           f"domain-classifier FID of N(0,I) samples: VAE {fmt(fv)} vs AE "
                           f"{fmt(fa)} (lower is better)"))
    acc = r.value("vae-z2", "test.probe.accuracy")
    out.append(compare(None if acc is None else acc > 0.5,
                       "Without labels, classes form (overlapping) clusters in the latent "
                       "space", SOURCE,
                       f"linear probe on the 2-D posterior means: accuracy {fmt(acc, 3)} "
                       "(chance 0.1)"))
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
