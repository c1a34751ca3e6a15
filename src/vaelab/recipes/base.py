"""A recipe: a named sweep + evaluation + comparison figures + findings that reproduce
one classic VAE study. ``run_recipe`` runs the sweep (resumable like any sweep), draws
the figures into SWEEP/figures/, checks each of the study's claims against the measured
numbers into SWEEP/findings.json and writes SWEEP/report.html.

A recipe file defines a ``Recipe`` and registers it:

    RECIPES.register("beta-sweep")(Recipe(name=..., build=spec_for, figures=[...],
                                          findings=check_claims))
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from vaelab import rundir
from vaelab.errors import VaelabError
from vaelab.metrics.features import DEFAULT_FEATURES, FEATURE_NETWORKS
from vaelab.metrics.shown import lookup, with_training_time
from vaelab.progress import log_console
from vaelab.recipes.rules import Estimate, Evidence
from vaelab.registry import Registry
from vaelab.sweep import SweepRunsFailed, SweepSpec, layout, run_sweep
from vaelab.sweep import state as sweep_state
from vaelab.sweep.layout import VERDICTS

# Seeds per point: a full run's verdicts need standard errors over at least 3 seeds;
# --quick trains one (a smoke test, no verdict).
FULL_SEEDS = (0, 1, 2)


def seeds_for(quick: bool) -> list[int]:
    return [0] if quick else list(FULL_SEEDS)


SMOKE_TEST = "smoke test, no verdict (--quick: one seed, a few epochs)"


@dataclass(frozen=True)
class Finding:
    """One claim of the study, what vaelab measured, whether they agree, the rule that
    decided it (rules.py) and the numbers behind it (means with standard errors, or a
    p-value)."""

    claim: str
    source: str
    found: str
    verdict: str
    rule: str = ""
    numbers: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")

    def smoke_test(self) -> Finding:
        """The finding of a --quick run: its numbers, but no verdict."""
        return Finding(self.claim, self.source, self.found, "inconclusive",
                       f"{SMOKE_TEST}; a full run applies: {self.rule}", self.numbers)


@dataclass(frozen=True)
class SeedRun:
    """One finished seed of a point: its metrics (with the training time), config and
    history, for numbers that findings derive per seed."""

    metrics: dict[str, Any]
    config: dict[str, Any]
    history: list[dict[str, float]]


@dataclass(frozen=True)
class FigurePlan:
    """A comparison figure of some points (first seed of each) into SWEEP/figures/, or
    with ``per_run`` one figure per point into each run's own figures/."""

    figure: str
    stem: str
    points: tuple[str, ...] | None = None  # None: every point
    options: dict[str, Any] = field(default_factory=dict)
    per_run: bool = False


@dataclass(frozen=True)
class Recipe:
    name: str
    title: str
    question: str
    source: str  # the study it reproduces
    build: Callable[[bool], SweepSpec]  # quick → the sweep
    findings: Callable[[Results], list[Finding]]
    figures: tuple[FigurePlan, ...] = ()
    quick_note: str = ""


RECIPES: Registry[Recipe] = Registry("recipe")


