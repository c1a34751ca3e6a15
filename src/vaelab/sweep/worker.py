"""One sweep run, start to finish: claim it, train (or resume) it, evaluate the sweep's
metrics, mark it done. Every backend calls ``run_point``; it takes and returns plain
dicts so that it can cross process and Ray boundaries."""

from __future__ import annotations

import os
import signal
import time
import traceback
from pathlib import Path
from typing import Any

from vaelab import rundir
from vaelab.errors import VaelabError
from vaelab.resume import RESUME_FILE
from vaelab.sweep import layout, state
from vaelab.sweep.spec import metric_options


def cpu_count() -> int:
    """The cores this process may run on (its affinity), not the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def make_task(sweep_dir: Path, run_name: str, config: dict, spec_dict: dict,
              command: list[str]) -> dict[str, Any]:
    return {"sweep_dir": str(sweep_dir), "run": run_name, "config": config,
            "metrics": spec_dict["metrics"],
            "options": metric_options(spec_dict),
            "figures": spec_dict["figures"], "command": command}


def run_point(task: dict[str, Any], *, claim: bool = True) -> dict[str, Any]:
    """Train and evaluate one run of the sweep unless it is done or another live process
    holds it. Returns {"run", "status": done|failed|skipped|busy, ...}. A failure is
    recorded in state/<run>.json and returned, not raised, so one bad point does not stop
    the others."""
    sweep_dir = Path(task["sweep_dir"])
    name = task["run"]
    if claim:
        blocked = skip_or_claim(task)
        if blocked is not None:
            return blocked
    elif state.is_done(sweep_dir, name):
        return {"run": name, "status": "skipped"}
    started = time.perf_counter()
    try:
        train_and_evaluate(task, sweep_dir / layout.RUNS_DIR / name)
        result = {"run": name, "status": "done",
                  "seconds": round(time.perf_counter() - started, 2)}
    except VaelabError as err:
        result = {"run": name, "status": "failed", "error": str(err)}
    except Exception as err:  # noqa: BLE001 - recorded with its traceback for the user
        result = {"run": name, "status": "failed", "error": f"{type(err).__name__}: {err}",
                  "traceback": traceback.format_exc(limit=8)}
    finally:
        if claim:
            state.release_claim(sweep_dir, name)
    state.write_status(sweep_dir, name, result)
    return result


def worker_died(task: dict[str, Any], exitcode: int | None) -> dict[str, Any]:
    """The failed result of a run whose worker process ended without one (killed by a
    signal, or the interpreter crashed), recorded in state/<run>.json like any failure.
    Its claim names the dead process, so the next sweep takes the run over and resumes it
    from its last complete epoch."""
    name = None  # the signal's name
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        cause = f"its worker process was killed by {name}"
        if -exitcode == signal.SIGKILL:
            cause += " (likely out of memory: the kernel's out-of-memory killer sends SIGKILL)"
    else:
        cause = f"its worker process exited with code {exitcode} before it reported"
    result = {"run": task["run"], "status": "failed", "signal": name, "exitcode": exitcode,
              "error": f"{cause}; run the sweep again (or --resume) to retrain it from its "
                       "last complete epoch"}
    state.write_status(Path(task["sweep_dir"]), task["run"], result)
    return result


def skip_or_claim(task: dict[str, Any]) -> dict[str, Any] | None:
    """Claim the task's run for this process and return None; or, when it is done or a
    live process holds it, the "skipped" / "busy" result to report instead."""
    sweep_dir, name = Path(task["sweep_dir"]), task["run"]
    if state.is_done(sweep_dir, name):
        return {"run": name, "status": "skipped"}
    if not state.try_claim(sweep_dir, name):
        return {"run": name, "status": "busy"}
    # Another process may have finished it between the check and the claim.
    if state.is_done(sweep_dir, name):
        state.release_claim(sweep_dir, name)
        return {"run": name, "status": "skipped"}
    return None


def train_and_evaluate(task: dict[str, Any], run_path: Path) -> None:
    """Train (or resume) and evaluate one point, holding its run's writer lock throughout
    (api.train takes it again, re-entrantly)."""
    from vaelab.runlock import writer_lock

    with writer_lock(run_path, task["command"]):
        _train_and_evaluate(task, run_path)


def _train_and_evaluate(task: dict[str, Any], run_path: Path) -> None:
    import vaelab
    from vaelab.config import Config

    config = Config.from_dict(task["config"], where=f"sweep run {task['run']}")
    existing = run_path / rundir.CONFIG_FILE
    common = {"progress": False, "command": task["command"], "figures": task["figures"]}
    if existing.exists() and (run_path / RESUME_FILE).exists():
        stored = rundir.read_json(existing)
        if stored.get("config") != config.to_dict():
            raise VaelabError(f"{run_path} was started with another config than this sweep "
                              "gives it; use a new --out or --force to start the sweep over")
        run = vaelab.train(resume=run_path, **common)
    else:
        # Nothing to resume (never started, or killed before its first epoch ended).
        run = vaelab.train(config, out=run_path, force=True, **common)
    evaluate_point(task, run)


def evaluate_point(task: dict[str, Any], run: Any) -> None:
    """The sweep's metrics on the test split, merged into the run's metrics.json."""
    from vaelab.metrics import evaluate, store_results

    metrics = [name for name in task["metrics"]
               if _applicable(name, run, task["options"].get(name))]
    if metrics:
        results = evaluate(run.model, run.data, metrics, seed=0, split="test",
                           batch_size=run.config.train.eval_batch_size,
                           options=task["options"])
        store_results(run.path, results, split="test")


def _applicable(name: str, run: Any, options: dict[str, Any] | None) -> bool:
    """A sweep's metric that does not apply to a run (its data: labels, images, factors;
    its model: an autoencoder has no q(z|x) for IS-NLL) is skipped for that run, as
    `vaelab eval --all` skips it; its summary cell shows none."""
    from vaelab.metrics import METRICS

    return METRICS.get(name).inapplicable(run.data, "test", options, run.model) is None
