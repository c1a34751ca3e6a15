"""The sweep directory, as rundir.py is a run directory: its file names, its format
version and the verdicts of its findings, defined here only. The sweep (state.py,
runner.py, the backends, aggregate.py) and the recipes write it; the report reads it.

    SWEEP/sweep.json              MANIFEST: spec, points (each with its run folder),
                                  backend, command, created, recipe; "sweep_format"
    SWEEP/.sweep.lock             LOCK_FILE: an flock over the manifest
    SWEEP/summary.json / .csv     SUMMARY_JSON / SUMMARY_CSV: mean ± std over seeds
    SWEEP/findings.json           FINDINGS_JSON (recipes): claims with VERDICTS, each
                                  with its rule and numbers (recipes/rules.py)
    SWEEP/figures/                FIGURES_DIR (recipes): comparison figures
    SWEEP/report.html             REPORT_FILE (recipes)
    SWEEP/runs/<run>/             RUNS_DIR: one run directory per point (rundir.py)
    SWEEP/state/<run>.claim       STATE_DIR, claim_path: "I am training this run"
    SWEEP/state/<run>.json        STATE_DIR, status_path: {"status": "done" | "failed", ...}

A sweep directory belongs to one spec: sweep.json's "spec_id" (SweepSpec.identity: a hash
of everything but the name, title and seeds) must match to run another spec there; only
seeds may be added. Names (the sweep's, each run's) are single path components
(check_name); a sweep without --out goes to SWEEPS_ROOT/<name>, and a command-line sweep's
default name carries its spec_id, so two different sweeps never share a directory.
"""

from __future__ import annotations

import re
from pathlib import Path

from vaelab.errors import VaelabError, shown

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
# Where `vaelab sweep` without --out puts a sweep: SWEEPS_ROOT/<name>.
SWEEPS_ROOT = Path("sweeps")
# A sweep's name and its runs' names are single path components of these characters, so
# that no name can place a file outside the sweep's parent directory (no "/", no "..",
# no leading dot that would hide it).
_NAME = re.compile(r"[A-Za-z0-9_+=,-][A-Za-z0-9._+=,-]{0,159}")


def check_name(name: str, *, what: str = "sweep name") -> str:
    """``name`` if it is one safe path component, else one line saying what is allowed."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise VaelabError(f"{what} {shown(name)!r} is not a plain directory name: use "
                          "letters, digits and . _ + = , - (no '/', not starting with '.')")
    return name


def default_dir(name: str) -> Path:
    """The sweep directory of a sweep without --out."""
    return SWEEPS_ROOT / check_name(name)


def run_path(sweep_dir: Path, run_name: str) -> Path:
    return sweep_dir / RUNS_DIR / check_name(run_name, what="sweep run name")


def claim_path(sweep_dir: Path, run_name: str) -> Path:
    return sweep_dir / STATE_DIR / f"{check_name(run_name, what='sweep run name')}.claim"


def status_path(sweep_dir: Path, run_name: str) -> Path:
    return sweep_dir / STATE_DIR / f"{check_name(run_name, what='sweep run name')}.json"
