"""Disentanglement: β-VAE (β ∈ {1, 4, 16}), β-TCVAE and FactorVAE on a data set with
known factors, several seeds, the six disentanglement scores with mean ± std, latent
traversals per model, and two findings of Locatello et al. (2019) checked against the
numbers. dSprites when its file is found, else vaelab's procedural ``shapes`` (offline).
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np

from vaelab.concepts import DATASETS
from vaelab.config import Config
from vaelab.recipes.base import RECIPES, FigurePlan, Finding, Recipe, Results, compare, fmt
from vaelab.sweep import Point, SweepSpec

SOURCE = ("Locatello et al. 2019, Challenging common assumptions in the unsupervised "
          "learning of disentangled representations (ICML), §5")
POINTS = [Point("beta=1", {"objective": "elbo", "beta": 1.0}),
          Point("beta=4", {"objective": "elbo", "beta": 4.0}),
          Point("beta=16", {"objective": "elbo", "beta": 16.0}),
          Point("beta-tcvae", {"objective": "beta-tcvae"}),
          Point("factorvae", {"objective": "factorvae"})]
# (label, path inside the run's test section) of the six scores.
SCORES = [("BetaVAE", ("disentanglement", "beta_vae", "score")),
          ("FactorVAE", ("disentanglement", "factor_vae", "score")),
          ("MIG", ("disentanglement", "mig", "score")),
          ("SAP", ("disentanglement", "sap", "score")),
          ("DCI-D", ("disentanglement", "dci", "disentanglement")),
          ("modularity", ("disentanglement", "modularity", "score"))]


def dataset() -> str:
    """dsprites where its file is found (no download is tried), else shapes."""
    return "dsprites" if DATASETS.get("dsprites")().info().available else "shapes"


def build(quick: bool) -> SweepSpec:
    name = dataset()
    base = Config().replace(dataset=name, latent_dim=10, hidden=[256, 256],
                            epochs=30 if name == "shapes" else 5, batch_size=64)
    seeds = [0, 1, 2]
    if quick:
        base = base.replace(subset=2000, epochs=3, latent_dim=6)
        seeds = [0, 1]
    return SweepSpec(name="disentanglement", base=base, points=list(POINTS), seeds=seeds,
                     metrics=["elbo", "disentanglement"],
                     title=f"{name}: β-VAE, β-TCVAE and FactorVAE, disentanglement scores")


def per_run_scores(r: Results) -> dict[str, list[list[float]]]:
    """{point: [[six scores] per finished seed]}, read from every run's metrics."""
    out: dict[str, list[list[float]]] = {}
    for point in r.points():
        for metrics in r.seed_metrics(point):
            values = []
            for _, path in SCORES:
                value = metrics.get("test", {})
                for key in path:
                    value = value.get(key) if isinstance(value, dict) else None
                values.append(value if isinstance(value, float | int) else None)
            if None not in values:
                out.setdefault(point, []).append([float(v) for v in values])
    return out


def seed_vs_model_spread(scores: dict[str, list[list[float]]]) -> tuple[bool | None, str]:
    """Locatello et al. §5.2: random seeds matter as much as the model. Per score: the
    mean over models of the std over seeds, and the std over models of the seed means."""
    if len(scores) < 2 or any(len(runs) < 2 for runs in scores.values()):
        return None, "needs at least two models with two finished seeds each"
    comparable, judged, parts = 0, 0, []
    for s, (label, _) in enumerate(SCORES):
        seed_std = float(np.mean([np.std([run[s] for run in runs], ddof=1)
                                  for runs in scores.values()]))
        model_std = float(np.std([np.mean([run[s] for run in runs])
                                  for runs in scores.values()], ddof=1))
        parts.append(f"{label} {seed_std:.3f} vs {model_std:.3f}")
        if seed_std == model_std == 0.0:
            continue  # a score equal in every run says nothing about either spread
        judged += 1
        comparable += seed_std >= 0.5 * model_std  # "comparable": at least half
    if judged == 0:
        return None, "every score is the same in every run: " + "; ".join(parts)
    return (comparable * 2 > judged,
            f"std over seeds (mean over models) vs std over models: {'; '.join(parts)}; "
            f"comparable (seed ≥ ½ model) for {comparable} of {judged} non-constant scores")


def metric_agreement(scores: dict[str, list[list[float]]]) -> tuple[bool | None, str]:
    """Locatello et al. §5.1 (fig. 2): the scores (except modularity) are correlated
    over trained models. Spearman rank correlation over all runs, for each pair of the
    first five scores; the claim agrees when the median pair is positive and ≥ 0.3."""
    from scipy.stats import spearmanr

    runs = [run for group in scores.values() for run in group]
    if len(runs) < 4:
        return None, f"needs at least 4 finished runs, found {len(runs)}"
    table = np.array(runs)
    rhos = []
    for a, b in itertools.combinations(range(5), 2):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a constant score has no rank correlation
            rho = spearmanr(table[:, a], table[:, b]).statistic
        if not np.isnan(rho):
            rhos.append(float(rho))
    if not rhos:
        return None, f"the scores are constant across the {len(runs)} runs"
    median = float(np.median(rhos))
    return median >= 0.3, (f"median Spearman ρ over {len(rhos)} pairs of BetaVAE, "
                           f"FactorVAE, MIG, SAP, DCI-D (pairs with a constant score left "
                           f"out) across {len(runs)} runs: {median:.2f} (range "
                           f"{min(rhos):.2f} to {max(rhos):.2f})")


def findings(r: Results) -> list[Finding]:
    scores = per_run_scores(r)
    spread_ok, spread_text = seed_vs_model_spread(scores)
    agree_ok, agree_text = metric_agreement(scores)
    mig = {p: r.value(p, "test.disentanglement.mig.score") for p in r.points()}
    best = max((p for p in mig if mig[p] is not None), key=lambda p: mig[p], default=None)
    return [
        compare(spread_ok, "The spread of disentanglement scores over random seeds is "
                "comparable to the spread over models (seeds matter as much as the "
                "objective)", SOURCE, spread_text),
        compare(agree_ok, "The disentanglement metrics (except modularity) correlate with "
                "each other across trained models", SOURCE, agree_text),
        compare(None if best is None else best != "beta=1",
                "A regulariser that penalises total correlation or a larger β gives a "
                "higher MIG than the plain VAE (β = 1) on average",
                "Higgins et al. 2017; Chen et al. 2018; Kim & Mnih 2018",
                "mean MIG over seeds: " + ", ".join(f"{p} {fmt(v, 3)}" for p, v in
                                                    mig.items())),
    ]


RECIPES.register("disentanglement")(Recipe(
    name="disentanglement", title="Disentanglement: β-VAE, β-TCVAE, FactorVAE",
    question="Do β-VAE, β-TCVAE and FactorVAE disentangle known factors, and do the "
             "disentanglement scores depend more on the objective than on the random seed?",
    source=SOURCE, build=build, findings=findings,
    figures=(FigurePlan("curves", "curves"),
             FigurePlan("traversal", "traversal", per_run=True)),
    quick_note="Three epochs on 2000 images do not disentangle anything: the findings' "
               "verdicts are only a smoke test of the checks."))
