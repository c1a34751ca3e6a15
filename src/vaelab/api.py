"""The Python API: ``vaelab.train(config) -> Run`` and ``vaelab.load_run(path)``.

    import vaelab
    run = vaelab.train(dataset="mnist", epochs=5, latent_dim=2)
    run.model.sample(16)            # [16, 28, 28] decoder means
    run.metrics["test"]["elbo"]     # nats per image
"""

from __future__ import annotations

import math
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from vaelab import rundir, tracking
from vaelab.config import Config
from vaelab.data import prepare_data
from vaelab.errors import VaelabError
from vaelab.evaluate import elbo_metrics
from vaelab.figures import write_figures
from vaelab.model import VAE
from vaelab.objectives import build_objective
from vaelab.resume import RESUME_FILE
from vaelab.run import Run, load_run, resolve_device
from vaelab.trainer import train_model

RUN_FILES = [rundir.CONFIG_FILE, rundir.MODEL_FILE, rundir.BEST_FILE, rundir.HISTORY_FILE,
             rundir.METRICS_FILE, rundir.FIGURES_DIR, RESUME_FILE]


def resolve_config(config: Config | dict | str | Path | None, overrides: dict[str, Any]
                   ) -> Config:
    """A Config from a Config, a nested dict, a TOML/JSON file path or None (defaults),
    with flat overrides such as ``epochs=3`` applied on top."""
    from vaelab.config import read_config_file

    if config is None:
        resolved = Config()
    elif isinstance(config, Config):
        resolved = config
    elif isinstance(config, dict):
        resolved = Config.from_dict(config)
    else:
        resolved = Config.from_dict(read_config_file(config), where=str(config))
    return resolved.replace(**overrides) if overrides else resolved


def default_run_path(config: Config) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{config.data.dataset}-{config.objective.name}-{stamp}"


def prepare_run_path(path: Path, *, force: bool) -> None:
    """Refuse to write into an existing run unless ``force``: nothing saved is lost by
    accident. With ``force`` only vaelab's own files are replaced."""
    if path.exists() and not path.is_dir():
        raise VaelabError(f"--out {path} is a file; give a directory path")
    if path.is_dir() and any(path.iterdir()):
        if not force:
            raise VaelabError(f"--out {path} already exists and is not empty; choose another "
                              "--out, pass --resume to continue it, or --force to overwrite "
                              "it")
        for name in RUN_FILES:
            target = path / name
            if target.is_dir():
                shutil.rmtree(target)
            else:
                target.unlink(missing_ok=True)
    path.mkdir(parents=True, exist_ok=True)


def run_provenance(config: Config, command: list[str], device: torch.device,
                   parameters: dict[str, int], data: Any) -> dict[str, Any]:
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


def train(config: Config | dict | str | Path | None = None, *, out: str | Path | None = None,
          force: bool = False, resume: str | Path | None = None, progress: bool = True,
          command: list[str] | None = None, figures: bool = True,
          tensorboard: str | Path | None = None, mlflow: str | None = None,
          mlflow_experiment: str = "vaelab", **overrides: Any) -> Run:
    """Train a VAE and write its run directory; return the loaded ``Run``.

    ``resume=RUN_DIR`` continues an interrupted run from its last complete epoch with the
    run's own config (only ``epochs`` may be raised), bit for bit on CPU.
    ``tensorboard=DIR`` and ``mlflow=URI`` (e.g. ``"sqlite:///mlruns.db"``, experiment
    ``mlflow_experiment``) track the run there as well (vaelab/tracking.py); they are
    not part of the config and do not change training."""

    command = command if command is not None else list(sys.argv)
    trackers = {"tensorboard": None if tensorboard is None else str(tensorboard),
                "mlflow": mlflow}
    tracking.check_installed(trackers)
    if resume is not None:
        run_path, config, info = _resumed_config(Path(resume), config, overrides, command)
    else:
        config = resolve_config(config, overrides)
        run_path = Path(out) if out is not None else default_run_path(config)
    console = Console(stderr=True, quiet=not progress)
    device = resolve_device(config.train.device)
    # Everything that can fail on bad input happens before anything is written.
    data = prepare_data(config.data, device)
    torch.manual_seed(config.train.seed)
    model = VAE(config, data.image_shape).to(device)
    model.likelihood.check_support(data.train.x, f"training data of {config.data.dataset}")
    steps_per_epoch = math.ceil(len(data.train) / config.train.batch_size)
    objective = build_objective(config.objective, steps_per_epoch)
    objective.check(model)

    counts = model.parameter_counts()
    if resume is None:
        prepare_run_path(run_path, force=force)
        info = run_provenance(config, command, device, counts, data)
    # Started before config.json is written: a tracker that cannot start leaves no run.
    tracker = tracking.build_tracker(trackers, run_path=run_path, info=info,
                                     settings={"mlflow": {"experiment": mlflow_experiment}})
    try:
        run = _train_and_evaluate(model, objective, data, config, run_path, info,
                                  tracker=tracker, resume=resume is not None,
                                  progress=progress, console=console, figures=figures)
    except BaseException:
        tracker.finish(run_path, failed=True)
        raise
    tracker.finish(run_path)
    return run


