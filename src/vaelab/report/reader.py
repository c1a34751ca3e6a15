"""Read run directories and sweep directories for a report: files only, nothing is
trained, evaluated or drawn (DESIGN rule 5).

A run directory is recognised by its config.json, a sweep directory by its sweep.json
(file names from sweep/layout.py, the layout's one home):

    SWEEP/sweep.json      name, title, base config, points (each with its run folder),
                          backend, command, created, recipe (or null)
    SWEEP/summary.json    metrics (key, label, estimator) and groups (mean, std, n)
    SWEEP/findings.json   optional: the recipe's question, findings with verdicts, notes
    SWEEP/figures/        optional comparison figures
    SWEEP/runs/<dir>/     one run directory per point
    SWEEP/state/<dir>.json   optional: "failed" and its error, for runs that failed

A sweep that is still running has points whose run folder is missing or unfinished;
they are read as such, never as errors. A file that exists but cannot be read (corrupt
JSON, another format) is an error naming the file and what to do (DESIGN rule 7).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vaelab import rundir
from vaelab.errors import VaelabError, shown
from vaelab.run import checkpoint_config, warn
from vaelab.sweep import layout
from vaelab.sweep.layout import (  # VERDICTS: render.py imports it from here
    FINDINGS_JSON,
    MANIFEST,
    SUMMARY_JSON,
    SWEEP_FORMAT,
    VERDICTS,  # noqa: F401
)

# Magic bytes of the figure formats embedded in a report, with their MIME types.
IMAGE_TYPES = {".png": (b"\x89PNG\r\n\x1a\n", "image/png"), ".gif": (b"GIF8", "image/gif")}


@dataclass
class Image:
    """One figure file, read into memory to be embedded as a data: URI."""

    name: str  # file name, e.g. "curves.png"
    mime: str
    data: bytes

    @property
    def size(self) -> tuple[int, int] | None:
        """(width, height) from the PNG IHDR chunk or the GIF logical screen."""
        if self.mime == "image/png" and len(self.data) >= 24:
            return (int.from_bytes(self.data[16:20], "big"),
                    int.from_bytes(self.data[20:24], "big"))
        if self.mime == "image/gif" and len(self.data) >= 10:
            return (int.from_bytes(self.data[6:8], "little"),
                    int.from_bytes(self.data[8:10], "little"))
        return None


@dataclass
class RunData:
    """What a run directory holds. ``status`` is "finished", "not finished" (training
    stopped or still going: fewer epochs than configured, or no test metrics yet),
    "missing" (a sweep point whose run folder does not exist yet) or "failed" (the sweep
    recorded an error for it)."""

    path: Path
    label: str  # as the user gave it, or the sweep point's name
    status: str
    status_note: str = ""
    info: dict[str, Any] = field(default_factory=dict)  # config.json
    history: list[dict[str, float]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    figures: list[Image] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. figure files that were skipped
    point: dict[str, Any] | None = None  # the sweep point, for runs of a sweep

    @property
    def config(self) -> dict[str, Any]:
        config = self.info.get("config")
        return config if isinstance(config, dict) else {}


@dataclass
class SweepData:
    path: Path
    label: str
    spec: dict[str, Any]  # sweep.json
    summary: dict[str, Any] | None  # summary.json, None while the sweep is still running
    findings: dict[str, Any] | None  # findings.json (recipes only)
    figures: list[Image]
    runs: list[RunData]
    notes: list[str] = field(default_factory=list)


def read_json_file(path: Path, fix: str) -> Any:
    """A JSON file that must exist; ``fix`` says what to do when it is corrupt."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise VaelabError(f"{shown(path)} is missing; {fix}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise VaelabError(f"{shown(path)} cannot be read ({err}); {fix}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise VaelabError(f"{shown(path)} is not valid JSON ({err}); the file is corrupt: "
                          f"{fix}") from None


def _object(value: Any, path: Path, what: str, fix: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise VaelabError(f"{shown(path)} is not {what} (expected a JSON object); {fix}")
    return value


def read_images(folder: Path) -> tuple[list[Image], list[str]]:
    """The PNG and GIF files of a figures folder, in vaelab's figure order; files whose
    content is not what their name says are skipped with a note."""
    from vaelab.figures import ORDER

    if not folder.is_dir():
        return [], []
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_TYPES
             and not p.name.startswith(".")]  # ".NAME.*.tmp" writes never match; be safe
    rank = {name: i for i, name in enumerate(ORDER)}
    files.sort(key=lambda p: (rank.get(p.stem, len(rank)), p.stem, p.suffix.lower()))
    images, notes = [], []
    for path in files:
        magic, mime = IMAGE_TYPES[path.suffix.lower()]
        try:
            data = path.read_bytes()
        except OSError as err:
            notes.append(f"skipped {path.name}: cannot be read ({err})")
            continue
        if not data.startswith(magic):
            notes.append(f"skipped {path.name}: not a valid {path.suffix.lower()[1:].upper()} "
                         "file (redraw it with `vaelab plot`)")
            continue
        images.append(Image(name=path.name, mime=mime, data=data))
    return images, notes


