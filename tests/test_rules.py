"""The statistical rules of the recipes' verdicts (recipes/rules.py) on numbers worked
out by hand: the two-standard-error rule, equivalence margins, the permutation p-value of
Spearman's ρ, a published number within 2 s.e. + a tolerance."""

import math

import pytest
from scipy.stats import spearmanr

from vaelab.recipes.rules import (
    ONE_SEED,
    Estimate,
    all_of,
    best_of,
    better,
    beyond,
    matches_published,
    near,
    permutation_p,
    rank_agreement,
    ranks,
    same,
    spearman,
    standard_error,
)


def test_standard_error_by_hand():
    # s² = (2.25 + 0.25 + 0.25 + 2.25) / 3 = 5/3, se = √(5/3 / 4)
    assert standard_error([1, 2, 3, 4]) == pytest.approx(math.sqrt(5 / 12))
    assert standard_error([7.0]) is None
    a = Estimate.of([10, 12, 14])
    assert (a.mean, a.n) == (12, 3) and a.se == pytest.approx(2 / math.sqrt(3))
    assert Estimate.from_stats(12.0, 2.0, 3).se == pytest.approx(a.se)
    assert Estimate.from_stats(12.0, None, 1).se is None


def test_two_standard_errors_of_the_difference():
    a, b = Estimate.of([10, 12, 14]), Estimate.of([5, 6, 7])
    # diff 6, se(diff) = √(4/3 + 1/3) = 1.291: 6 > 2.582
    evidence = better(a, b, "higher", ("a", "b"))
    assert evidence.verdict == "agrees"
    assert evidence.numbers["difference"]["mean"] == pytest.approx(6)
    assert evidence.numbers["difference"]["se"] == pytest.approx(math.sqrt(5 / 3))
    assert evidence.numbers["a"] == {"mean": 12, "se": pytest.approx(1.1547, abs=1e-4),
                                     "n": 3}
    assert better(a, b, "lower").verdict == "disagrees"
    # diff 1 against 2 s.e. = 2·√(8/3) = 3.27: neither way
    assert better(a, Estimate.of([9, 11, 13]), "higher").verdict == "inconclusive"
    # exactly at 2 s.e. is not beyond it: diff 2, se(diff) = 1
    assert better(Estimate(3.0, 0.6, 3), Estimate(1.0, 0.8, 3), "higher").verdict == (
        "inconclusive")
    assert better(Estimate(3.01, 0.6, 3), Estimate(1.0, 0.8, 3), "higher").verdict == (
        "agrees")


def test_one_seed_or_a_missing_number_gives_no_verdict():
    one = Estimate.of([5.0])
    evidence = better(one, Estimate.of([1.0]), "higher")
    assert evidence.verdict == "inconclusive" and ONE_SEED in evidence.rule
    assert better(None, one, "higher").verdict == "inconclusive"
    assert same(one, one, 1.0).verdict == "inconclusive"
    assert beyond(one, 0.0, "above").verdict == "inconclusive"
    assert rank_agreement({"a": 1, "b": 2}, {"a": 1, "b": 2}).verdict == "inconclusive"


def test_equivalence_margin():
    a, b = Estimate.of([9.8, 10.0, 10.2]), Estimate.of([10.1, 10.1, 10.1])
    # |diff| 0.1, se(diff) 0.2/√3 = 0.1155: 0.1 + 0.231 = 0.331
    assert same(a, b, 0.5).verdict == "agrees"
    assert same(a, b, 0.2).verdict == "inconclusive"
    # |diff| 2 − 0.231 = 1.769 > 0.5
    far = same(a, Estimate.of([12, 12, 12]), 0.5)
    assert far.verdict == "disagrees" and far.numbers["margin"] == 0.5
    assert near(Estimate(8.0, 0.5, 3), 7.98, 3.99).verdict == "agrees"
    assert near(Estimate(20.0, 0.5, 3), 7.98, 3.99).verdict == "disagrees"
    assert near(Estimate(11.0, 0.5, 3), 7.98, 3.99).verdict == "inconclusive"


