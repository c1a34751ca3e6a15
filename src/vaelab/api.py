"""The Python API: ``vaelab.train(config) -> Run`` and ``vaelab.load_run(path)``.

    import vaelab
    run = vaelab.train(dataset="mnist", epochs=5, latent_dim=2)
    run.model.sample(16)            # [16, 28, 28] decoder means
    run.metrics["test"]["elbo"]     # nats per image
"""

from __future__ import annotations

import math
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from vaelab import distributed, lifecycle, rundir, tracking
from vaelab.build import build_model, model_rows
from vaelab.config import Config
from vaelab.data import prepare_data
from vaelab.describe import describe_model
from vaelab.errors import VaelabError
from vaelab.objectives import OBJECTIVES, build_objective
from vaelab.progress import log_console
from vaelab.run import Run, load_run, resolve_device
from vaelab.runlock import writer_lock
from vaelab.trainer import train_model


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


def train(config: Config | dict | str | Path | None = None, *, out: str | Path | None = None,
          force: bool = False, resume: str | Path | None = None, progress: bool = True,
          command: list[str] | None = None, figures: bool = True,
          tensorboard: str | Path | None = None, mlflow: str | None = None,
          mlflow_experiment: str = "vaelab", **overrides: Any) -> Run | None:
    """Train a VAE and write its run directory; return the loaded ``Run``.

    Under ``torchrun --nproc-per-node N -m vaelab train ...`` (distributed.py) the N
    processes train one run data-parallel; rank 0 writes it and returns the ``Run``, the
    other ranks return None.

    ``resume=RUN_DIR`` continues an interrupted run from its last complete epoch with the
    run's own config (only ``epochs`` may be raised), bit for bit on CPU.
    ``tensorboard=DIR`` and ``mlflow=URI`` (e.g. ``"sqlite:///mlruns.db"``, experiment
    ``mlflow_experiment``) track the run there as well (vaelab/tracking.py); they are
    not part of the config and do not change training."""

    command = command if command is not None else list(sys.argv)
    trackers = {"tensorboard": None if tensorboard is None else str(tensorboard),
                "mlflow": mlflow}
    tracking.check_installed(trackers)
    group = distributed.from_environment()  # torchrun: several processes, one run
    if group is not None:
        try:
            return _train(config, out, force, resume, progress and group.writer, command,
                          figures, trackers, mlflow_experiment, overrides, group)
        finally:
            distributed.stop()
    return _train(config, out, force, resume, progress, command, figures, trackers,
                  mlflow_experiment, overrides, None)


def _train(config, out, force, resume, progress, command, figures, trackers,
           mlflow_experiment, overrides, group: distributed.Group | None) -> Run | None:
    """vaelab.train's body; under torchrun (``group``) ranks other than 0 train without
    writing anything and return None."""
    writer = group is None or group.writer
    # One writer per run directory (runlock.py): held from before anything is read for
    # --resume, or written for a new run, until the last figure is saved.
    with ExitStack() as lock:
        if resume is not None:
            if not Path(resume).is_dir():
                raise VaelabError(f"--resume {resume}: no such run directory")
            if writer:
                lock.enter_context(writer_lock(Path(resume), command))
            run_path, config, info = _resumed_config(Path(resume), config, overrides, command)
        else:
            info = None
            config = resolve_config(config, overrides)
            run_path = Path(out) if out is not None else default_run_path(config)
        console = log_console(quiet=not progress)
        device = resolve_device(config.train.device)
        if group is not None:
            obstacle = distributed.obstacle(OBJECTIVES.get(config.objective.name),
                                            config.objective.name)
            if obstacle:
                raise VaelabError(f"torchrun: {obstacle}; train it in one process")
            device = distributed.start(group, device)
        # Everything that can fail on bad input happens before anything is written.
        data = model_rows(config, prepare_data(config.data, device))
        torch.manual_seed(config.train.seed)
        model = build_model(config, data.image_shape, progress=progress).to(device)
        model.likelihood.check_support(data.train.x,
                                       f"training data of {config.data.dataset}")
        steps_per_epoch = math.ceil(len(data.train) / config.train.batch_size)
        objective = build_objective(config.objective, steps_per_epoch, len(data.train))
        objective.check(model)
        if not writer:
            train_model(model, objective, data, config, run_path, progress=False,
                        console=Console(stderr=True, quiet=True), resume=resume is not None,
                        group=group)
            return None

        counts = model.parameter_counts()
        if resume is None:
            lock.enter_context(writer_lock(run_path, command))
            lifecycle.prepare(run_path, force=force)
            info = lifecycle.provenance(config, command, device, counts, data)
        # Started before config.json is written: a tracker that cannot start leaves no run.
        tracker = tracking.build_tracker(
            trackers, run_path=run_path, info=info,
            settings={"mlflow": {"experiment": mlflow_experiment}})
        try:
            rundir.write_json(run_path / rundir.CONFIG_FILE, info)
            verb = "resuming" if resume is not None else "training"
            console.print(f"[bold]vaelab[/] {verb} on {device}: {counts['total']:,} parameters "
                          f"(encoder {counts['encoder']:,}, decoder {counts['decoder']:,}, "
                          f"likelihood {counts['likelihood']:,}, prior {counts['prior']:,}); "
                          f"{len(data.train):,} training images → {run_path}")
            console.print(f"  {describe_model(config)}")
            if group is not None:
                console.print(f"  data-parallel over {group.size} processes (torchrun): "
                              f"{config.train.batch_size} images per step in all")
            train_model(model, objective, data, config, run_path, progress=progress,
                        console=console, resume=resume is not None, tracker=tracker,
                        group=group)
            run = lifecycle.finish(run_path, model, data, info, figures=figures)
        except BaseException:
            tracker.finish(run_path, failed=True)
            raise
        tracker.finish(run_path)
        return run


