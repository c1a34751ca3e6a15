"""``train_batched``: several runs of one architecture trained as one batched computation,
each written to a run directory of the same layout as ``vaelab.train`` writes (config
with provenance, checkpoints, history, resume state, test metrics, figures)."""

from __future__ import annotations

import math
import sys
from contextlib import ExitStack
from pathlib import Path

import torch

from vaelab import lifecycle, rundir
from vaelab.batched.key import check_batch
from vaelab.batched.trainee import StackedTrainee
from vaelab.build import build_model
from vaelab.config import Config
from vaelab.data import prepare_data
from vaelab.describe import describe_model
from vaelab.errors import VaelabError
from vaelab.model import VAE
from vaelab.objectives import build_objective
from vaelab.progress import log_console
from vaelab.run import resolve_device
from vaelab.runlock import writer_lock
from vaelab.trainee import Member
from vaelab.trainer import train


def train_batched(configs: list[Config], run_paths: list[Path], *, progress: bool = True,
                  command: list[str] | None = None, figures: bool = True,
                  force: bool = False) -> list[Path]:
    """Train every config into its run path as one batched computation; return the run
    paths. The configs must have equal ``batch_key``s. ``force`` replaces existing runs'
    files, as ``vaelab.train(force=True)`` does."""
    command = command if command is not None else list(sys.argv)
    run_paths = [Path(path) for path in run_paths]
    # Everything that can fail on bad input happens before anything is written.
    _check_run_paths(configs, run_paths, force=force)
    check_batch(configs)
    shared = configs[0]
    device = resolve_device(shared.train.device)
    data = prepare_data(shared.data, device)
    models = []
    for config in configs:
        # Exactly as api.train builds it, so each model starts from the weights that
        # training it alone would start from.
        torch.manual_seed(config.train.seed)
        models.append(build_model(config, data.image_shape, progress=progress).to(device))
    models[0].likelihood.check_support(data.train.x, f"training data of {shared.data.dataset}")
    steps_per_epoch = math.ceil(len(data.train) / shared.train.batch_size)
    objectives = [build_objective(config.objective, steps_per_epoch, len(data.train))
                  for config in configs]
    for model, objective in zip(models, objectives, strict=True):
        objective.check(model)
        outside = [name for name in model.state_dict()
                   if not name.startswith(("encoder.", "decoder.", "likelihood."))]
        if outside:
            raise VaelabError(f"the batched backend stacks the encoder's, decoder's and "
                              f"likelihood's weights only, but this model also has "
                              f"{', '.join(outside)}; train it with the sequential backend")

    infos = [_provenance(config, model, data, device, command, index, run_paths)
             for index, (config, model) in enumerate(zip(configs, models, strict=True))]
    with ExitStack() as locks:  # one writer per run directory (runlock.py)
        for path in run_paths:
            locks.enter_context(writer_lock(path, command))
        _train_locked(configs, run_paths, models, objectives, infos, data, device,
                      progress=progress, figures=figures, force=force)
    return run_paths


def _train_locked(configs, run_paths, models, objectives, infos, data, device, *,
                  progress: bool, figures: bool, force: bool) -> None:
    for path, info in zip(run_paths, infos, strict=True):
        lifecycle.prepare(path, force=force)
        rundir.write_json(path / rundir.CONFIG_FILE, info)
    console = log_console(quiet=not progress)
    counts = models[0].parameter_counts()
    console.print(f"[bold]vaelab[/] training {len(models)} models as one batch on {device}: "
                  f"{counts['total']:,} parameters each; {len(data.train):,} training images "
                  f"→ {', '.join(str(path) for path in run_paths)}")
    for path, config in zip(run_paths, configs, strict=True):
        console.print(f"  {path.name}: {describe_model(config)}")
    members = [Member(*run) for run in zip(models, objectives, configs, run_paths, strict=True)]
    train(StackedTrainee(members), data, progress=progress, console=console)
    for path, model, info in zip(run_paths, models, infos, strict=True):
        lifecycle.finish(path, model, data, info, figures=figures)


def _check_run_paths(configs: list[Config], run_paths: list[Path], *, force: bool) -> None:
    if len(configs) != len(run_paths):
        raise VaelabError(f"train_batched got {len(configs)} configs but {len(run_paths)} run "
                          "paths; give one run path per config")
    seen: dict[Path, int] = {}
    for index, path in enumerate(run_paths):
        resolved = path.resolve()
        if resolved in seen:
            raise VaelabError(f"run paths {seen[resolved]} and {index} are both {path}; give "
                              "every run its own directory")
        seen[resolved] = index
        if path.exists() and not path.is_dir():
            raise VaelabError(f"run path {path} is a file; give a directory path")
        if not force and path.is_dir() and any(path.iterdir()):
            raise VaelabError(f"run path {path} already exists and is not empty; choose "
                              "another, or pass force=True to overwrite it")


def _provenance(config: Config, model: VAE, data, device: torch.device, command: list[str],
                index: int, run_paths: list[Path]) -> dict:
    """api.train's config.json for one run, plus how it was trained."""
    return {
        **lifecycle.provenance(config, command, device, model.parameter_counts(), data),
        "backend": "batched",
        "batch": {
            "index": index,
            "runs": [str(path) for path in run_paths],
            "note": "trained together with the other runs as one batched computation "
                    "(vaelab.batched); its reparameterisation noise differs from a run "
                    "alone, and history's epoch_seconds is its share (1/models) of the "
                    "batched epoch",
        },
    }