def test_threshold_and_best_of():
    assert beyond(Estimate(6.0, 0.0, 3), 10.5, "below").verdict == "agrees"
    assert beyond(Estimate(12.0, 0.5, 3), 10.5, "below").verdict == "disagrees"
    assert beyond(Estimate(11.0, 0.5, 3), 10.5, "below").verdict == "inconclusive"
    fid = {"a": Estimate(10.0, 1.0, 3), "b": Estimate(20.0, 1.0, 3),
           "c": Estimate(30.0, 1.0, 3)}
    # a beats b by 10 > 2·√2
    assert best_of("a", fid, "lower").verdict == "agrees"
    assert best_of("b", fid, "lower").verdict == "disagrees"
    assert best_of("c", fid, "higher").verdict == "agrees"
    fid["b"] = Estimate(11.0, 1.0, 3)  # b within 2 s.e. of a: no one is clearly best
    assert best_of("a", fid, "lower").verdict == "inconclusive"
    assert best_of("b", fid, "lower").verdict == "inconclusive"
    fid["d"] = None  # a point not measured
    assert best_of("a", fid, "lower").verdict == "inconclusive"


def test_compound_claim():
    yes, no = beyond(Estimate(1.0, 0.1, 3), 0, "above"), beyond(Estimate(-1.0, 0.1, 3), 0,
                                                                "above")
    maybe = beyond(Estimate(0.1, 0.1, 3), 0, "above")
    assert all_of([yes, yes], "both").verdict == "agrees"
    assert all_of([yes, maybe], "both").verdict == "inconclusive"
    assert all_of([maybe, no], "both").verdict == "disagrees"


def test_ranks_with_ties_and_spearman_against_scipy():
    assert ranks([3.0, 1.0, 2.0, 2.0]) == [4.0, 1.0, 2.5, 2.5]
    x, y = [1.0, 5.0, 3.0, 2.0, 8.0, 8.0, 4.0], [2.0, 9.0, 1.0, 3.0, 7.0, 6.0, 6.0]
    assert spearman(x, y) == pytest.approx(spearmanr(x, y)[0])


def test_exact_permutation_p_value_of_perfectly_ordered_data():
    # n = 5, perfectly ordered: only 1 of the 5! = 120 orderings reaches ρ = 1.
    rho, p, how = permutation_p([1, 2, 3, 4, 5], [10, 20, 30, 40, 50])
    assert rho == pytest.approx(1.0) and p == pytest.approx(1 / 120) and "exact" in how
    rho, p, _ = permutation_p([1, 2, 3, 4, 5], [50, 40, 30, 20, 10])
    assert rho == pytest.approx(-1.0) and p == 1.0  # every ordering has ρ ≥ −1
    agreement = rank_agreement(dict(zip("abcde", [1, 2, 3, 4, 5], strict=True)),
                               dict(zip("abcde", [10, 20, 30, 40, 50], strict=True)))
    assert agreement.verdict == "agrees"
    assert agreement.numbers["p_value"] == pytest.approx(1 / 120)
    reverse = rank_agreement(dict(zip("abcde", [5, 4, 3, 2, 1], strict=True)),
                             dict(zip("abcde", [10, 20, 30, 40, 50], strict=True)))
    assert reverse.verdict == "disagrees"
    assert reverse.numbers["p_value_negative"] == pytest.approx(1 / 120)
    # n = 4: p = 1/24 < 0.05; n = 3: p = 1/6, too few points for any verdict
    assert permutation_p([1, 2, 3, 4], [1, 2, 3, 4])[1] == pytest.approx(1 / 24)
    three = rank_agreement({"a": 1, "b": 2, "c": 3}, {"a": 1, "b": 2, "c": 3})
    assert three.verdict == "inconclusive"
    assert three.numbers["p_value"] == pytest.approx(1 / 6)


def test_monte_carlo_permutation_p_value_is_seeded_and_never_zero():
    x = list(range(9))  # 9! orderings: Monte Carlo
    rho, p, how = permutation_p(x, x, seed=3, permutations=2000)
    assert rho == pytest.approx(1.0) and "Monte Carlo" in how
    # (1 + hits) / (1 + N): at least 1/2001; hits of ρ = 1 are rare (1 in 9! orderings)
    assert 1 / 2001 <= p < 0.01
    assert permutation_p(x, x, seed=3, permutations=2000)[1] == p
    unrelated = [4, 0, 7, 2, 8, 1, 5, 3, 6]
    assert permutation_p(x, unrelated, seed=0, permutations=2000)[1] > 0.05


def test_published_number_within_two_standard_errors_plus_tolerance():
    measured = Estimate(85.0, 0.1, 1)  # se from the IS-NLL over test images
    ok = matches_published(measured, 84.78, 0.3)
    assert ok.verdict == "agrees" and ok.numbers["gap"] == pytest.approx(0.22)
    off = matches_published(measured, 86.76, 0.3)  # gap 1.76 > 0.2 + 0.3
    assert off.verdict == "disagrees" and off.numbers["gap"] == pytest.approx(-1.76)
    assert matches_published(None, 84.78, 0.3).verdict == "inconclusive"
