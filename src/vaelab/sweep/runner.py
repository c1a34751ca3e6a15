"""``run_sweep``: write (or extend) the manifest, run what is not done yet on a backend,
aggregate. Re-running the same sweep skips finished runs and resumes interrupted ones."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from typing import Any

from rich.markup import escape

from vaelab.errors import VaelabError
from vaelab.progress import log_console, new_progress
from vaelab.sweep import layout, state
from vaelab.sweep.aggregate import summarize
from vaelab.sweep.backends import BACKENDS, BackendOptions, check_backend, resolve_backend
from vaelab.sweep.spec import IDENTITY_EXCLUDES, SweepSpec, spec_from_dict
from vaelab.sweep.worker import make_task


def manifest_entries(spec: SweepSpec) -> list[dict[str, Any]]:
    return [{"name": run.dir_name, "group": run.point, "seed": run.seed,
             "overrides": run.overrides, "run": f"{layout.RUNS_DIR}/{run.dir_name}",
             "config": run.config.to_dict()}
            for run in spec.runs()]


def prepare_manifest(spec: SweepSpec, out: Path, *, force: bool, backend: str,
                     command: list[str], extra: dict[str, Any] | None) -> dict[str, Any]:
    """The manifest for ``spec`` in ``out``: new, or the existing one extended with new
    seeds. A sweep directory belongs to one spec (layout.py): an existing sweep with
    another spec (a point whose config changed, other points, metrics or options) is
    refused, since its runs and summary would mix two experiments, unless ``force``."""
    if out.exists() and not out.is_dir():
        raise VaelabError(f"--out {out} is a file; give a directory for the sweep")
    entries = manifest_entries(spec)
    with state.sweep_lock(out):
        existing = state.read_manifest(out)
        if existing is None and any(p.name != layout.LOCK_FILE for p in out.iterdir()):
            raise VaelabError(f"--out {out} is not empty and holds no sweep.json; choose a "
                              "new directory for the sweep")
        if existing is not None and force:
            for name in (layout.RUNS_DIR, layout.STATE_DIR):
                shutil.rmtree(out / name, ignore_errors=True)
            existing = None
        if existing is not None:
            entries = _merge(existing, entries, out)
            _check_same_spec(existing, spec, out)
        now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        spec_dict = spec.to_dict()
        if existing is not None:
            # Seeds are the one thing a sweep may gain; `--resume` recreates all of them.
            spec_dict["seeds"] = sorted(set(existing["spec"]["seeds"]) | set(spec.seeds))
        manifest = {
            "sweep_format": layout.SWEEP_FORMAT,
            "name": spec.name,
            "title": spec.title or spec.name,
            "base": spec.base.to_dict(),
            "spec": spec_dict,
            "spec_id": spec.identity(),
            "points": entries,
            "backend": backend,
            "command": command,
            "created": existing["created"] if existing else now,
            "updated": now,
            "recipe": (extra or {}).get("recipe") or (existing or {}).get("recipe"),
        }
        state.write_manifest(out, manifest)
    return manifest


def _merge(existing: dict[str, Any], entries: list[dict[str, Any]], out: Path
           ) -> list[dict[str, Any]]:
    stored = {e["name"]: e for e in existing["points"]}
    for entry in entries:
        old = stored.get(entry["name"])
        if old is not None and not _same_config(old.get("config"), entry["config"]):
            raise VaelabError(f"sweep {out}: run {entry['name']} already exists with another "
                              "config (the base or a swept value changed); use a new --out, "
                              "or --force to start the sweep over")
    new = [e for e in entries if e["name"] not in stored]
    return [*existing["points"], *new]


def _check_same_spec(existing: dict[str, Any], spec: SweepSpec, out: Path) -> None:
    """Refuse to run ``spec`` in a sweep directory that holds another spec. The stored
    spec is re-read by this version, so an older manifest of the same sweep matches."""
    try:
        stored = spec_from_dict(existing["spec"], where=str(out / layout.MANIFEST))
    except (VaelabError, KeyError, TypeError):
        stored = None
    if stored is not None and stored.identity() == spec.identity():
        return
    what = "another sweep"
    if stored is not None:
        old, new = stored.to_dict(), spec.to_dict()
        changed = [key for key in old if key not in IDENTITY_EXCLUDES and old[key] != new[key]]
        what = f"another sweep (its {', '.join(changed)} differ)"
    raise VaelabError(f"sweep {out} holds {what}; a sweep directory belongs to one spec: "
                      "use a new --out (or leave --out and --name out for a directory "
                      "named after the spec), or --force to start this one over")


def _same_config(stored: Any, new: dict[str, Any]) -> bool:
    """Whether a stored run config is ``new``, read as the current version reads it (a
    sweep of an older version stored every option of every component; those at their
    defaults said nothing and are dropped)."""
    from vaelab.config import Config

    if not isinstance(stored, dict):
        return False
    try:
        return Config.from_dict(stored, where="stored sweep run").to_dict() == new
    except VaelabError:
        return False


class SweepRunsFailed(VaelabError):
    """Some runs of a sweep failed (the others are saved); ``summary`` is the sweep's
    summary as written, failed runs included, for the table the caller still shows."""

    def __init__(self, message: str, summary: dict[str, Any]):
        super().__init__(message)
        self.summary = summary


def run_sweep(spec: SweepSpec, out: str | Path, *, backend: str = "auto",
              workers: int | None = None, address: str | None = None, force: bool = False,
              progress: bool = True, command: list[str] | None = None,
              extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run every (point, seed) of ``spec`` into ``out``/runs/; return the summary.
    Raises VaelabError at the end (after writing the summary) if some runs failed."""
    out = Path(out)
    check_backend(backend)  # an unknown backend or a missing extra: before any write
    if workers is not None and workers < 1:
        raise VaelabError(f"--workers must be >= 1, got {workers}")
    command = command if command is not None else list(sys.argv)
    data_sizes = {}
    if backend != "ray":  # Ray workers may hold data this machine lacks
        data_sizes = check_data(spec)
        if {"fid", "prdc"} & set(spec.metrics):  # weights found now, not once per run
            from vaelab.metrics.features import prepare_feature_network

            prepare_feature_network(spec.fid_features, spec.base.data.data_dir,
                                    progress=progress)
    manifest = prepare_manifest(spec, out, force=force, backend=backend, command=command,
                                extra=extra)
    console = log_console(quiet=not progress)
    stored_spec = manifest["spec"]
    tasks, finished = [], 0
    for entry in manifest["points"]:
        if state.is_done(out, entry["name"]):
            finished += 1
        else:
            tasks.append(make_task(out, entry["name"], entry["config"], stored_spec, command))
    backend = resolve_backend(backend, tasks)
    console.print(f"[bold]vaelab sweep[/] {manifest['name']}: {len(manifest['points'])} runs "
                  f"({finished} already done) on the {backend} backend → {out}")
    # --workers 1 trains in this process; otherwise one process per run (a dead one fails
    # its run only), as many at once as cores and memory allow (sweep/sizing.py).
    isolate = workers != 1
    if backend == "local" and workers is None and tasks:
        workers, note = _sized_workers(tasks, data_sizes)
        if note:
            console.print(note)
    results: list[dict[str, Any]] = []
    bar = new_progress(enabled=progress and bool(tasks), console=console)
    with bar:
        task_id = bar.add_task("runs", total=len(tasks))

        def done(result: dict[str, Any]) -> None:
            results.append(result)
            bar.advance(task_id)
            status = result["status"]
            style = {"done": "green", "failed": "red"}.get(status, "yellow")
            detail = f" ({result['seconds']:.0f} s)" if "seconds" in result else ""
            if status == "failed":
                detail = f": {result.get('error', '')}"
            console.print(f"  [{style}]{status}[/] {escape(result['run'] + detail)}")

        if tasks:
            BACKENDS.get(backend)(tasks, BackendOptions(workers=workers, address=address,
                                                        isolate=isolate), done)
    summary = summarize(out, manifest)
    failed = [r for r in results if r["status"] == "failed"]
    busy = [r for r in results if r["status"] == "busy"]
    if busy:
        console.print(f"{len(busy)} runs are being trained by another sweep process; run "
                      "the sweep again later to aggregate them")
    if failed:
        raise SweepRunsFailed(f"{len(failed)} of {len(results)} sweep runs failed (first: "
                              f"{failed[0]['run']}: {failed[0].get('error', '')}); the others "
                              f"are saved in {out}; fix the cause and run the sweep again",
                              summary)
    return summary


