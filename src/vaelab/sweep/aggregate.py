"""The sweep's table: for every point, mean ± std over its seeds of the headline numbers
that the registered metrics declare (metrics/columns.py), read from each run's
metrics.json, and the training time from history.csv. Written as
summary.json (for reports) and summary.csv (for spreadsheets); read only from run
directories, so it can be rebuilt at any time."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from vaelab import rundir
from vaelab.metrics.shown import MISSING, format_value, with_training_time
from vaelab.sweep import layout, state


def run_numbers(run_path: Path) -> tuple[dict[str, float], dict[str, str]]:
    """(column key → value, column key → estimator text) for one finished run, for every
    headline number the registered metrics declare and the training time."""
    from vaelab.metrics.columns import headline_columns

    metrics, _ = rundir.read_metrics(run_path)  # numbers of the current checkpoint only
    tree = with_training_time(metrics, rundir.read_history(run_path / rundir.HISTORY_FILE))
    values, estimators = {}, {}
    for column in headline_columns("test", training_time=True):
        value = column.value(tree)
        if value is not None:  # missing stays missing: never averaged in as a number
            values[column.key] = float(value)
            if column.estimator(tree):
                estimators[column.key] = column.estimator(tree)
    return values, estimators


def mean_std(values: list[float]) -> dict[str, float | int | None]:
    """Mean and sample standard deviation (n − 1); std is None for a single seed."""
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else None
    return {"mean": mean, "std": std, "n": n}


def summarize(sweep_dir: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Group the finished runs by point and aggregate; write summary.json/csv."""
    groups: dict[str, dict[str, Any]] = {}
    estimators: dict[str, list[str]] = {}  # column key → its distinct estimator texts
    for entry in manifest["points"]:
        group = groups.setdefault(entry["group"], {
            "group": entry["group"],
            "overrides": {k: v for k, v in entry["overrides"].items() if k != "seed"},
            "runs": [], "done": 0, "per_seed": {}, "failed": []})
        group["runs"].append(entry["name"])
        status = state.read_status(sweep_dir, entry["name"])
        if status.get("status") == "failed":
            group["failed"].append({"run": entry["name"], "error": status.get("error", "")})
        if status.get("status") != "done":
            continue
        group["done"] += 1
        values, found = run_numbers(sweep_dir / entry["run"])
        for key, text in found.items():
            if text not in estimators.setdefault(key, []):
                estimators[key].append(text)
        for key, value in values.items():
            group["per_seed"].setdefault(key, []).append(value)
    from vaelab.metrics.columns import headline_columns

    used = [c for c in headline_columns("test", training_time=True)
            if any(c.key in g["per_seed"] for g in groups.values())]
    summary = {
        "metrics": [{"key": c.key, "label": c.label,
                     "estimator": " | ".join(estimators.get(c.key, [])),
                     "better": c.number.better, "short": c.number.header,
                     "format": c.number.format} for c in used],
        "groups": [{"group": g["group"], "overrides": g["overrides"], "n": g["done"],
                    "runs": g["runs"], "failed": g["failed"],
                    "values": {key: mean_std(vals) for key, vals in g["per_seed"].items()}}
                   for g in groups.values()],
    }
    rundir.write_json(sweep_dir / layout.SUMMARY_JSON, summary)
    rundir.write_csv(sweep_dir / layout.SUMMARY_CSV, csv_rows(summary))
    return summary


def csv_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for group in summary["groups"]:
        row: dict[str, Any] = {"point": group["group"], "seeds_done": group["n"]}
        for metric in summary["metrics"]:
            stats = group["values"].get(metric["key"])
            row[f"{metric['key']}_mean"] = "" if stats is None else stats["mean"]
            row[f"{metric['key']}_std"] = ("" if stats is None or stats["std"] is None
                                           else stats["std"])
        rows.append(row)
    return rows


def format_cell(stats: dict[str, Any] | None, metric: dict[str, Any]) -> str:
    """'mean ± std' of one summary entry in the format its column declares (summary.json's
    "format"; MISSING when the group has no value)."""
    if stats is None:
        return MISSING
    spec = str(metric.get("format") or ".2f")
    if spec == "d" and (stats["std"] or stats["mean"] != int(stats["mean"])):
        spec = ".1f"  # a mean of counts over seeds (active units 2.5 ± 0.7)
    text = format_value(stats["mean"], spec)
    if stats["std"] is not None:
        text += f" ± {format_value(stats['std'], spec)}"
    return text
