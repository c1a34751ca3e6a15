"""A recipe's question and findings (findings.json), with a verdict badge each."""

from __future__ import annotations

from dataclasses import dataclass

from vaelab.report.reader import VERDICTS, SweepData


@dataclass
class Finding:
    claim: str
    source: str
    found: str
    verdict: str
    badge: str  # CSS class, from a fixed list


def findings_of(sweep: SweepData) -> tuple[str, list[Finding], list[str]]:
    findings = sweep.findings or {}
    recipe = sweep.spec.get("recipe") if isinstance(sweep.spec.get("recipe"), dict) else {}
    question = str(findings.get("question") or recipe.get("question") or "")
    items = []
    for item in findings.get("findings", []):
        verdict = str(item.get("verdict", ""))
        items.append(Finding(str(item.get("claim", "")), str(item.get("source", "")),
                             str(item.get("found", "")), verdict or "no verdict",
                             verdict if verdict in VERDICTS else "unknown"))
    notes = findings.get("notes", [])
    return question, items, [str(n) for n in notes] if isinstance(notes, list) else [str(notes)]
