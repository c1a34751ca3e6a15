"""The disentanglement recipe's sweep and its checks of Locatello et al. (2019)."""

import pytest

from vaelab.recipes import RECIPES
from vaelab.recipes.disentanglement import SCORES, metric_agreement, seed_vs_model_spread


def test_sweep_covers_the_five_models_with_seeds():
    spec = RECIPES.get("disentanglement").build(True)
    assert [p.name for p in spec.points] == ["beta=1", "beta=4", "beta=16", "beta-tcvae",
                                             "factorvae"]
    assert spec.base.data.dataset in ("shapes", "dsprites") and spec.seeds == [0]
    assert RECIPES.get("disentanglement").build(False).seeds == [0, 1, 2]
    assert "disentanglement" in spec.metrics
    runs = spec.runs()  # every point is a valid config
    assert {r.config.objective.name for r in runs} == {"elbo", "beta-tcvae", "factorvae"}
    assert {r.config.objective.beta for r in runs if r.point == "beta=16"} == {16.0}


def six(value):
    return [value] * len(SCORES)


def test_seed_spread_comparable_to_model_spread():
    # Models differ by 0.1, seeds by ±0.1: the seed spread matches the model spread.
    noisy = {f"m{i}": [six(0.1 * i - 0.1), six(0.1 * i + 0.1)] for i in range(3)}
    evidence = seed_vs_model_spread(noisy)
    assert evidence.verdict == "agrees"
    assert evidence.numbers["comparable"] == 6 and evidence.numbers["scores"] == 6
    assert evidence.numbers["MIG"]["seed_std"] == pytest.approx(0.1414, abs=1e-4)
    # Models far apart, seeds nearly equal: the objective dominates.
    tight = {f"m{i}": [six(0.3 * i), six(0.3 * i + 0.001)] for i in range(3)}
    assert seed_vs_model_spread(tight).verdict == "disagrees"
    assert seed_vs_model_spread({"m0": [six(0.1)]}).verdict == "inconclusive"
    # A score that is 0 in every run (say FactorVAE on collapsed codes) is not evidence.
    constant = {f"m{i}": [six(0.0), six(0.0)] for i in range(3)}
    assert seed_vs_model_spread(constant).verdict == "inconclusive"


def test_metric_agreement():
    # Five runs ordered alike on every score: ρ = 1, exact permutation p = 1/120 per pair.
    rising = {"m": [[v, v, v, v, v, 0.5] for v in (0.1, 0.2, 0.3, 0.4, 0.5)]}
    evidence = metric_agreement(rising)
    assert evidence.verdict == "agrees" and evidence.numbers["significant"] == 10
    pair = evidence.numbers["pairs"]["BetaVAE~MIG"]
    assert pair["rho"] == pytest.approx(1.0) and pair["p_value"] == pytest.approx(1 / 120)
    # The only non-constant pair is ordered oppositely: no pair correlates.
    opposed = {"m": [[v, -v, 0.3, 0.3, 0.3, 0.5] for v in (0.1, 0.2, 0.3, 0.4, 0.5)]}
    assert metric_agreement(opposed).verdict == "disagrees"
    assert metric_agreement({"m": [six(0.1)] * 2}).verdict == "inconclusive"
    assert metric_agreement({"m": [six(0.1)] * 5}).verdict == "inconclusive"  # no ranks
    # A constant score (FactorVAE = 0 on collapsed codes) is left out, not counted as 0.
    one_constant = {"m": [[v, 0.0, v, v, v, 0.5] for v in (0.1, 0.2, 0.3, 0.4, 0.5)]}
    evidence = metric_agreement(one_constant)
    assert evidence.verdict == "agrees" and len(evidence.numbers["pairs"]) == 6


@pytest.mark.parametrize("recipe", ["disentanglement"])
def test_registered(recipe):
    assert recipe in RECIPES.names()
