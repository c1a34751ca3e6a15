"""Experiment tracking: ``vaelab train --tensorboard DIR`` and ``--mlflow URI``.

A tracker only receives what the run directory records anyway: each history row once its
epoch is saved, image grids of a fixed batch, and at the end the run directory itself.
It never feeds back into training, so a tracked run is bit for bit the untracked one.
Both backends are optional extras (``pip install 'vaelab[tensorboard]'`` /
``'vaelab[mlflow]'``) and are imported only when asked for. A tracker that fails is an
error, never a silent gap: at construction before training starts, later after the
epoch is saved (so ``--resume`` goes on from there).

Adding a backend = one ``Tracker`` subclass + one line in ``TRACKERS``.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaelab import extras, rundir
from vaelab.errors import VaelabError

IMAGES = 16  # images per grid: reconstructions of a fixed batch, decoder means of z ~ p(z)
IMAGE_SEED = 0  # the same prior draws every epoch, so the grids show training progress


class Tracker:
    """The interface, and the default that records nothing."""

    extra = ""  # the optional extra (vaelab/extras.py) a backend needs
    wants_images = False

    def log_epoch(self, row: dict[str, float]) -> None:
        """One history row (the columns of history.csv), after its epoch is saved."""

    def log_images(self, epoch: int, images: dict[str, np.ndarray]) -> None:
        """Named grids in [0, 1], grey [H, W] or RGB [H, W, 3] (see ``ImageProbe``)."""

    def finish(self, run_path: Path, *, failed: bool = False) -> None:
        """The run is complete (metrics.json and figures written), or ``failed``."""


class TensorBoardTracker(Tracker):
    """Scalars of every history column at step = epoch (train_x as train/x, val_x as
    val/x), the reconstruction and sample grids each epoch, and the run's config.json as
    text, in DIR/<run directory name>, so that ``tensorboard --logdir DIR`` compares runs.
    """

    extra = "tensorboard"
    wants_images = True

    def __init__(self, target: str, *, run_path: Path, info: dict[str, Any]):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(Path(target) / run_path.name))
        self.writer.add_text("config", "```\n" + json.dumps(info, indent=2) + "\n```")

    def log_epoch(self, row: dict[str, float]) -> None:
        for column, value in row.items():
            if column != "epoch":
                self.writer.add_scalar(scalar_tag(column), value, global_step=int(row["epoch"]))
        self.writer.flush()  # a live `tensorboard` sees each epoch as it ends

    def log_images(self, epoch: int, images: dict[str, np.ndarray]) -> None:
        for name, grid in images.items():
            self.writer.add_image(f"images/{name}", grid, global_step=epoch,
                                  dataformats="HW" if grid.ndim == 2 else "HWC")
        self.writer.flush()

    def finish(self, run_path: Path, *, failed: bool = False) -> None:
        self.writer.close()


class MLflowTracker(Tracker):
    """One MLflow run per vaelab run, named after the run directory: the flattened config
    as params (``train.lr``, ...), each history column as a metric at step = epoch, the
    numbers of metrics.json (``test_elbo``, ...) and at the end config.json, history.csv,
    metrics.json and figures/ as artifacts (to the experiment's artifact location; for
    ``sqlite:///mlruns.db`` MLflow's default is ./mlruns)."""

    extra = "mlflow"

    def __init__(self, target: str, *, run_path: Path, info: dict[str, Any],
                 experiment: str = "vaelab"):
        import logging

        from mlflow import MlflowClient
        from mlflow.entities import Param

        # Creating a new sqlite store logs every schema migration at INFO level.
        logging.getLogger("alembic").setLevel(logging.WARNING)
        self.client = MlflowClient(tracking_uri=target)
        found = self.client.get_experiment_by_name(experiment)
        experiment_id = (found.experiment_id if found is not None
                         else self.client.create_experiment(experiment))
        tags = {"vaelab.run_dir": str(run_path.resolve()),
                "vaelab.command": " ".join(info.get("command", [])),
                **{f"vaelab.{key}": str(info[key]) for key in
                   ("vaelab_version", "torch_version", "device") if key in info}}
        self.run_id = self.client.create_run(experiment_id, run_name=run_path.name,
                                             tags=tags).info.run_id
        self.client.log_batch(self.run_id, params=[
            Param(key, str(value)) for key, value in flatten(info["config"]).items()])

    def log_epoch(self, row: dict[str, float]) -> None:
        self._log_metrics(row, step=int(row["epoch"]))

    def finish(self, run_path: Path, *, failed: bool = False) -> None:
        metrics = run_path / rundir.METRICS_FILE
        if metrics.is_file():
            numbers = {key.replace(".", "_"): value
                       for key, value in flatten(rundir.read_json(metrics)).items()
                       if isinstance(value, int | float) and not isinstance(value, bool)}
            self._log_metrics(numbers, step=0)
        for name in (rundir.CONFIG_FILE, rundir.HISTORY_FILE, rundir.METRICS_FILE):
            if (run_path / name).is_file():
                self.client.log_artifact(self.run_id, str(run_path / name))
        if (run_path / rundir.FIGURES_DIR).is_dir():
            self.client.log_artifacts(self.run_id, str(run_path / rundir.FIGURES_DIR),
                                      artifact_path=rundir.FIGURES_DIR)
        self.client.set_terminated(self.run_id, status="FAILED" if failed else "FINISHED")

    def _log_metrics(self, values: dict[str, float], *, step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[
            Metric(key, float(value), now, step) for key, value in values.items()
            if key != "epoch"])


# One registry: the option --NAME selects TRACKERS[NAME].
TRACKERS: dict[str, type[Tracker]] = {
    "tensorboard": TensorBoardTracker,
    "mlflow": MLflowTracker,
}


class TrackerGroup(Tracker):
    """Several trackers as one; the error of any becomes a VaelabError naming it."""

    def __init__(self, trackers: dict[str, Tracker]):
        self.trackers = trackers
        self.wants_images = any(t.wants_images for t in trackers.values())

    def log_epoch(self, row: dict[str, float]) -> None:
        self._each(f"logging epoch {int(row['epoch'])}", lambda t: t.log_epoch(row))

    def log_images(self, epoch: int, images: dict[str, np.ndarray]) -> None:
        self._each(f"logging the images of epoch {epoch}",
                   lambda t: t.log_images(epoch, images) if t.wants_images else None)

    def finish(self, run_path: Path, *, failed: bool = False) -> None:
        if failed:  # training already raised: close what can be closed, keep its error
            for tracker in self.trackers.values():
                with contextlib.suppress(Exception):
                    tracker.finish(run_path, failed=True)
            return
        self._each("finishing", lambda t: t.finish(run_path), after="")

    def _each(self, what: str, call: Callable[[Tracker], None], *,
              after: str = "; the epoch is saved: continue with --resume RUN_DIR") -> None:
        for name, tracker in self.trackers.items():
            try:
                call(tracker)
            except Exception as err:
                raise VaelabError(f"--{name} failed while {what}: {_first_line(err)}"
                                  f"{after}") from err


def check_installed(targets: dict[str, str | None]) -> None:
    """Fail, before anything is written, when a requested tracker's package is missing."""
    for name, target in targets.items():
        if target is None:
            continue
        if name not in TRACKERS:
            raise VaelabError(f"unknown tracker {name!r}; choose from {', '.join(TRACKERS)}")
        extras.require(TRACKERS[name].extra, needed_by=f"--{name}")


def build_tracker(targets: dict[str, str | None], *, run_path: Path, info: dict[str, Any],
                  settings: dict[str, dict[str, Any]] | None = None) -> Tracker:
    """The trackers asked for (``targets``: name → DIR/URI, or None for off), as one.
    ``settings`` holds extra keyword arguments per tracker, e.g. the MLflow experiment."""
    check_installed(targets)
    started: dict[str, Tracker] = {}
    for name, target in targets.items():
        if target is None:
            continue
        try:
            started[name] = TRACKERS[name](target, run_path=run_path, info=info,
                                           **(settings or {}).get(name, {}))
        except Exception as err:
            TrackerGroup(started).finish(run_path, failed=True)
            raise VaelabError(f"--{name} {target}: could not start tracking: "
                              f"{_first_line(err)}") from err
    return TrackerGroup(started) if started else Tracker()


class ImageProbe:
    """The grids a tracker shows each epoch: the first IMAGES images of the validation
    split (test without one; one fixed draw under dynamic binarisation) above their
    reconstructions, and the decoder means of IMAGES fixed draws from the prior."""

    def __init__(self, data):
        split = data.eval_split("val") or data.eval_split("test")
        self.x = split.x[:IMAGES]

    @torch.no_grad()
    def __call__(self, model) -> dict[str, np.ndarray]:
        from vaelab.figures.common import grid_pad, tile  # matplotlib: only when asked

        was_training = model.training
        model.eval()
        pad = grid_pad(model.image_shape)
        originals = model.to_images(self.x)
        pairs = torch.cat([originals, model.reconstruct(self.x)])  # [2n, C, H, W]
        generator = torch.Generator(device=self.x.device).manual_seed(IMAGE_SEED)
        samples = model.sample(IMAGES, generator=generator)  # [n, C, H, W]
        model.train(was_training)
        return {"reconstructions": tile(pairs, ncols=len(originals), pad=pad),
                "samples": tile(samples, ncols=math.ceil(IMAGES / 2), pad=pad)}


def scalar_tag(column: str) -> str:
    """history column → TensorBoard tag: train_loss → train/loss, val_elbo → val/elbo."""
    for prefix in ("train_", "val_"):
        if column.startswith(prefix):
            return f"{prefix[:-1]}/{column[len(prefix):]}"
    return column


def flatten(nested: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"train": {"lr": 0.001}} → {"train.lr": 0.001}; lists become "a,b"."""
    flat: dict[str, Any] = {}
    for key, value in nested.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = ",".join(map(str, value)) if isinstance(value, list) else value
    return flat


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
