"""The run directory: everything about one trained model, self-describing (DESIGN rule 5).

    RUN/config.json        resolved config + command line, versions, seed, device, data
    RUN/model.safetensors  weights after the last complete epoch (config in the metadata)
    RUN/best.safetensors   weights of the epoch with the best validation ELBO
    RUN/history.csv        one row per epoch (train/val loss, recon, KL, true ELBO, seconds)
    RUN/metrics.json       evaluation results, merged by every command that adds some
    RUN/figures/*.png

Every file is written atomically (temp file + fsync + rename), so a crash never leaves a
half-written file that looks good. Checkpoints are safetensors + JSON: loading never runs
code (no pickle).
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from vaelab.errors import VaelabError

CONFIG_FILE = "config.json"
MODEL_FILE = "model.safetensors"
BEST_FILE = "best.safetensors"
HISTORY_FILE = "history.csv"
METRICS_FILE = "metrics.json"
FIGURES_DIR = "figures"
SAMPLERS_DIR = "samplers"  # fitted latent samplers (vaelab/samplers/), safetensors
CHECKPOINTS = {"last": MODEL_FILE, "best": BEST_FILE}
# The layout of run directories and checkpoints. Bump it when a change makes old runs
# unreadable; readers refuse other formats with a clear message instead of guessing.
RUN_FORMAT = 1


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success fsync it and rename it over
    ``path`` (atomic on POSIX), on failure remove it and leave ``path`` untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp makes owner-only files; give run files the usual umask permissions so that
    # shared runs and reports stay readable.
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o666 & ~umask)
    try:
        yield tmp
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def remove_stale_temp_files(folder: Path) -> list[Path]:
    """Delete the temp files of writes a killed process never finished (``.NAME.*.tmp``,
    see atomic_path); the real files beside them are untouched."""
    stale = [path for path in Path(folder).glob(".*.tmp") if path.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise VaelabError(f"{path} is missing; is this a complete vaelab run directory?"
                          ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise VaelabError(f"{path} is not valid JSON ({err}); the file is corrupt") from None


def merge_json(path: Path, updates: dict[str, Any]) -> dict[str, Any]:
    """Merge ``updates`` into the JSON object at ``path`` (one level deep: sections are
    updated, not replaced), so several commands can add metrics without clobbering."""
    current = read_json(path) if Path(path).exists() else {}
    for key, value in updates.items():
        if isinstance(value, dict) and isinstance(current.get(key), dict):
            current[key] = {**current[key], **value}
        else:
            current[key] = value
    write_json(path, current)
    return current


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    write_text(path, buffer.getvalue())


def read_history(path: Path) -> list[dict[str, float]]:
    if not Path(path).exists():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    try:
        return [{key: float(value) for key, value in row.items()} for row in rows]
    except (TypeError, ValueError):
        raise VaelabError(f"{path} is corrupt (non-numeric values); delete it or retrain"
                          ) from None


def check_format(found: Any, where: Path) -> None:
    """Refuse run directories and checkpoints of another format version."""
    if found != RUN_FORMAT:
        raise VaelabError(f"{where} has run format {found!r} but this vaelab reads format "
                          f"{RUN_FORMAT}; use the vaelab version that wrote it or retrain")


def save_checkpoint(path: Path, state: dict[str, torch.Tensor], metadata: dict[str, Any]
                    ) -> None:
    """safetensors file with the JSON-encoded ``metadata`` (config, epoch) inside, and the
    run format version."""
    tensors = {name: tensor.detach().to("cpu").contiguous() for name, tensor in state.items()}
    meta = {key: json.dumps(value) for key, value in
            {**metadata, "run_format": RUN_FORMAT}.items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)


def load_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        raise VaelabError(f"checkpoint {path} is missing; train the run first "
                          "(or point at a complete run directory)")
    try:
        with safe_open(str(path), framework="pt") as handle:
            raw_meta = handle.metadata() or {}
        tensors = load_file(str(path))
        metadata = {key: json.loads(value) for key, value in raw_meta.items()}
    except (SafetensorError, OSError, ValueError, json.JSONDecodeError) as err:
        raise VaelabError(f"checkpoint {path} is not a valid safetensors file ({err}); it is "
                          "corrupt or not a vaelab checkpoint") from None
    return tensors, metadata
