"""The statistical rules that turn a recipe's measured numbers into a verdict, as pure
functions of the numbers (no files, no models), each returning its ``Evidence``: the
verdict, the rule in words, and the numbers behind it (means with their standard errors,
or a p-value) for findings.json and the report.

- "A is better than B" (``better``, ``best_of``, ``best_in``, ``beyond``): agrees when the
  mean difference exceeds two standard errors of the difference, disagrees when it exceeds
  them the other way, else inconclusive. The seeds of two points are independent runs, so
  se(A − B) = √(se_A² + se_B²); a standard error is s/√n over the n seeds (s with n − 1).
- "A is about the same as B" (``same``, ``near``): an equivalence test with a margin the
  finding states (two one-sided tests at about 2 s.e., Schuirmann 1987): agrees when
  |A − B| + 2 s.e. ≤ margin, disagrees when |A − B| − 2 s.e. > margin, else inconclusive.
- A rank agreement (``rank_agreement``): Spearman's ρ with a one-sided permutation p-value
  for a positive association, exact over all n! orderings for n ≤ EXACT_UP_TO, else a
  seeded Monte Carlo permutation test with p = (1 + #{ρ* ≥ ρ}) / (1 + N) (Phipson & Smyth
  2010, so p is never 0); agrees when p < ALPHA, disagrees when the one-sided p-value of
  a negative association is < ALPHA, else inconclusive.
- A published number (``matches_published``): agrees when |measured − published| ≤
  2 s.e. + a stated tolerance, else disagrees with the gap.

One seed gives no standard error, so every rule above is then inconclusive.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from vaelab.sweep.layout import VERDICTS

ALPHA = 0.05
EXACT_UP_TO = 8  # 8! = 40,320 orderings; above it a Monte Carlo permutation test
PERMUTATIONS = 20_000
ONE_SEED = "one seed: no standard error, no verdict"


@dataclass(frozen=True)
class Estimate:
    """A mean over n seeds and its standard error (None with one seed)."""

    mean: float
    se: float | None
    n: int

    @classmethod
    def of(cls, values: Iterable[float]) -> Estimate:
        values = [float(v) for v in values]
        if not values:
            raise ValueError("an estimate needs at least one value")
        return cls(sum(values) / len(values), standard_error(values), len(values))

    @classmethod
    def from_stats(cls, mean: float, std: float | None, n: int) -> Estimate:
        """From summary.json's mean, sample std and n."""
        return cls(float(mean), None if std is None or n < 2 else std / math.sqrt(n), int(n))

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "se": self.se, "n": self.n}


@dataclass(frozen=True)
class Evidence:
    verdict: str
    rule: str  # the rule applied, in words
    numbers: dict[str, Any] = field(default_factory=dict)  # name → Estimate dict or number

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")


def standard_error(values: Sequence[float]) -> float | None:
    """s/√n with the sample standard deviation s (n − 1); None for fewer than two."""
    n = len(values)
    if n < 2:
        return None
    mean = sum(values) / n
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1) / n)


def difference(a: Estimate, b: Estimate) -> Estimate | None:
    """A − B of two independent estimates; None when either has no standard error."""
    if a.se is None or b.se is None:
        return None
    return Estimate(a.mean - b.mean, math.hypot(a.se, b.se), min(a.n, b.n))


def _signed(better: str) -> float:
    if better not in ("higher", "lower"):
        raise ValueError(f"better must be 'higher' or 'lower', got {better!r}")
    return 1.0 if better == "higher" else -1.0


def _two_se(gain: float, se: float) -> str:
    """The two-SE verdict of a gain (positive: in the claimed direction)."""
    if gain > 2 * se:
        return "agrees"
    if gain < -2 * se:
        return "disagrees"
    return "inconclusive"


def better(a: Estimate | None, b: Estimate | None, better: str, names: tuple[str, str] = (
        "A", "B")) -> Evidence:
    """The claim "A is better than B" (``better``: "higher" or "lower" is better)."""
    sign = _signed(better)
    rule = (f"{names[0]} {better} than {names[1]}: agrees when the mean difference exceeds "
            "2 standard errors of the difference, disagrees when it does the other way")
    numbers = {name: e.to_dict() for name, e in zip(names, (a, b), strict=True) if e}
    if a is None or b is None:
        return Evidence("inconclusive", rule + "; not measured", numbers)
    diff = difference(a, b)
    if diff is None:
        return Evidence("inconclusive", f"{rule}; {ONE_SEED}", numbers)
    numbers["difference"] = diff.to_dict()
    return Evidence(_two_se(sign * diff.mean, diff.se), rule, numbers)


