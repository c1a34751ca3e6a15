"""Study 003: MNIST, a plain autoencoder and β ∈ {0, 0.01, 0.1, 0.2, 1, 10}: what β does
to reconstructions, samples, the KL term and interpolations."""

from __future__ import annotations

from vaelab.config import Config
from vaelab.recipes.base import (
    RECIPES,
    FigurePlan,
    Finding,
    Recipe,
    Results,
    SeedRun,
    fmt,
    fmt_estimate,
    judged,
    seeds_for,
)
from vaelab.recipes.rules import all_of, best_of, better, beyond, same
from vaelab.sweep import Point, SweepSpec

SOURCE = "study 003 (MNIST AE vs VAE, β sweep, interpolations)"
BETAS = [0.0, 0.01, 0.1, 0.2, 1.0, 10.0]


def build(quick: bool) -> SweepSpec:
    base = Config().replace(dataset="mnist", latent_dim=20, hidden=[512, 256], epochs=20)
    if quick:
        base = base.replace(subset=10000, epochs=3)
    points = [Point("ae", {"objective": "ae"})]
    points += [Point(f"beta={beta:g}", {"beta": beta}) for beta in BETAS]
    return SweepSpec(name="beta-sweep", base=base, points=points, seeds=seeds_for(quick),
                     metrics=["elbo", "collapse", "fid"], fid_samples=1000 if quick else 10000,
                     title="MNIST: autoencoder and β-VAEs")


def kl_rise(run: SeedRun) -> float | None:
    """Train KL of the last epoch minus that of the middle epoch (positive: still
    rising in the second half of training)."""
    kls = [row["train_kl"] for row in run.history if "train_kl" in row]
    if len(kls) < 2 or len(kls) < len(run.history):
        return None
    return kls[-1] - kls[len(kls) // 2]


def findings(r: Results) -> list[Finding]:
    betas = [f"beta={b:g}" for b in BETAS]
    recon = {p: r.estimate(p, "test.recon") for p in ["ae", *betas]}
    kl = {p: r.estimate(p, "test.kl") for p in betas}
    fid = {p: r.estimate(p, "test.fid.fid_samples") for p in ["ae", *betas]}
    ae_recon = recon["ae"]
    # "The same reconstructions": within 10% of the AE's error plus 2 nats.
    margin = 2.0 if ae_recon is None else 0.1 * abs(ae_recon.mean) + 2.0
    rise = r.per_seed("beta=0", "train KL rise (last − middle epoch)", kl_rise)
    with_fid = {p: fid[p] for p in betas if fid[p] is not None}
    best_fid = min(with_fid, key=lambda p: with_fid[p].mean) if with_fid else None
    elbo = {p: r.estimate(p, "test.elbo") for p in betas}
    with_elbo = {p: v for p, v in elbo.items() if v is not None}
    best_elbo = max(with_elbo, key=lambda p: with_elbo[p].mean) if with_elbo else None
    history = r.history("beta=0")
    return [
        judged(same(recon["beta=0"], ae_recon, margin, ("β=0", "AE")),
               f"With β = 0 the reconstructions are those of the autoencoder (margin "
               f"±{margin:.1f} nats: 10% of the AE's + 2)", SOURCE,
               f"test reconstruction (nats per image): β=0 {fmt_estimate(recon['beta=0'])}, "
               f"AE {fmt_estimate(ae_recon)}"),
        judged(beyond(rise, 0.0, "above", "β=0 train KL rise"),
               "With β = 0 the KL term keeps increasing during training", SOURCE,
               "train KL per epoch (β=0, first seed): " + ", ".join(
                   f"{row['train_kl']:.1f}" for row in history if "train_kl" in row)
               + f"; last − middle epoch over seeds: {fmt_estimate(rise, 1)}"),
        judged(all_of([best_of("beta=10", {p: recon[p] for p in betas}, "higher"),
                       best_of("beta=10", kl, "lower")],
                      "β=10 has both the highest reconstruction error and the lowest KL"),
               "β = 10 blurs reconstructions (worst reconstruction) and drives the KL very low",
               SOURCE, f"β=10: recon {fmt_estimate(recon['beta=10'])}, KL "
               f"{fmt_estimate(kl['beta=10'])} nats; "
               + ", ".join(f"{p}: KL {fmt(kl[p])}" for p in betas)),
        judged(best_of("beta=0.1", {p: fid[p] for p in betas}, "lower"),
               "β = 0.1 gives the best samples", SOURCE,
               f"lowest {r.fid_name} of prior samples: {best_fid} ("
               + ", ".join(f"{p} {fmt_estimate(v, 1)}" for p, v in with_fid.items())
               + f"); best test ELBO (β = 1 is the true ELBO objective): {best_elbo}"),
        judged(better(fid["beta=1"], fid["ae"], "lower", ("β=1 VAE", "AE")),
               "Samples from an autoencoder's latent space are not well-defined digits",
               SOURCE, f"{r.fid_name} of N(0,I) samples: AE {fmt_estimate(fid['ae'], 1)} vs "
               f"β=1 VAE {fmt_estimate(fid['beta=1'], 1)}"),
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
