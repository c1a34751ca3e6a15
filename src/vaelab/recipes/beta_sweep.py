"""Study 003: MNIST, a plain autoencoder and β ∈ {0, 0.01, 0.1, 0.2, 1, 10}: what β does
to reconstructions, samples, the KL term and interpolations."""

from __future__ import annotations

from vaelab.config import Config
from vaelab.recipes.base import RECIPES, FigurePlan, Finding, Recipe, Results, compare, fmt
from vaelab.sweep import Point, SweepSpec

SOURCE = "study 003 (MNIST AE vs VAE, β sweep, interpolations)"
BETAS = [0.0, 0.01, 0.1, 0.2, 1.0, 10.0]


def build(quick: bool) -> SweepSpec:
    base = Config().replace(dataset="mnist", latent_dim=20, hidden=[512, 256], epochs=20)
    if quick:
        base = base.replace(subset=10000, epochs=3)
    points = [Point("ae", {"objective": "ae"})]
    points += [Point(f"beta={beta:g}", {"beta": beta}) for beta in BETAS]
    return SweepSpec(name="beta-sweep", base=base, points=points,
                     metrics=["elbo", "collapse", "fid"], fid_samples=1000 if quick else 10000,
                     title="MNIST: autoencoder and β-VAEs")


def _kl_still_rising(history: list[dict[str, float]]) -> bool | None:
    kls = [row["train_kl"] for row in history]
    if len(kls) < 2:
        return None
    return kls[-1] > kls[len(kls) // 2] or kls[-1] > kls[0]


def findings(r: Results) -> list[Finding]:
    recon = {p: r.value(p, "test.recon") for p in r.points()}
    kl = {p: r.value(p, "test.kl") for p in r.points()}
    fid = {p: r.value(p, "test.fid.fid_samples") for p in r.points()}
    betas = [f"beta={b:g}" for b in BETAS]
    have_recon = all(recon.get(p) is not None for p in ["ae", *betas])
    close = None
    if have_recon:
        close = abs(recon["beta=0"] - recon["ae"]) <= 0.1 * abs(recon["ae"]) + 2.0
    rising = _kl_still_rising(r.history("beta=0"))
    with_fid = {p: v for p, v in fid.items() if v is not None and p != "ae"}
    best_fid = min(with_fid, key=with_fid.get) if with_fid else None
    elbo = {p: r.value(p, "test.elbo") for p in betas}
    with_elbo = {p: v for p, v in elbo.items() if v is not None}
    best_elbo = max(with_elbo, key=with_elbo.get) if with_elbo else None
    return [
        compare(close, "With β = 0 the reconstructions are those of the autoencoder", SOURCE,
                f"test reconstruction (nats per image): β=0 {fmt(recon.get('beta=0'))}, AE "
                f"{fmt(recon.get('ae'))}"),
        compare(rising, "With β = 0 the KL term keeps increasing during training", SOURCE,
                "train KL per epoch (β=0): " + ", ".join(
                    f"{row['train_kl']:.1f}" for row in r.history("beta=0"))),
        compare(None if not have_recon else (
            recon["beta=10"] == max(recon[p] for p in betas)
            and kl["beta=10"] == min(kl[p] for p in betas)),
            "β = 10 blurs reconstructions (worst reconstruction) and drives the KL very low",
            SOURCE, f"β=10: recon {fmt(recon.get('beta=10'))}, KL {fmt(kl.get('beta=10'))} "
            "nats; " + ", ".join(f"{p}: KL {fmt(kl.get(p))}" for p in betas)),
        compare(None if best_fid is None else best_fid == "beta=0.1",
                "β = 0.1 gives the best samples", SOURCE,
                f"lowest domain-classifier FID of prior samples: {best_fid} ("
                + ", ".join(f"{p} {fmt(v, 1)}" for p, v in with_fid.items())
                + f"); best test ELBO (β = 1 is the true ELBO objective): {best_elbo}"),
        compare(None if fid.get("ae") is None or fid.get("beta=1") is None
                else fid["ae"] > fid["beta=1"],
                "Samples from an autoencoder's latent space are not well-defined digits",
                SOURCE, f"FID of N(0,I) samples: AE {fmt(fid.get('ae'), 1)} vs β=1 VAE "
                f"{fmt(fid.get('beta=1'), 1)}"),
    ]


RECIPES.register("beta-sweep")(Recipe(
    name="beta-sweep", title="β sweep: from autoencoder to over-regularised VAE",
    question="What does the KL weight β do to reconstructions, samples and the latent "
             "space, from β = 0 (an autoencoder with noise) to β = 10?",
    source=SOURCE, build=build, findings=findings,
    figures=(FigurePlan("curves", "curves"),
             FigurePlan("tableau", "reconstructions", options={"n": 8}),
             FigurePlan("interpolation", "interpolations-ae-vs-vae", ("ae", "beta=1"),
                        options={"pairs": 3}),
             FigurePlan("samples", "samples", per_run=True),
             FigurePlan("interpolation", "interpolation", per_run=True))))
