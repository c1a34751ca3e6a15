"""The disentanglement recipe's sweep and its checks of Locatello et al. (2019)."""

import pytest

from vaelab.recipes import RECIPES
from vaelab.recipes.disentanglement import SCORES, metric_agreement, seed_vs_model_spread


def test_sweep_covers_the_five_models_with_seeds():
    spec = RECIPES.get("disentanglement").build(True)
    assert [p.name for p in spec.points] == ["beta=1", "beta=4", "beta=16", "beta-tcvae",
                                             "factorvae"]
    assert spec.base.data.dataset in ("shapes", "dsprites") and len(spec.seeds) >= 2
    assert "disentanglement" in spec.metrics
    runs = spec.runs()  # every point is a valid config
    assert {r.config.objective.name for r in runs} == {"elbo", "beta-tcvae", "factorvae"}
    assert {r.config.objective.beta for r in runs if r.point == "beta=16"} == {16.0}


def six(value):
    return [value] * len(SCORES)


def test_seed_spread_comparable_to_model_spread():
    # Models differ by 0.1, seeds by ±0.1: the seed spread matches the model spread.
    noisy = {f"m{i}": [six(0.1 * i - 0.1), six(0.1 * i + 0.1)] for i in range(3)}
    ok, text = seed_vs_model_spread(noisy)
    assert ok is True and "comparable (seed ≥ ½ model) for 6 of 6 non-constant" in text
    # Models far apart, seeds nearly equal: the objective dominates.
    tight = {f"m{i}": [six(0.3 * i), six(0.3 * i + 0.001)] for i in range(3)}
    assert seed_vs_model_spread(tight)[0] is False
    assert seed_vs_model_spread({"m0": [six(0.1)]})[0] is None
    # A score that is 0 in every run (say FactorVAE on collapsed codes) is not evidence.
    constant = {f"m{i}": [six(0.0), six(0.0)] for i in range(3)}
    assert seed_vs_model_spread(constant)[0] is None


def test_metric_agreement():
    rising = {"m": [[v, v, v, v, v, 0.5] for v in (0.1, 0.2, 0.3, 0.4, 0.5)]}
    ok, text = metric_agreement(rising)
    assert ok is True and "1.00" in text
    opposed = {"m": [[v, -v, v, -v, v, 0.5] for v in (0.1, 0.2, 0.3, 0.4, 0.5)]}
    assert metric_agreement(opposed)[0] is False
    assert metric_agreement({"m": [six(0.1)] * 2})[0] is None
    assert metric_agreement({"m": [six(0.1)] * 5})[0] is None  # constant: no ranks
    # A constant score (FactorVAE = 0 on collapsed codes) is left out, not counted as 0.
    one_constant = {"m": [[v, 0.0, v, v, v, 0.5] for v in (0.1, 0.2, 0.3, 0.4, 0.5)]}
    ok, text = metric_agreement(one_constant)
    assert ok is True and "over 6 pairs" in text


@pytest.mark.parametrize("recipe", ["disentanglement"])
def test_registered(recipe):
    assert recipe in RECIPES.names()
