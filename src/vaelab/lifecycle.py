"""The life of a run directory around training, for ``vaelab.train`` and the batched
backend alike: ``prepare`` the directory (refuse to overwrite, or --force), the
``provenance`` that config.json records, and ``finish`` (test metrics and the default
figures) once training is done."""

from __future__ import annotations

import platform
import shutil
import time
from pathlib import Path
from typing import Any

import torch

from vaelab import rundir
from vaelab.config import Config
from vaelab.data import PreparedData
from vaelab.errors import VaelabError
from vaelab.evaluate import elbo_metrics
from vaelab.figures import write_figures
from vaelab.model import VAE
from vaelab.resume import RESUME_FILE
from vaelab.run import Run
from vaelab.runlock import LOCK_FILE

# vaelab's own files in a run directory: what --force replaces (and nothing else).
RUN_FILES = [rundir.CONFIG_FILE, rundir.MODEL_FILE, rundir.BEST_FILE, rundir.HISTORY_FILE,
             rundir.METRICS_FILE, rundir.FIGURES_DIR, rundir.SAMPLERS_DIR, RESUME_FILE]


def prepare(path: Path, *, force: bool) -> None:
    """Refuse to write into an existing run unless ``force``: nothing saved is lost by
    accident. With ``force`` only vaelab's own files are replaced. The caller holds the
    run's writer lock (runlock.py), whose file does not count as content."""
    if path.exists() and not path.is_dir():
        raise VaelabError(f"--out {path} is a file; give a directory path")
    content = [p for p in path.iterdir() if p.name != LOCK_FILE] if path.is_dir() else []
    if content:
        if not force:
            if not (path / rundir.MODEL_FILE).exists() and (path / rundir.CONFIG_FILE
                                                            ).exists():
                raise VaelabError(f"--out {path} holds a run that never completed an epoch; "
                                  "pass --force to start it over (or choose another --out)")
            raise VaelabError(f"--out {path} already exists and is not empty; choose another "
                              "--out, pass --resume to continue it, or --force to overwrite "
                              "it")
        for name in RUN_FILES:
            target = path / name
            with rundir.writing(target):
                if target.is_dir():
                    shutil.rmtree(target)
                else:
                    target.unlink(missing_ok=True)
    rundir.make_dir(path)


def provenance(config: Config, command: list[str], device: torch.device,
               parameters: dict[str, int], data: PreparedData) -> dict[str, Any]:
    """config.json of a new run: the resolved config and everything needed to redo it."""
    from vaelab import __version__

    return {
        "config": config.to_dict(),
        "command": command,
        "run_format": rundir.RUN_FORMAT,
        "vaelab_version": __version__,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "seed": config.train.seed,
        "device": str(device),
        "parameters": parameters,
        "data": data.describe(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def finish(run_path: Path, model: VAE, data: PreparedData, info: dict[str, Any], *,
           figures: bool) -> Run:
    """After training: score the test split (metrics.json), draw the default figures and
    return the ``Run``, built from the trained model (the last checkpoint's weights) and
    the data splits in hand."""
    run = Run(path=run_path, config=model.config, model=model.eval(), info=info,
              prepared=data)
    test = elbo_metrics(model, data, "test", batch_size=run.config.train.eval_batch_size)
    if test:
        rundir.store_section(run_path, "test", test, rundir.checkpoint_stamp(run_path, "last"))
    if figures:
        write_figures(run)
    return run