class Results:
    """Read-only view of a finished recipe sweep for the findings: per-point means over
    seeds with their standard errors (summary.json), numbers read or derived per seed
    from each run (metrics, config, history), and the first seed's history.

    Every read that finds no number is recorded in ``misses`` ("point: key"): on a
    finished sweep that means a finding reads a number the recipe did not compute."""

    def __init__(self, sweep_dir: Path, quick: bool):
        self.sweep_dir = Path(sweep_dir)
        self.quick = quick
        self.manifest = sweep_state.read_manifest(self.sweep_dir) or {}
        self.summary = rundir.read_json(self.sweep_dir / layout.SUMMARY_JSON)
        self.groups = {g["group"]: g for g in self.summary["groups"]}
        self.misses: list[str] = []

    @property
    def fid_name(self) -> str:
        """How findings name the sweep's FID: "domain-classifier FID", "Inception FID"."""
        return self._feature_network().fid_name

    @property
    def score_name(self) -> str:
        return self._feature_network().score_name

    def _feature_network(self) -> Any:
        spec = self.manifest.get("spec", {})
        return FEATURE_NETWORKS.get(spec.get("fid_features", DEFAULT_FEATURES))

    def points(self) -> list[str]:
        return list(self.groups)

    def summary_stats(self, point: str, key: str) -> dict[str, Any] | None:
        """summary.json's {"mean", "std", "n"} of a column, None if missing."""
        return self.groups.get(point, {}).get("values", {}).get(key)

    def estimate(self, point: str, key: str) -> Estimate | None:
        """Mean over seeds of a summary column (e.g. ``test.elbo``) and its standard
        error; None (and a recorded miss) if missing."""
        stats = self.summary_stats(point, key)
        if stats is None:
            self.misses.append(f"{point}: {key}")
            return None
        return Estimate.from_stats(stats["mean"], stats["std"], stats["n"])

    def seed_runs(self, point: str) -> list[SeedRun]:
        runs = []
        for path in self.run_paths(point):
            history = rundir.read_history(path / rundir.HISTORY_FILE)
            metrics = with_training_time(rundir.read_metrics(path)[0], history)
            runs.append(SeedRun(metrics, rundir.read_json(path / rundir.CONFIG_FILE), history))
        return runs

    def per_seed(self, point: str, key: str,
                 derive: Callable[[SeedRun], float | None] | None = None) -> Estimate | None:
        """The mean over seeds, with its standard error, of a number of each seed's run:
        metrics.json's dotted ``key`` (any number, not only summary columns), or
        ``derive(run)`` of each run (``key`` then names it). None (and a recorded miss)
        when a finished seed lacks it."""
        values = []
        for run in self.seed_runs(point):
            value = derive(run) if derive else lookup(run.metrics, tuple(key.split(".")))
            if not isinstance(value, int | float) or isinstance(value, bool):
                values = []
                break
            values.append(float(value))
        if not values:
            self.misses.append(f"{point}: {key}")
            return None
        return Estimate.of(values)

    def run_paths(self, point: str) -> list[Path]:
        """The finished seeds' run directories of a point."""
        return [self.sweep_dir / entry["run"] for entry in self.manifest.get("points", [])
                if entry["group"] == point and sweep_state.is_done(self.sweep_dir,
                                                                   entry["name"])]

    def run_path(self, point: str) -> Path | None:
        paths = self.run_paths(point)
        return paths[0] if paths else None

    def seed_metrics(self, point: str) -> list[dict[str, Any]]:
        """The current metrics of every finished seed of a point (for per-run findings)."""
        return [rundir.read_metrics(self.sweep_dir / entry["run"])[0]
                for entry in self.manifest.get("points", [])
                if entry["group"] == point and sweep_state.is_done(self.sweep_dir,
                                                                   entry["name"])]

    def history(self, point: str) -> list[dict[str, float]]:
        path = self.run_path(point)
        return [] if path is None else rundir.read_history(path / rundir.HISTORY_FILE)

    @cached_property
    def missing(self) -> list[str]:
        return [p for p in self.groups if self.run_path(p) is None]


def judged(evidence: Evidence, claim: str, source: str, found: str) -> Finding:
    """A Finding whose verdict, rule and numbers come from a rule of rules.py."""
    return Finding(claim, source, found, evidence.verdict, evidence.rule, evidence.numbers)


def unscored(claim: str, source: str, found: str, why: str = "a visual comparison"
             ) -> Finding:
    """A claim vaelab shows (a figure) or explains but does not score."""
    return Finding(claim, source, found, "inconclusive", f"not scored: {why}")


def fmt_estimate(estimate: Estimate | None, digits: int = 2) -> str:
    """'12.30 ± 0.40' (mean ± standard error over seeds), the mean alone for one seed."""
    if estimate is None:
        return "n/a"
    if estimate.se is None:
        return f"{estimate.mean:.{digits}f}"
    return f"{estimate.mean:.{digits}f} ± {estimate.se:.{digits}f}"


def fmt(value: float | Estimate | None, digits: int = 2) -> str:
    """A number, or an estimate's mean, with ``digits`` decimals; 'n/a' when missing."""
    if isinstance(value, Estimate):
        value = value.mean
    return "n/a" if value is None else f"{value:.{digits}f}"