def beyond(estimate: Estimate | None, threshold: float, side: str, name: str = "value"
           ) -> Evidence:
    """The claim "the value is above (``side`` "above") or below a threshold"."""
    sign = {"above": 1.0, "below": -1.0}[side]
    rule = (f"{name} {side} {threshold:g}: agrees when the mean is beyond it by more than "
            "2 standard errors, disagrees when it is that far on the other side")
    if estimate is None:
        return Evidence("inconclusive", rule + "; not measured", {"threshold": threshold})
    numbers = {name: estimate.to_dict(), "threshold": threshold}
    if estimate.se is None:
        return Evidence("inconclusive", f"{rule}; {ONE_SEED}", numbers)
    return Evidence(_two_se(sign * (estimate.mean - threshold), estimate.se), rule, numbers)


def best_in(group: Iterable[str], estimates: dict[str, Estimate | None], better: str
            ) -> Evidence:
    """The claim "the best of ``estimates`` is one of ``group``": agrees when the group's
    best (by mean) beats every point outside the group by more than 2 s.e. of the
    difference; disagrees when some point outside beats every member by that much."""
    sign = _signed(better)
    group = list(group)
    rule = (f"best ({better} is better) is one of {', '.join(group)}: agrees when it beats "
            "every other point by more than 2 standard errors of the difference, disagrees "
            "when another point beats it by that much")
    numbers = {name: e.to_dict() for name, e in estimates.items() if e is not None}
    if any(estimates.get(name) is None for name in group) or None in estimates.values():
        return Evidence("inconclusive", rule + "; not every point was measured", numbers)
    if any(e.se is None for e in estimates.values()):
        return Evidence("inconclusive", f"{rule}; {ONE_SEED}", numbers)
    inside = {n: e for n, e in estimates.items() if n in group}
    outside = {n: e for n, e in estimates.items() if n not in group}
    top = max(inside, key=lambda n: sign * inside[n].mean)
    gains = {n: sign * difference(inside[top], e).mean for n, e in outside.items()}
    ses = {n: difference(inside[top], e).se for n, e in outside.items()}
    if all(gains[n] > 2 * ses[n] for n in outside):
        return Evidence("agrees", rule, numbers)
    for n, e in outside.items():
        if all(sign * (e.mean - m.mean) > 2 * difference(e, m).se for m in inside.values()):
            return Evidence("disagrees", f"{rule} ({n} does)", numbers)
    return Evidence("inconclusive", rule, numbers)


def best_of(target: str, estimates: dict[str, Estimate | None], better: str) -> Evidence:
    """The claim "``target`` is the best of ``estimates``"."""
    return best_in([target], estimates, better)


def same(a: Estimate | None, b: Estimate | None, margin: float,
         names: tuple[str, str] = ("A", "B")) -> Evidence:
    """The claim "A and B are about the same", within ± ``margin``."""
    numbers = {name: e.to_dict() for name, e in zip(names, (a, b), strict=True) if e}
    numbers["margin"] = margin
    diff = None if a is None or b is None else difference(a, b)
    rule = (f"{names[0]} and {names[1]} equal within ±{margin:.3g}: agrees when "
            "|difference| + 2 s.e. ≤ margin, disagrees when |difference| − 2 s.e. > margin")
    if a is None or b is None:
        return Evidence("inconclusive", rule + "; not measured", numbers)
    if diff is None:
        return Evidence("inconclusive", f"{rule}; {ONE_SEED}", numbers)
    numbers["difference"] = diff.to_dict()
    return Evidence(_equivalent(diff.mean, diff.se, margin), rule, numbers)


def near(estimate: Estimate | None, target: float, margin: float, name: str = "value"
         ) -> Evidence:
    """The claim "the value is about ``target``", within ± ``margin``."""
    rule = (f"{name} equals {target:g} within ±{margin:.3g}: agrees when |mean − target| + "
            "2 s.e. ≤ margin, disagrees when |mean − target| − 2 s.e. > margin")
    numbers: dict[str, Any] = {"target": target, "margin": margin}
    if estimate is None:
        return Evidence("inconclusive", rule + "; not measured", numbers)
    numbers[name] = estimate.to_dict()
    if estimate.se is None:
        return Evidence("inconclusive", f"{rule}; {ONE_SEED}", numbers)
    return Evidence(_equivalent(estimate.mean - target, estimate.se, margin), rule, numbers)


def _equivalent(diff: float, se: float, margin: float) -> str:
    if abs(diff) + 2 * se <= margin:
        return "agrees"
    if abs(diff) - 2 * se > margin:
        return "disagrees"
    return "inconclusive"


