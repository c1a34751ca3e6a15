"""The batched backend: runs that share an architecture (``vaelab.batched.batch_key``)
are trained together as one stacked computation, then evaluated one by one. Runs the
batched trainer cannot take (``vaelab.batched.unsupported``: conv networks, IWAE, free
bits, ...) and runs interrupted earlier (they resume from their own checkpoint) are
trained alone, as by the local backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vaelab.errors import VaelabError
from vaelab.resume import RESUME_FILE
from vaelab.sweep import layout, state
from vaelab.sweep.worker import evaluate_point, run_point, skip_or_claim


def run_batched(tasks: list[dict[str, Any]], done: Any) -> None:
    from vaelab.batched import batch_key, train_batched, unsupported
    from vaelab.config import Config

    groups: dict[tuple, list[tuple[dict[str, Any], Config]]] = {}
    for task in tasks:
        run_path = Path(task["sweep_dir"]) / layout.RUNS_DIR / task["run"]
        config = Config.from_dict(task["config"], where=f"sweep run {task['run']}")
        if (run_path / RESUME_FILE).exists() or unsupported(config):
            done(run_point(task))
            continue
        blocked = skip_or_claim(task)
        if blocked is not None:
            done(blocked)
        else:
            groups.setdefault(batch_key(config), []).append((task, config))

    for members in groups.values():
        sweep_dir = Path(members[0][0]["sweep_dir"])
        paths = [sweep_dir / layout.RUNS_DIR / task["run"] for task, _ in members]
        try:
            # force: these runs are claimed by this process, and a batch that failed
            # before its first epoch may have left a config.json behind.
            train_batched([config for _, config in members], paths, progress=False,
                          command=members[0][0]["command"],
                          figures=members[0][0]["figures"], force=True)
            failure = None
        except VaelabError as err:
            failure = str(err)
        data = None  # the group's prepared splits: its runs share the data config
        for (task, config), path in zip(members, paths, strict=True):
            result = {"run": task["run"], "status": "done", "backend": "batched"}
            if failure is not None:
                result = {"run": task["run"], "status": "failed", "error": failure}
            else:
                try:
                    from vaelab.run import load_run

                    # On the device it trained on, as the local backend evaluates. The
                    # reader's default is the CPU: there a GPU sweep's metrics took 11-20 s
                    # a run (on the GPU, IS-NLL k = 1000 of 10 000 images alone: 0.3 s).
                    run = load_run(path, device=config.train.device)
                    run.prepared = data
                    evaluate_point(task, run)
                    data = run.prepared
                except VaelabError as err:
                    result = {"run": task["run"], "status": "failed", "error": str(err)}
            state.release_claim(sweep_dir, task["run"])
            state.write_status(sweep_dir, task["run"], result)
            done(result)