def _resumed_config(run_path: Path, config: Any, overrides: dict[str, Any],
                    command: list[str]) -> tuple[Path, Config, dict]:
    """The run's own config (with a raised ``epochs`` if asked) and its provenance with
    this resume appended."""
    if config is not None or set(overrides) - {"epochs"}:
        extra = sorted(set(overrides) - {"epochs"}) or ["a config"]
        raise VaelabError(f"--resume continues {run_path} with its own config; only --epochs "
                          f"may change (got {', '.join(extra)})")
    rundir.remove_stale_temp_files(run_path)
    info = rundir.read_json(run_path / rundir.CONFIG_FILE)
    rundir.check_format(info.get("run_format") if isinstance(info, dict) else None,
                        run_path / rundir.CONFIG_FILE)
    _check_config_matches_checkpoint(run_path, info)
    config = Config.from_dict(info["config"], where=str(run_path / rundir.CONFIG_FILE))
    if "epochs" in overrides:
        config = config.replace(epochs=overrides["epochs"])
        _check_epochs_not_below_trained(run_path, config.train.epochs)
    info = {**info, "config": config.to_dict(),
            "resumed": [*info.get("resumed", []),
                        {"command": command, "at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}]}
    return run_path, config, info


def _check_epochs_not_below_trained(run_path: Path, epochs: int) -> None:
    """A resume trains on from the epochs already done: a target below them would leave
    weights of more epochs than config.json says (and a progress bar past 100%)."""
    from vaelab.resume import RESUME_FILE

    resume_file = run_path / RESUME_FILE
    if not resume_file.is_file():
        return  # never completed an epoch: load_resume says so
    trained = rundir.load_checkpoint_metadata(resume_file).get("counters", {}).get("epoch", 0)
    if epochs < trained:
        raise VaelabError(f"--epochs {epochs} is below the {trained} epochs {run_path} has "
                          f"already trained; --resume keeps or raises them (--epochs "
                          f"{trained} or more), or train anew with --force")


def _check_config_matches_checkpoint(run_path: Path, info: dict) -> None:
    """--resume trains on from the checkpoint's weights: a config.json that disagrees with
    the checkpoint's config (other than the epochs, which a resume writes first) is an
    error, as resuming would train the weights under a config they were not trained with
    (or silently ignore the edit)."""
    checkpoint = run_path / rundir.MODEL_FILE
    if not checkpoint.is_file():
        return  # never completed an epoch: load_resume says so
    truth = rundir.load_checkpoint_metadata(checkpoint).get("config")
    stored = info.get("config")
    if isinstance(truth, dict) and isinstance(stored, dict):
        train_cfg = {**stored.get("train", {}), "epochs": truth.get("train", {}).get("epochs")}
        stored = {**stored, "train": train_cfg}
    problem = rundir.config_disagreement(run_path, stored, truth, checkpoint)
    if problem:
        raise VaelabError(f"{problem}; --resume will not guess which one to train with: "
                          "restore config.json, or train anew with --force")


__all__ = ["train", "load_run", "Run", "Config"]