def _sized_workers(tasks: list[dict[str, Any]], data_sizes: dict[str, tuple]
                   ) -> tuple[int, str | None]:
    """The local backend's default workers: cores and memory (sweep/sizing.py), at the
    largest estimated peak of the runs to do."""
    from vaelab.config import Config
    from vaelab.memory import host_available_bytes
    from vaelab.sweep.sizing import local_workers, run_peak_bytes
    from vaelab.sweep.worker import cpu_count

    peak = 0
    for task in tasks:
        config = Config.from_dict(task["config"], where=f"sweep run {task['run']}")
        shape, size = data_sizes.get(_data_key(config.data), (None, 0))
        if shape is not None:
            peak = max(peak, run_peak_bytes(config, shape, size))
    return local_workers(cpu_count(), host_available_bytes(), peak, len(tasks))


def _data_key(data_config: Any) -> str:
    import json

    return json.dumps(data_config.to_dict(), sort_keys=True, default=str)


def check_data(spec: SweepSpec) -> dict[str, tuple[tuple[int, ...], int]]:
    """Load each distinct data set of the sweep once before anything runs, so a missing
    or corrupt file is one error now, not one failure per run minutes later. Returns, per
    data config (``_data_key``), its image shape and the bytes its prepared tensors take
    (sweep/sizing.py's estimate of a run's memory)."""
    import torch

    from vaelab.data import prepare_data
    from vaelab.sweep.sizing import data_bytes

    sizes: dict[str, tuple[tuple[int, ...], int]] = {}
    for run in spec.runs():
        key = _data_key(run.config.data)
        if key not in sizes:
            data = prepare_data(run.config.data, torch.device("cpu"))
            sizes[key] = (tuple(data.image_shape), data_bytes(data))
    return sizes


def load_spec(sweep_dir: str | Path) -> SweepSpec:
    """The spec stored in a sweep directory's manifest, for ``--resume``."""
    sweep_dir = Path(sweep_dir)
    manifest = state.read_manifest(sweep_dir)
    if manifest is None:
        raise VaelabError(f"--resume {sweep_dir}: no sweep.json there; give a directory "
                          "written by `vaelab sweep`")
    return spec_from_dict(manifest["spec"], where=str(sweep_dir / layout.MANIFEST))
