"""The sweep's table: for every point, mean ± std over its seeds of the headline numbers
of each run's metrics.json (and training time from history.csv). Written as
summary.json (for reports) and summary.csv (for spreadsheets); read only from run
directories, so it can be rebuilt at any time."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vaelab import rundir
from vaelab.sweep import layout, state


@dataclass(frozen=True)
class Column:
    key: str  # dotted path into metrics.json, or "train.*" for history-derived values
    label: str
    estimator_key: str | None  # dotted path of the estimator text, for table headers
    better: str  # "higher" or "lower" or "" (neither)


COLUMNS = [
    Column("test.elbo", "test ELBO (nats)", "test.estimator", "higher"),
    Column("test.recon", "test recon (nats)", "test.estimator", "lower"),
    Column("test.kl", "test KL (nats)", "test.estimator", ""),
    Column("test.iw_nll.nll", "IS-NLL (nats)", "test.iw_nll.estimator", "lower"),
    Column("test.collapse.active_units", "active units", "test.collapse.estimator", ""),
    Column("test.collapse.mutual_information", "I(x;z) (nats)", "test.collapse.estimator",
           "higher"),
    Column("test.fid.fid_samples", "FID samples", "test.fid.estimator", "lower"),
    Column("test.fid.fid_reconstructions", "FID recon", "test.fid.estimator", "lower"),
    Column("test.probe.accuracy", "probe accuracy", "test.probe.estimator", "higher"),
    Column("train.seconds", "train time (s)", None, "lower"),
]


def lookup(tree: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(tree, dict) or part not in tree:
            return None
        tree = tree[part]
    return tree


def run_numbers(run_path: Path) -> tuple[dict[str, float], dict[str, str]]:
    """(column key → value, column key → estimator text) for one finished run."""
    metrics_path = run_path / rundir.METRICS_FILE
    metrics = rundir.read_json(metrics_path) if metrics_path.exists() else {}
    history_path = run_path / rundir.HISTORY_FILE
    if history_path.exists():
        rows = rundir.read_history(history_path)
        metrics = {**metrics, "train": {"seconds": sum(r.get("epoch_seconds", 0.0)
                                                       for r in rows)}}
    values, estimators = {}, {}
    for column in COLUMNS:
        value = lookup(metrics, column.key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            values[column.key] = float(value)
            if column.estimator_key:
                text = lookup(metrics, column.estimator_key)
                if isinstance(text, str):
                    estimators[column.key] = text
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
    estimators: dict[str, str] = {}
    for entry in manifest["points"]:
        group = groups.setdefault(entry["group"], {
            "group": entry["group"],
            "overrides": {k: v for k, v in entry["overrides"].items() if k != "seed"},
            "runs": [], "done": 0, "per_seed": {}})
        group["runs"].append(entry["name"])
        if not state.is_done(sweep_dir, entry["name"]):
            continue
        group["done"] += 1
        values, found = run_numbers(sweep_dir / entry["run"])
        estimators.update(found)
        for key, value in values.items():
            group["per_seed"].setdefault(key, []).append(value)
    used = [c for c in COLUMNS if any(c.key in g["per_seed"] for g in groups.values())]
    summary = {
        "metrics": [{"key": c.key, "label": c.label, "estimator": estimators.get(c.key, ""),
                     "better": c.better} for c in used],
        "groups": [{"group": g["group"], "overrides": g["overrides"], "n": g["done"],
                    "runs": g["runs"],
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


def format_cell(stats: dict[str, Any] | None, key: str) -> str:
    if stats is None:
        return "—"
    digits = 0 if key.endswith("active_units") else (3 if key.endswith("accuracy") else
                                                     1 if key == "train.seconds" else 2)
    text = f"{stats['mean']:.{digits}f}"
    if stats["std"] is not None:
        text += f" ± {stats['std']:.{digits}f}"
    return text