def read_run(path: Path, label: str | None = None, point: dict[str, Any] | None = None
             ) -> RunData:
    """A run directory. For a sweep point (``point`` given) a folder that does not exist
    yet, or has no config.json yet, is "missing" rather than an error."""
    label = label if label is not None else str(path)
    fix = (f"restore it, or delete {shown(path)} and train it again"
           if point is None else f"delete {shown(path)} and run that sweep point again")
    if point is not None and not (path / rundir.CONFIG_FILE).is_file():
        return RunData(path=path, label=label, status="missing",
                       status_note="not started yet (no run directory)" if not path.exists()
                       else "not started yet (no config.json)", point=point)
    config_path = path / rundir.CONFIG_FILE
    info = _object(read_json_file(config_path, fix), config_path, "a vaelab run config", fix)
    if "run_format" in info:
        rundir.check_format(info["run_format"], config_path)
    if not isinstance(info.get("config"), dict):
        raise VaelabError(f"{shown(config_path)} has no \"config\" section; it was not "
                          f"written by `vaelab train` ({fix})")
    history = rundir.read_history(path / rundir.HISTORY_FILE)
    metrics_path = path / rundir.METRICS_FILE
    metrics = {}
    if metrics_path.exists():
        rescore = f"delete it and run `vaelab eval {shown(path)}` to score the run again"
        metrics = _object(read_json_file(metrics_path, rescore), metrics_path,
                          "a vaelab metrics file", rescore)
    # Only numbers of the current checkpoints; the config the checkpoint was built with.
    metrics, stale = rundir.read_metrics(path, metrics)
    config, problem = checkpoint_config(path, info["config"])
    if problem:
        warn(problem, rundir.READER_NOTE)
        info = {**info, "config": config}
    figures, notes = read_images(path / rundir.FIGURES_DIR)
    notes = [*stale, *([problem + rundir.READER_NOTE] if problem else []), *notes]

    train = info["config"].get("train")
    wanted = train.get("epochs") if isinstance(train, dict) else None
    status, note = "finished", ""
    if isinstance(wanted, int) and len(history) < wanted:
        status, note = "not finished", f"{len(history)} of {wanted} epochs"
    elif "test" not in metrics:
        status, note = "not finished", "no test metrics yet"
    return RunData(path=path, label=label, status=status, status_note=note, info=info,
                   history=history, metrics=metrics, figures=figures, notes=notes, point=point)


def _failure(path: Path) -> str | None:
    """The error a sweep recorded for a run, or None (no state file, not failed, or a
    state file that cannot be read: the sweep itself treats those as pending)."""
    try:
        status = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(status, dict) or status.get("status") != "failed":
        return None
    error = str(status.get("error") or "no error message").strip().splitlines() or [""]
    return error[0][:300]


def read_sweep(path: Path, label: str | None = None) -> SweepData:
    fix = "it is written by `vaelab sweep`; run the sweep again to rewrite it"
    spec_path = path / MANIFEST
    spec = _object(read_json_file(spec_path, fix), spec_path, "a vaelab sweep file", fix)
    if spec.get("sweep_format") != SWEEP_FORMAT:
        raise VaelabError(f"{shown(spec_path)} has sweep format {spec.get('sweep_format')!r} "
                          f"but this vaelab reads format {SWEEP_FORMAT}; use the vaelab "
                          "version that wrote it")
    points = spec.get("points")
    if not isinstance(points, list) or not all(isinstance(p, dict) for p in points):
        raise VaelabError(f"{shown(spec_path)} has no list of points; {fix}")
    runs = []
    root = path.resolve()
    for i, point in enumerate(points):
        where = point.get("run")
        if not isinstance(where, str) or not where:
            raise VaelabError(f"{shown(spec_path)}: point {i} names no run folder; {fix}")
        run_path = path / where
        # A point's run lives inside the sweep; never read files elsewhere on its word.
        if not run_path.resolve().is_relative_to(root):
            raise VaelabError(f"{shown(spec_path)}: point {i} run folder {shown(where)} is "
                              f"outside the sweep directory; {fix}")
        name = point.get("name")
        run = read_run(run_path, label=str(name) if name is not None else where, point=point)
        # The sweep's {"status": "failed", "error": ...}, read only to show why a run
        # failed (optional: the report works without it).
        failure = _failure(layout.status_path(path, run_path.name))
        if failure is not None and run.status != "finished":
            run.status, run.status_note = "failed", failure
        runs.append(run)

    summary = findings = None
    if (path / SUMMARY_JSON).exists():
        summary = _object(read_json_file(path / SUMMARY_JSON, fix), path / SUMMARY_JSON,
                          "a vaelab sweep summary", fix)
        for key in ("metrics", "groups"):
            value = summary.get(key, [])
            if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                raise VaelabError(f"{shown(path / SUMMARY_JSON)}: \"{key}\" must be a list of "
                                  f"objects; {fix}")
    if (path / FINDINGS_JSON).exists():
        findings = _object(read_json_file(path / FINDINGS_JSON, fix), path / FINDINGS_JSON,
                           "a vaelab findings file", fix)
        items = findings.get("findings", [])
        if not isinstance(items, list) or not all(isinstance(v, dict) for v in items):
            raise VaelabError(f"{shown(path / FINDINGS_JSON)}: \"findings\" must be a list of "
                              f"objects; {fix}")
    figures, notes = read_images(path / layout.FIGURES_DIR)
    return SweepData(path=path, label=label if label is not None else str(path), spec=spec,
                     summary=summary, findings=findings, figures=figures, runs=runs,
                     notes=notes)


def read_dir(path: str | Path) -> RunData | SweepData:
    """A run or sweep directory, recognised by its config.json or sweep.json."""
    given = str(path)
    path = Path(path)
    if not path.exists():
        raise VaelabError(f"{shown(given)} does not exist; give run directories (written by "
                          "`vaelab train`) or sweep directories (written by `vaelab sweep`)")
    if not path.is_dir():
        raise VaelabError(f"{shown(given)} is a file; give the run or sweep directory that "
                          "holds it")
    if (path / MANIFEST).exists():
        return read_sweep(path, label=given)
    if (path / rundir.CONFIG_FILE).exists():
        return read_run(path, label=given)
    raise VaelabError(f"{shown(given)} is neither a run directory (no config.json) nor a "
                      "sweep directory (no sweep.json); give folders that `vaelab train` or "
                      "`vaelab sweep` wrote")