def _train_and_evaluate(model: VAE, objective, data, config: Config, run_path: Path,
                        info: dict, *, tracker: tracking.Tracker, resume: bool,
                        progress: bool, console: Console, figures: bool) -> Run:
    device = next(model.parameters()).device
    counts = model.parameter_counts()
    rundir.write_json(run_path / rundir.CONFIG_FILE, info)
    verb = "resuming" if resume else "training"
    console.print(f"[bold]vaelab[/] {verb} on {device}: {counts['total']:,} parameters "
                  f"(encoder {counts['encoder']:,}, decoder {counts['decoder']:,}, likelihood "
                  f"{counts['likelihood']:,}, prior {counts['prior']:,}); "
                  f"{len(data.train):,} training images → {run_path}")
    console.print(f"  {model.likelihood.describe()} likelihood · {model.prior.describe()} "
                  f"prior · objective {objective.describe()}")
    train_model(model, objective, data, config, run_path, progress=progress, console=console,
                resume=resume, tracker=tracker)

    return finish_run(run_path, data, device, figures=figures)


def finish_run(run_path: Path, data: Any, device: torch.device, *, figures: bool) -> Run:
    """After training: load the run back, score the test split (metrics.json) and draw
    the default figures."""
    run = load_run(run_path, device=str(device))
    run.__dict__["data"] = data  # reuse the prepared splits (cached_property slot)
    test = elbo_metrics(run.model, data, "test", batch_size=run.config.train.eval_batch_size)
    if test:
        rundir.merge_json(run_path / rundir.METRICS_FILE, {"test": test})
    if figures:
        write_figures(run)
    return run


def _resumed_config(run_path: Path, config: Any, overrides: dict[str, Any],
                    command: list[str]) -> tuple[Path, Config, dict]:
    """The run's own config (with a raised ``epochs`` if asked) and its provenance with
    this resume appended."""
    if config is not None or set(overrides) - {"epochs"}:
        extra = sorted(set(overrides) - {"epochs"}) or ["a config"]
        raise VaelabError(f"--resume continues {run_path} with its own config; only --epochs "
                          f"may change (got {', '.join(extra)})")
    if not run_path.is_dir():
        raise VaelabError(f"--resume {run_path}: no such run directory")
    rundir.remove_stale_temp_files(run_path)
    info = rundir.read_json(run_path / rundir.CONFIG_FILE)
    rundir.check_format(info.get("run_format") if isinstance(info, dict) else None,
                        run_path / rundir.CONFIG_FILE)
    config = Config.from_dict(info["config"], where=str(run_path / rundir.CONFIG_FILE))
    if "epochs" in overrides:
        config = config.replace(epochs=overrides["epochs"])
    info = {**info, "config": config.to_dict(),
            "resumed": [*info.get("resumed", []),
                        {"command": command, "at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}]}
    return run_path, config, info


__all__ = ["train", "load_run", "Run", "Config"]