def draw_figures(recipe: Recipe, results: Results, console: Console) -> list[str]:
    """The recipe's figures; returns notes on the ones that could not be drawn."""
    from vaelab.figures import NotApplicable, options_for, write_figure
    from vaelab.run import load_run
    from vaelab.runlock import writer_lock

    notes = []
    out_dir = results.sweep_dir / layout.FIGURES_DIR
    for plan in recipe.figures:
        points = list(plan.points) if plan.points is not None else results.points()
        paths = [(p, results.run_path(p)) for p in points]
        runs = [(p, load_run(path)) for p, path in paths if path is not None]
        if not runs:
            continue
        try:
            if plan.per_run:
                for _, run in runs:
                    with writer_lock(run.path):  # one writer per run directory
                        write_figure(plan.figure, run, run.figures_dir, stem=plan.stem,
                                     **options_for(plan.figure, False, plan.options))
            else:
                # Runs are labelled by their directory names, "<point>-seed<k>".
                write_figure(plan.figure, [run for _, run in runs], out_dir, stem=plan.stem,
                             **options_for(plan.figure, len(runs) > 1, plan.options))
        except NotApplicable as why:
            notes.append(f"figure {plan.stem} skipped: {why}")
        console.print(f"  figure {plan.stem}")
    return notes


def run_recipe(name: str, out: str | Path | None = None, *, quick: bool = False,
               backend: str = "auto", workers: int | None = None, force: bool = False,
               progress: bool = True, overrides: dict[str, Any] | None = None,
               report: bool = True, fid_features: str | None = None) -> Path:
    """Run recipe ``name`` into ``out`` (default sweeps/<name>[-quick]); return the sweep
    directory. ``overrides`` (flat option names) apply to every point's base config, e.g.
    a CSV copy of the data: {"dataset": "csv", "data_path": "fashion.csv"}.
    ``fid_features``: the feature network of its fid and prdc (metrics/features.py)."""
    recipe = RECIPES.get(name)
    spec = recipe.build(quick)
    spec.name = recipe.name
    if fid_features is not None:
        from vaelab.sweep.spec import check_fid_features

        spec.fid_features = FEATURE_NETWORKS.get(fid_features).name
        check_fid_features(spec, f"recipe {name}")
    # Another feature network is another sweep: its own default directory.
    suffix = "" if spec.fid_features == DEFAULT_FEATURES else f"-{spec.fid_features}"
    out = (Path(out) if out is not None
           else Path("sweeps") / f"{name}{suffix}{'-quick' if quick else ''}")
    if overrides:
        spec.base = spec.base.replace(**overrides)
        spec.runs()  # every point must still be valid
    console = log_console(quiet=not progress)
    console.print(f"[bold]recipe {name}[/]{' (quick)' if quick else ''}: {recipe.question}")
    info = {"name": recipe.name, "title": recipe.title, "question": recipe.question,
            "source": recipe.source, "quick": quick}
    failed = None  # some runs failed: findings and report of the others, then the error
    try:
        run_sweep(spec, out, backend=backend, workers=workers, force=force,
                  progress=progress, command=list(sys.argv), extra={"recipe": info})
    except SweepRunsFailed as err:
        failed = err
    results = Results(out, quick)
    notes = draw_figures(recipe, results, console)
    findings = recipe.findings(results)
    if quick:
        findings = [finding.smoke_test() for finding in findings]
        base = spec.base
        notes.insert(0, f"--quick: {base.data.subset:,} training images, {base.train.epochs} "
                     f"epochs (lr {base.train.lr:g}), {len(spec.seeds)} seed per point: a "
                     f"{SMOKE_TEST.split(' (')[0]} — the numbers test the recipe, not the "
                     "study; run without --quick (at least 3 seeds per point) for verdicts. "
                     + recipe.quick_note)
    rundir.write_json(out / layout.FINDINGS_JSON, {
        "question": recipe.question, "source": recipe.source, "quick": quick,
        "findings": [f.__dict__ for f in findings], "notes": notes})
    for finding in findings:
        style = {"agrees": "green", "disagrees": "red"}.get(finding.verdict, "yellow")
        console.print(f"  [{style}]{finding.verdict}[/] {escape(finding.claim)} — "
                      f"{escape(finding.found)}")
    if report:
        _write_report(out)
    if failed is not None:
        shown = f": {out / layout.REPORT_FILE}" if report else ""
        raise VaelabError(f"recipe {name}: {failed}; the report shows the failed runs{shown}")
    return out


def _write_report(out: Path) -> None:
    try:
        from vaelab.report import write_report
    except ImportError:  # the report package is optional only while it is being built
        raise VaelabError("vaelab.report is missing; reinstall vaelab") from None
    # Its path is the caller's to say (`vaelab recipe run` prints it on stdout).
    write_report([out], out / layout.REPORT_FILE, force=True)
