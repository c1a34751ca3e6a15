"""The sweep directory, as rundir.py is a run directory: its file names, its format
version and the verdicts of its findings, defined here only. The sweep (state.py,
runner.py, the backends, aggregate.py) and the recipes write it; the report reads it.

    SWEEP/sweep.json              MANIFEST: spec, points (each with its run folder),
                                  backend, command, created, recipe; "sweep_format"
    SWEEP/.sweep.lock             LOCK_FILE: an flock over the manifest
    SWEEP/summary.json / .csv     SUMMARY_JSON / SUMMARY_CSV: mean ± std over seeds
    SWEEP/findings.json           FINDINGS_JSON (recipes): claims with VERDICTS
    SWEEP/figures/                FIGURES_DIR (recipes): comparison figures
    SWEEP/report.html             REPORT_FILE (recipes)
    SWEEP/runs/<run>/             RUNS_DIR: one run directory per point (rundir.py)
    SWEEP/state/<run>.claim       STATE_DIR, claim_path: "I am training this run"
    SWEEP/state/<run>.json        STATE_DIR, status_path: {"status": "done" | "failed", ...}
"""

from __future__ import annotations

from pathlib import Path

MANIFEST = "sweep.json"
LOCK_FILE = ".sweep.lock"
SUMMARY_JSON = "summary.json"
SUMMARY_CSV = "summary.csv"
FINDINGS_JSON = "findings.json"
FIGURES_DIR = "figures"
REPORT_FILE = "report.html"
RUNS_DIR = "runs"
STATE_DIR = "state"
# The layout's version, sweep.json's "sweep_format": raise it when a file changes shape.
SWEEP_FORMAT = 1
# How a finding of a recipe compares with the study's claim.
VERDICTS = ("agrees", "disagrees", "inconclusive")


def run_path(sweep_dir: Path, run_name: str) -> Path:
    return sweep_dir / RUNS_DIR / run_name


def claim_path(sweep_dir: Path, run_name: str) -> Path:
    return sweep_dir / STATE_DIR / f"{run_name}.claim"


def status_path(sweep_dir: Path, run_name: str) -> Path:
    return sweep_dir / STATE_DIR / f"{run_name}.json"
