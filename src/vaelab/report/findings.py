"""A recipe's question and findings (findings.json), with a verdict badge each and,
beside it, the numbers behind the verdict (means ± standard errors, or a p-value) and
the rule that decided it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from vaelab.report.reader import VERDICTS, SweepData


@dataclass
class Finding:
    claim: str
    source: str
    found: str
    verdict: str
    badge: str  # CSS class, from a fixed list
    evidence: str = ""  # the numbers behind the verdict
    rule: str = ""


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:.4g}"


def evidence_text(numbers: Any) -> str:
    """findings.json's "numbers" in one line: 'AE 60.1 ± 0.3 (n = 3); difference −2.1 ±
    0.4; p_value 0.008'. An estimate is a dict of mean, se, n; a part of a compound
    claim is a dict of such numbers."""
    if not isinstance(numbers, dict):
        return ""
    parts = []
    for name, value in numbers.items():
        if isinstance(value, dict) and "mean" in value:
            text = f"{name} {_number(value.get('mean'))}"
            if value.get("se") is not None:
                text += f" ± {_number(value['se'])}"
            if value.get("n") is not None:
                text += f" (n = {_number(value['n'])})"
            parts.append(text)
        elif isinstance(value, dict):
            parts.append(f"{name}: [{evidence_text(value)}]")
        elif value is not None:
            parts.append(f"{name} {_number(value)}")
    return "; ".join(parts)


def findings_of(sweep: SweepData) -> tuple[str, list[Finding], list[str]]:
    findings = sweep.findings or {}
    recipe = sweep.spec.get("recipe") if isinstance(sweep.spec.get("recipe"), dict) else {}
    question = str(findings.get("question") or recipe.get("question") or "")
    items = []
    for item in findings.get("findings", []):
        verdict = str(item.get("verdict", ""))
        items.append(Finding(str(item.get("claim", "")), str(item.get("source", "")),
                             str(item.get("found", "")), verdict or "no verdict",
                             verdict if verdict in VERDICTS else "unknown",
                             evidence_text(item.get("numbers")), str(item.get("rule") or "")))
    notes = findings.get("notes", [])
    return question, items, [str(n) for n in notes] if isinstance(notes, list) else [str(notes)]
