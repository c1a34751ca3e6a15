"""Disentanglement: β-VAE (β ∈ {1, 4, 16}), β-TCVAE and FactorVAE on a data set with
known factors, several seeds, the six disentanglement scores with mean ± std, latent
traversals per model, and two findings of Locatello et al. (2019) checked against the
numbers. dSprites when its file is found, else vaelab's procedural ``shapes`` (offline).
"""

from __future__ import annotations

import itertools

import numpy as np

from vaelab.concepts import DATASETS
from vaelab.config import Config
from vaelab.recipes import rules
from vaelab.recipes.base import RECIPES, FigurePlan, Finding, Recipe, Results, judged, seeds_for
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
    if quick:
        base = base.replace(subset=2000, epochs=3, latent_dim=6)
    return SweepSpec(name="disentanglement", base=base, points=list(POINTS),
                     seeds=seeds_for(quick),
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


def seed_vs_model_spread(scores: dict[str, list[list[float]]]) -> rules.Evidence:
    """Locatello et al. §5.2: random seeds matter as much as the model. Per score: the
    mean over models of the std over seeds, and the std over models of the seed means;
    "comparable" when the first is at least half the second, for most non-constant
    scores (a stated rule on spreads: no standard error of a spread is weighed)."""
    rule = ("seed spread comparable to model spread: for most non-constant scores, the mean "
            "over models of the std over seeds is at least half the std over models of "
            "the seed means")
    if len(scores) < 2 or any(len(runs) < 2 for runs in scores.values()):
        return rules.exact(None, rule + "; needs two models with two finished seeds each",
                           {"models": len(scores)})
    comparable, judged_scores, numbers = 0, 0, {}
    for s, (label, _) in enumerate(SCORES):
        seed_std = float(np.mean([np.std([run[s] for run in runs], ddof=1)
                                  for runs in scores.values()]))
        model_std = float(np.std([np.mean([run[s] for run in runs])
                                  for runs in scores.values()], ddof=1))
        numbers[label] = {"seed_std": seed_std, "model_std": model_std}
        if seed_std == model_std == 0.0:
            continue  # a score equal in every run says nothing about either spread
        judged_scores += 1
        comparable += seed_std >= 0.5 * model_std
    numbers.update(comparable=comparable, scores=judged_scores)
    if judged_scores == 0:
        return rules.exact(None, rule + "; every score is the same in every run", numbers)
    return rules.exact(comparable * 2 > judged_scores, rule, numbers)


def metric_agreement(scores: dict[str, list[list[float]]]) -> rules.Evidence:
    """Locatello et al. §5.1 (fig. 2): the scores (except modularity) are correlated
    over trained models. For each pair of the first five scores, Spearman's ρ over all
    runs with a one-sided permutation p-value (rules.permutation_p)."""
    rule = (f"agrees when most pairs of BetaVAE, FactorVAE, MIG, SAP, DCI-D correlate "
            f"positively with a one-sided permutation p < {rules.ALPHA}; disagrees when "
            "no pair does; pairs with a constant score are left out")
    runs = [run for group in scores.values() for run in group]
    if len(runs) < 4:
        return rules.exact(None, rule + f"; needs at least 4 finished runs, found {len(runs)}",
                           {"runs": len(runs)})
    table = np.array(runs)
    pairs = {}
    for a, b in itertools.combinations(range(5), 2):
        x, y = table[:, a].tolist(), table[:, b].tolist()
        if len(set(x)) < 2 or len(set(y)) < 2:
            continue  # a constant score has no rank correlation
        rho, p, how = rules.permutation_p(x, y)
        pairs[f"{SCORES[a][0]}~{SCORES[b][0]}"] = {"rho": rho, "p_value": p}
    if not pairs:
        return rules.exact(None, rule + f"; the scores are constant across the {len(runs)} "
                           "runs", {"runs": len(runs)})
    significant = sum(pair["rho"] > 0 and pair["p_value"] < rules.ALPHA
                      for pair in pairs.values())
    verdict = (True if significant * 2 > len(pairs) else False if significant == 0 else None)
    return rules.exact(verdict, f"{rule} ({how})", {"pairs": pairs, "runs": len(runs),
                                                   "significant": significant})


def findings(r: Results) -> list[Finding]:
    scores = per_run_scores(r)
    mig = {p: r.per_seed(p, "test.disentanglement.mig.score") for p in r.points()}
    spread, agree = seed_vs_model_spread(scores), metric_agreement(scores)
    regularised = rules.all_of(
        [rules.better(mig.get(p), mig.get("beta=1"), "higher", (p, "beta=1"))
         for p in ("beta-tcvae", "factorvae")],
        "both total-correlation penalties beat the plain VAE on MIG")
    return [
        judged(spread, "The spread of disentanglement scores over random seeds is "
               "comparable to the spread over models (seeds matter as much as the "
               "objective)", SOURCE, _spreads(spread.numbers)),
        judged(agree, "The disentanglement metrics (except modularity) correlate with "
               "each other across trained models", SOURCE, _pairs(agree.numbers)),
        judged(regularised, "A regulariser that penalises total correlation (β-TCVAE, "
               "FactorVAE) gives a higher MIG than the plain VAE (β = 1)",
               "Chen et al. 2018; Kim & Mnih 2018",
               "mean MIG over seeds: " + ", ".join(
                   f"{p} {rules_fmt(e)}" for p, e in mig.items())),
    ]


def rules_fmt(estimate: rules.Estimate | None) -> str:
    from vaelab.recipes.base import fmt_estimate

    return fmt_estimate(estimate, 3)


def _spreads(numbers: dict) -> str:
    parts = [f"{label} {v['seed_std']:.3f} vs {v['model_std']:.3f}"
             for label, v in numbers.items() if isinstance(v, dict)]
    return ("std over seeds (mean over models) vs std over models: " + "; ".join(parts)
            if parts else "not enough finished runs")


def _pairs(numbers: dict) -> str:
    pairs = numbers.get("pairs", {})
    if not pairs:
        return "not enough finished runs, or constant scores"
    rhos = [pair["rho"] for pair in pairs.values()]
    return (f"Spearman ρ over {numbers['runs']} runs for {len(pairs)} pairs: median "
            f"{float(np.median(rhos)):.2f} (range {min(rhos):.2f} to {max(rhos):.2f}); "
            f"{numbers['significant']} pairs with p < {rules.ALPHA}")


RECIPES.register("disentanglement")(Recipe(
    name="disentanglement", title="Disentanglement: β-VAE, β-TCVAE, FactorVAE",
    question="Do β-VAE, β-TCVAE and FactorVAE disentangle known factors, and do the "
             "disentanglement scores depend more on the objective than on the random seed?",
    source=SOURCE, build=build, findings=findings,
    figures=(FigurePlan("curves", "curves"),
             FigurePlan("traversal", "traversal", per_run=True)),
    quick_note="Three epochs on 2000 images do not disentangle anything: the findings' "
               "verdicts are only a smoke test of the checks."))
