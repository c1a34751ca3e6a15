"""``Run``: a trained model loaded back from its run directory, for the CLI, figures and
notebooks. Everything here reads the run directory only (DESIGN rule 5)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from vaelab import rundir
from vaelab.build import build_model, model_rows
from vaelab.config import Config
from vaelab.data import PreparedData, prepare_data
from vaelab.errors import VaelabError
from vaelab.model import VAE

# What ``--device auto`` picks when set (e.g. cpu on a shared GPU machine; the test suite
# sets cpu so that tests about CPU behaviour hold on a machine with a GPU).
DEVICE_ENV = "VAELAB_DEVICE"


def resolve_device(name: str) -> torch.device:
    """``auto`` → $VAELAB_DEVICE when set, else CUDA when present, else CPU; anything else
    must be a usable device."""
    if name == "auto":
        chosen = os.environ.get(DEVICE_ENV, "").strip()
        if chosen and chosen != "auto":
            return resolve_device(chosen)
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise VaelabError(f"--device {name!r} is not a device name; use auto, cpu, cuda or "
                          "cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise VaelabError(f"--device {name} asked for CUDA but no CUDA GPU is available; use "
                          "--device cpu or auto")
    if device.type not in ("cpu", "cuda"):
        raise VaelabError(f"--device {name}: only cpu and cuda are supported")
    return device


@dataclass
class Run:
    """A run directory with its config, model (on ``device``), history and metrics."""

    path: Path
    config: Config
    model: VAE
    info: dict[str, Any] = field(default_factory=dict)  # provenance from config.json
    # The prepared data splits when already in hand (right after training); otherwise
    # ``data`` prepares them on first use.
    prepared: PreparedData | None = field(default=None, repr=False)

    @property
    def history(self) -> list[dict[str, float]]:
        return rundir.read_history(self.path / rundir.HISTORY_FILE)

    @property
    def metrics(self) -> dict[str, Any]:
        """metrics.json without numbers of a checkpoint that has since been replaced."""
        return rundir.read_metrics(self.path)[0]

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def data(self) -> PreparedData:
        """The run's data splits, prepared exactly as for training (same split seed)."""
        if self.prepared is None:
            self.prepared = model_rows(self.config,
                                       prepare_data(self.config.data, self.device))
        return self.prepared

    @property
    def figures_dir(self) -> Path:
        return self.path / rundir.FIGURES_DIR

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, epochs={len(self.history)})"


def warn(problem: str, ending: str = "") -> None:
    """One warning line on stderr (nothing when ``problem`` is empty)."""
    if problem:
        print(f"warning: {problem}{ending}", file=sys.stderr)


def checkpoint_config(path: Path, stored: Any) -> tuple[Any, str]:
    """The config a run's model was built from (its last checkpoint's: the truth; config.json's
    before the first epoch) and the start of a line on how config.json disagrees ("" when
    it agrees), for readers that do not load the model (compare, the report)."""
    checkpoint = path / rundir.MODEL_FILE
    if not checkpoint.is_file():
        return stored, ""
    truth = rundir.load_checkpoint_metadata(checkpoint).get("config", stored)
    return truth, rundir.config_disagreement(path, stored, truth, checkpoint)


def load_run(path: str | Path, *, checkpoint: str = "last", device: str = "cpu") -> Run:
    """Load a run directory: config.json + the ``last`` (model.safetensors) or ``best``
    checkpoint. The checkpoint's own config must build a model whose tensors match."""
    path = Path(path)
    if not path.is_dir():
        raise VaelabError(f"run directory {path} does not exist; give the folder that "
                          "`vaelab train` wrote")
    if checkpoint not in rundir.CHECKPOINTS:
        raise VaelabError(f"unknown checkpoint {checkpoint!r}; choose last or best")
    info = rundir.read_json(path / rundir.CONFIG_FILE)
    if not isinstance(info, dict):
        raise VaelabError(f"{path / rundir.CONFIG_FILE} is not a vaelab run config")
    rundir.check_format(info.get("run_format"), path / rundir.CONFIG_FILE)
    checkpoint_path = path / rundir.CHECKPOINTS[checkpoint]
    tensors, metadata = rundir.load_checkpoint(checkpoint_path)
    if "config" not in metadata or "image_shape" not in metadata:
        raise VaelabError(f"{checkpoint_path} has no vaelab config in its metadata; it was "
                          "not written by vaelab")
    rundir.check_format(metadata.get("run_format"), checkpoint_path)
    config = Config.from_dict(metadata["config"], where=str(checkpoint_path))
    warn(rundir.config_disagreement(path, info.get("config"), metadata["config"],
                                    checkpoint_path), rundir.READER_NOTE)
    model = build_model(config, tuple(metadata["image_shape"]))
    own = {key: t for key, t in tensors.items() if not key.startswith(rundir.AUXILIARY_PREFIX)}
    try:
        model.load_state_dict(own, strict=True)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise VaelabError(f"checkpoint in {path} does not match its config ({first}); the "
                          "file is corrupt or was edited") from None
    model.to(resolve_device(device)).eval()
    return Run(path=path, config=config, model=model, info=info)