def matches_published(estimate: Estimate | None, published: float, tolerance: float,
                      name: str = "measured") -> Evidence:
    """A reproduction of a published number: agrees within 2 s.e. + ``tolerance``, else
    disagrees with the gap (a published table gives no uncertainty of its own)."""
    rule = (f"agrees when |measured − published| ≤ 2 s.e. + {tolerance:g}, else disagrees")
    numbers: dict[str, Any] = {} if estimate is None else {name: estimate.to_dict()}
    numbers["published"] = published
    if estimate is None or estimate.se is None:
        why = "not measured" if estimate is None else "no standard error"
        return Evidence("inconclusive", f"{rule}; {why}", {**numbers, "tolerance": tolerance})
    gap = estimate.mean - published
    numbers.update({"gap": gap, "tolerance": tolerance})
    verdict = "agrees" if abs(gap) <= 2 * estimate.se + tolerance else "disagrees"
    return Evidence(verdict, rule, numbers)


def ranks(values: Sequence[float]) -> list[float]:
    """Ranks from 1, ties given their average rank (as Spearman's ρ needs)."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for i in order[start:end + 1]:
            out[i] = (start + end) / 2 + 1
        start = end + 1
    return out


def _pearson(x: Sequence[float], y: Sequence[float]) -> float:
    mx, my = sum(x) / len(x), sum(y) / len(y)
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else 0.0


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's ρ: the Pearson correlation of the ranks."""
    return _pearson(ranks(x), ranks(y))


def permutation_p(x: Sequence[float], y: Sequence[float], *, seed: int = 0,
                  permutations: int = PERMUTATIONS) -> tuple[float, float, str]:
    """(ρ, one-sided p-value of ρ ≥ observed, how): the fraction of orderings of y whose
    ρ with x is at least the observed one. Exact over all n! orderings for n ≤
    EXACT_UP_TO; otherwise ``permutations`` seeded shuffles, p = (1 + hits) / (1 + N)."""
    rx, ry = ranks(x), ranks(y)
    rho = _pearson(rx, ry)
    tie = 1e-12  # equal ρ up to rounding counts as "at least"
    if len(x) <= EXACT_UP_TO:
        hits = total = 0
        for order in itertools.permutations(ry):
            total += 1
            hits += _pearson(rx, order) >= rho - tie
        return rho, hits / total, f"exact over all {total} orderings"
    rng = random.Random(seed)
    shuffled = list(ry)
    hits = 0
    for _ in range(permutations):
        rng.shuffle(shuffled)
        hits += _pearson(rx, shuffled) >= rho - tie
    return rho, (1 + hits) / (1 + permutations), (f"Monte Carlo, {permutations} seeded "
                                                  f"permutations (seed {seed})")


def rank_agreement(ours: dict[str, float], theirs: dict[str, float], *, seed: int = 0
                   ) -> Evidence:
    """The claim "our ranking agrees with the study's" over the names both have."""
    names = [n for n in theirs if n in ours]
    rule = (f"Spearman's ρ with a one-sided permutation p-value: agrees when p < {ALPHA} "
            f"for ρ > 0, disagrees when p < {ALPHA} for ρ < 0")
    if len(names) < 3:
        return Evidence("inconclusive", rule + "; fewer than 3 points measured",
                        {"points": len(names)})
    x = [ours[n] for n in names]
    y = [theirs[n] for n in names]
    rho, p_up, how = permutation_p(x, y, seed=seed)
    _, p_down, _ = permutation_p(x, [-v for v in y], seed=seed)
    numbers = {"rho": rho, "p_value": p_up, "p_value_negative": p_down, "points": len(names),
               "permutations": how}
    verdict = "agrees" if p_up < ALPHA else ("disagrees" if p_down < ALPHA else "inconclusive")
    return Evidence(verdict, f"{rule} ({how})", numbers)


def all_of(parts: Sequence[Evidence], rule: str) -> Evidence:
    """A claim made of several: agrees when every part agrees, disagrees when any part
    disagrees, else inconclusive; the parts' numbers side by side."""
    verdicts = [p.verdict for p in parts]
    verdict = ("disagrees" if "disagrees" in verdicts else
               "agrees" if all(v == "agrees" for v in verdicts) else "inconclusive")
    numbers = {f"part {i + 1}": p.numbers for i, p in enumerate(parts)}
    return Evidence(verdict, rule + ": " + "; ".join(p.rule for p in parts), numbers)


def exact(ok: bool | None, rule: str, numbers: dict[str, Any]) -> Evidence:
    """A deterministic fact (a parameter count): no uncertainty to weigh."""
    verdict = "inconclusive" if ok is None else ("agrees" if ok else "disagrees")
    return Evidence(verdict, rule, numbers)
