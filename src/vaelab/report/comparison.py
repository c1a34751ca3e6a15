"""Tables across runs: one row per run with the key numbers as columns (summary.json's
columns for a sweep, then the headline numbers the registered metrics declare), and a
sweep's groups with mean ± std over seeds. A number a run lacks shows as MISSING, sorts
last and is never marked best; notes say which numbers are not comparable."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from vaelab.describe import describe_model
from vaelab.metrics.columns import column_for, comparability_notes, headline_columns
from vaelab.metrics.shown import MISSING, best_index, number_or_none, with_training_time
from vaelab.report.cells import (
    Cell,
    Header,
    Table,
    estimator_header,
    fmt,
    get,
    legend_of,
    number_cell,
    plus_minus,
    section,
)
from vaelab.report.config_prose import status_cell
from vaelab.report.reader import RunData


@dataclass
class Column:
    label: str
    path: tuple[str, ...]  # into metrics.json (plus "train.seconds" from the history)
    spec: str | None = None
    estimator: str | None = None  # from summary.json; else read from the runs' metrics
    better: str = ""  # "higher" or "lower"
    declared: str = ""  # label of the declared number behind it ("" for other columns)


def declared_columns() -> list[Column]:
    """The headline numbers of the test section, as the registered metrics declare them."""
    return [Column(c.label, c.path, c.number.format, better=c.number.better,
                   declared=c.number.label) for c in headline_columns("test")]


def summary_columns(summary: dict[str, Any] | None) -> list[Column]:
    """summary.json's columns (written by `vaelab sweep` from the same declarations)."""
    columns = []
    for metric in (summary or {}).get("metrics", []):
        key = str(metric.get("key", ""))
        column = column_for(key)
        spec = metric.get("format") or (column.number.format if column else None)
        columns.append(Column(str(metric.get("label") or key), tuple(key.split(".")),
                              spec=str(spec) if spec else None,
                              estimator=str(metric.get("estimator") or ""),
                              better=str(metric.get("better") or ""),
                              declared=column.number.label if column else ""))
    return columns


def numbers(run: RunData) -> dict[str, Any]:
    """metrics.json plus ``train.seconds`` from the history, the tree that summary.json's
    dotted keys point into (as `vaelab sweep` aggregates them)."""
    return with_training_time(run.metrics, run.history)


def column_estimators(column: Column, runs: list[RunData]) -> list[str]:
    """From summary.json, else the estimators of the metric dicts holding the numbers."""
    if column.estimator is not None:  # several runs' estimators: joined with " | "
        return column.estimator.split(" | ") if column.estimator else []
    declared = column_for(".".join(column.path)) if column.declared else None
    if declared is not None:  # the number's own text (Number.estimator_text)
        return sorted({declared.estimator(run.metrics) for run in runs
                       if declared.value(run.metrics) is not None} - {""})
    parents = [get(run.metrics, column.path[:-1]) for run in runs]
    return sorted({str(p["estimator"]) for p in parents
                   if isinstance(p, dict) and column.path[-1] in p and "estimator" in p})


def comparison_notes(runs: list[RunData]) -> tuple[list[str], set[str]]:
    """Why some numbers of the table may not be comparable (as `vaelab compare` warns),
    and the declared numbers concerned."""
    finished = [run for run in runs if run.info]
    return comparability_notes([section(run.metrics, "test") for run in finished],
                               [section(run.config, "data").get("dataset")
                                for run in finished])


def overrides_text(overrides: Any) -> str:
    if not isinstance(overrides, dict):
        return "" if overrides is None else str(overrides)
    return ", ".join(f"{key}={json.dumps(value, ensure_ascii=False)}"
                     for key, value in overrides.items())


def runs_table(runs: list[RunData], anchors: dict[int, str], *, sweep_columns: bool,
               summary: dict[str, Any] | None = None, sweep_names: dict[int, str] | None = None
               ) -> Table:
    """One row per run, key metrics as columns (only those some run has)."""
    columns = summary_columns(summary)
    taken = {c.path for c in columns}
    columns += [c for c in declared_columns() if c.path not in taken]
    trees = [numbers(run) for run in runs]
    columns = [c for c in columns if any(get(tree, c.path) is not None for tree in trees)]
    headers = [Header("run")]
    if sweep_names:
        headers.append(Header("sweep"))
    if sweep_columns:
        headers += [Header("group"), Header("seed", numeric=True), Header("overrides")]
    # A sweep's runs share the base model (shown under the table); their overrides differ.
    headers += [Header("status")] + ([] if sweep_columns else [Header("model")])
    headers += [Header("epochs", numeric=True), Header("parameters", numeric=True)]
    estimators = [column_estimators(column, runs) for column in columns]
    for column, texts in zip(columns, estimators, strict=True):
        ks = sorted({get(tree, (*column.path[:-1], "k")) for tree in trees} - {None}, key=str)
        headers.append(estimator_header(column.label, texts, better=column.better, ks=ks))
    notes, concerned = comparison_notes(runs)
    best = [None if column.declared in concerned else
            best_index([number_or_none(get(tree, column.path)) for tree in trees],
                       column.better) for column in columns]
    rows = []
    for i, (run, tree) in enumerate(zip(runs, trees, strict=True)):
        anchor = anchors.get(id(run))
        row = [Cell(run.label, href=f"#{anchor}" if anchor else None)]
        if sweep_names:
            row.append(Cell(sweep_names.get(id(run), "")))
        if sweep_columns:
            point = run.point or {}
            row += [Cell(str(point.get("group", ""))), number_cell(point.get("seed")),
                    Cell(overrides_text(point.get("overrides")))]
        row.append(status_cell(run))
        if not sweep_columns:
            row.append(Cell(describe_model(run.config) if run.info else MISSING, wrap=True))
        row += [number_cell(len(run.history) if run.info else None),
                number_cell(get(run.info, ("parameters", "total")))]
        for column, best_row in zip(columns, best, strict=True):
            cell = number_cell(get(tree, column.path), column.spec)
            cell.best = best_row == i
            row.append(cell)
        rows.append(row)
    legend = legend_of([(c.label, texts) for c, texts in zip(columns, estimators, strict=True)])
    if any(b is not None for b in best):
        notes = [*notes, "bold: the best value of a column among the runs that have it "
                         "(columns whose runs were scored differently are not ranked)"]
    return Table(headers, rows, legend, notes)


def aggregate_table(summary: dict[str, Any]) -> Table:
    """summary.json's groups: mean ± std over seeds, n, with the estimator per metric."""
    metrics = summary.get("metrics", [])
    headers = [Header("group"), Header("overrides"), Header("n", numeric=True)]
    columns = summary_columns(summary)
    headers += [estimator_header(c.label, column_estimators(c, []), better=c.better)
                for c in columns]
    legend = legend_of([(c.label, column_estimators(c, [])) for c in columns])
    rows = []
    for group in summary.get("groups", []):
        row = [Cell(str(group.get("group", ""))), Cell(overrides_text(group.get("overrides"))),
               number_cell(group.get("n"))]
        values = group.get("values") if isinstance(group.get("values"), dict) else {}
        for metric, column in zip(metrics, columns, strict=True):
            stats = values.get(str(metric.get("key", "")))
            stats = stats if isinstance(stats, dict) else {}
            cell = plus_minus(number_cell(stats.get("mean"), column.spec), stats.get("mean"),
                              stats.get("std"), column.spec)
            if stats.get("n") is not None and stats.get("n") != group.get("n"):
                cell.text += f" (n = {fmt(stats['n'])})"
            row.append(cell)
        rows.append(row)
    return Table(headers, rows, legend, [])
