"""A run's metrics as the report lists them: one row per declared number of every
registered metric (metrics/shown.py), each pointing to its estimator in the list under
the table; the metrics' breakdowns (ELBO per class, ...) as tables of their own; and the
plain numbers of metrics this version does not know, so that none is hidden."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vaelab.metrics.columns import metrics_in_order, numbers_of, owned_keys
from vaelab.metrics.shown import (
    DETAIL,
    MARK,
    Breakdown,
    Number,
    checkpoint_text,
    lookup,
    units_line,
)
from vaelab.report.cells import (
    Cell,
    Header,
    Table,
    fmt,
    is_number,
    number_cell,
    plus_minus,
    short_estimator,
)

# Section fields that describe the scoring, not results.
PROVENANCE = {"split", "images", "binarization", "estimator", "units", "seed", "checkpoint",
              "likelihood_is_density"}


@dataclass
class MetricRow:
    split: str
    metric: str
    value: Cell
    estimator: str  # the full text: estimator, images, binarisation, checkpoint
    brief: str  # its first clauses, shown in the row
    ref: int = 0  # number of the estimator in the list under the table


def brief(estimator: str) -> str:
    """"active units: Var(..) > 0.01 (Burda); mutual information: ..." → "active units;
    mutual information": the name of each clause."""
    names = [short_estimator(clause) for clause in estimator.split("; ") if clause]
    return "; ".join(dict.fromkeys(names))


def _row(split: str, metric: str, value: Cell, stats: dict[str, Any], estimator: str,
         extra: str = "") -> MetricRow:
    scoring = [f"{fmt(stats['images'])} images" if "images" in stats else "",
               f"binarization {stats['binarization']}" if "binarization" in stats else "",
               checkpoint_text(stats.get("checkpoint")), extra]
    full = "; ".join(filter(None, [estimator, ", ".join(filter(None, scoring))]))
    return MetricRow(split, metric, value, full, brief(estimator))


def number_row(split: str, number: Number, section: dict[str, Any], caveat: str
               ) -> MetricRow:
    owner = number.owner(section)
    raw = lookup(section, number.path)  # a hand-edited "high" is shown as it is
    cell = plus_minus(number_cell(raw, number.format), raw,
                      owner.get(number.spread) if number.spread else None, number.format)
    if number.value(section) is not None and number.detail:
        cell.text = number.row_text(section)
    return _row(split, number.row_name(section), cell, owner, number.estimator_text(section),
                caveat)


def unknown_rows(split: str, section: dict[str, Any]) -> list[MetricRow]:
    """Numbers of metrics this version does not know yet: shown plainly, none hidden."""
    owned = owned_keys()
    rows = []
    for key, value in section.items():
        if isinstance(value, dict) and key not in owned and key not in PROVENANCE:
            rows += [_row(split, f"{key}.{field}", number_cell(number), value,
                          str(value.get("estimator", "")))
                     for field, number in value.items()
                     if is_number(number) and field not in PROVENANCE]
        elif is_number(value) and key not in PROVENANCE and key not in owned:
            rows.append(_row(split, key, number_cell(value), section,
                             str(section.get("estimator", ""))))
    return rows


def units_note(metrics: dict[str, Any]) -> str:
    """Units and better directions of the declared numbers this run has."""
    shown = [number for metric in metrics_in_order() for number in numbers_of(metric, DETAIL)
             if any(isinstance(s, dict) and number.value(s) is not None
                    for s in metrics.values())]
    return units_line(shown)


def metric_rows(metrics: dict[str, Any]) -> tuple[list[MetricRow], list[str]]:
    """One row per number of metrics.json, in the order `vaelab eval` prints them, and
    the list of their estimators (with k, images, binarisation, checkpoint) that the
    rows refer to by number."""
    rows: list[MetricRow] = []
    for split, section in metrics.items():
        if not isinstance(section, dict):
            continue
        for metric in metrics_in_order():
            for number in numbers_of(metric, DETAIL):
                if number.path[-1] not in number.owner(section):
                    continue  # absent: no row (present but not a number: shown as it is)
                owner = number.owner(section)
                caveat = metric.caveat(owner) if metric.caveat else ""
                rows.append(number_row(split, number, section, caveat))
        rows += unknown_rows(split, section)
    estimators: list[str] = []
    for row in rows:
        if row.estimator not in estimators:
            estimators.append(row.estimator)
        row.ref = estimators.index(row.estimator) + 1
    return rows, estimators


def breakdown_tables(metrics: dict[str, Any]) -> list[tuple[str, Table]]:
    """(heading, table) for each breakdown of each metric in each split."""
    tables = []
    for split, section in metrics.items():
        if not isinstance(section, dict):
            continue
        for metric in metrics_in_order():
            for breakdown in metric.breakdowns:
                table = breakdown_table(breakdown, section)
                if table is not None:
                    tables.append((breakdown.heading(section, split), table))
    return tables


def breakdown_table(breakdown: Breakdown, section: dict[str, Any]) -> Table | None:
    rows = breakdown.rows(section)
    if not rows:
        return None
    headers = [Header(breakdown.index)]
    if breakdown.marked is not None:
        headers.append(Header(breakdown.marked[1]))
    headers += [Header(number.label, numeric=True) for number in breakdown.numbers]
    cells = []
    for name, row in rows:
        line = [Cell(name)]
        if breakdown.marked is not None:
            line.append(Cell("yes" if row.get(MARK) else "no"))
        line += [number_cell(lookup(row, n.path), n.format) for n in breakdown.numbers]
        cells.append(line)
    notes = [breakdown.caption] if breakdown.caption else []
    return Table(headers, cells, [], notes)
