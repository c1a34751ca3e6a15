"""The run directory: everything about one trained model, self-describing (DESIGN rule 5).

    RUN/config.json        resolved config + command line, versions, seed, device, data
    RUN/model.safetensors  weights after the last complete epoch (config in the metadata)
    RUN/best.safetensors   weights of the epoch with the best validation ELBO
    RUN/history.csv        one row per epoch (train/val loss, recon, KL, true ELBO, seconds)
    RUN/metrics.json       evaluation results, merged by every command that adds some
    RUN/figures/*.png

Every file is written atomically (temp file + fsync + rename), so a crash never leaves a
half-written file that looks good; a write that the disk refuses (read-only, full, no
permission) is one ``WriteError`` naming the path and the problem. Checkpoints are
safetensors + JSON: loading never runs code (no pickle). Every split section of
metrics.json is stamped with the checkpoint it was computed from (``checkpoint_stamp``);
``read_metrics`` hides sections whose checkpoint has since been replaced.
"""

from __future__ import annotations

import csv
import hashlib
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
# Checkpoint tensors of an objective's auxiliary networks (FactorVAE's discriminator):
# "auxiliary.NAME.TENSOR", beside the model's own.
AUXILIARY_PREFIX = "auxiliary."
# The layout of run directories and checkpoints. Bump it when a change makes old runs
# unreadable; readers refuse other formats with a clear message instead of guessing.
RUN_FORMAT = 1


class WriteError(VaelabError):
    """A file or folder that cannot be written (read-only or full disk, no permission):
    the one line names the path and the problem. Commands that computed results before
    the write print them before they exit with this error."""


@contextmanager
def writing(path: Path) -> Iterator[None]:
    """Turn a refused write of ``path`` (OSError, or safetensors' error for a full disk)
    into one ``WriteError`` naming the path: the one place where vaelab words it."""
    try:
        yield
    except WriteError:
        raise
    except (OSError, SafetensorError) as err:
        problem = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        full = "os error 28" in problem.lower() or "no space" in problem.lower()
        problem = "No space left on device" if full else problem
        fix = "free space on that disk" if full else "choose a writable place"
        raise WriteError(f"cannot write {path}: {problem}; {fix}") from None


def make_dir(path: Path) -> Path:
    """``mkdir -p`` with a refused write as one WriteError."""
    with writing(path):
        Path(path).mkdir(parents=True, exist_ok=True)
    return Path(path)


def _umask_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success fsync it and rename it over
    ``path`` (atomic on POSIX), on failure remove it and leave ``path`` untouched. A
    refused write (read-only, full disk) is one WriteError naming ``path``."""
    path = Path(path)
    make_dir(path.parent)
    with writing(path):
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                                        dir=path.parent)
        os.close(fd)
    tmp = Path(tmp_name)
    try:
        with writing(path):
            yield tmp
            # mkstemp (and safetensors, which writes its own file) make owner-only files;
            # give run files the usual umask permissions so that shared runs and reports
            # stay readable: set after the writer is done, before the rename.
            tmp.chmod(_umask_mode())
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
        raise VaelabError(_runs_below(Path(path)) or f"{path} is missing; is this a "
                          "complete vaelab run directory?") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise VaelabError(f"{path} is not valid JSON ({err}); the file is corrupt") from None


def _runs_below(config_path: Path, shown: int = 3) -> str:
    """When a run's config.json is missing from a folder that holds runs (a sweep or
    recipe directory, a folder of runs), a message naming the runs to give instead; ""
    otherwise."""
    if config_path.name != CONFIG_FILE:
        return ""
    folder = config_path.parent
    found = sorted({p.parent for pattern in (f"*/{CONFIG_FILE}", f"*/*/{CONFIG_FILE}")
                    for p in folder.glob(pattern)})
    if not found:
        return ""
    more = f" and {len(found) - shown} more" if len(found) > shown else ""
    return (f"{folder} is not a run directory (it has no {CONFIG_FILE}) but holds runs: "
            f"give one of them, e.g. {', '.join(str(p) for p in found[:shown])}{more}")


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
        return [{key: _number(value) for key, value in row.items()} for row in rows]
    except (TypeError, ValueError):
        raise VaelabError(f"{path} is corrupt (non-numeric values); delete it or retrain"
                          ) from None


def _number(text: str) -> int | float:
    """A history cell: an int as written ("3": epoch, step, skipped steps), else a float,
    so that a resumed run rewrites its integer columns as integers, not "3.0"."""
    try:
        return int(text)
    except ValueError:
        return float(text)


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


# -- metrics keyed by checkpoint ------------------------------------------------------
# Each split section of metrics.json ("test", "val", "test_best", ...) carries the stamp of
# the checkpoint its numbers came from; a section of another checkpoint is replaced when
# new numbers are stored, and hidden by read_metrics when the checkpoint file changed.
STAMP = "checkpoint"
_hashes: dict[tuple[str, int, int, int], str] = {}  # (path, inode, mtime, size) → sha256


def file_sha256(path: Path) -> str:
    """sha256 of a checkpoint's content: its JSON header with sorted keys, then its tensor
    bytes. (safetensors writes the header's keys in a random order, so the raw bytes of
    two identical checkpoints differ; a file that is not safetensors is hashed raw.)"""
    stat = Path(path).stat()
    key = (str(Path(path).resolve()), stat.st_ino, stat.st_mtime_ns, stat.st_size)
    if key not in _hashes:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            size = int.from_bytes(handle.read(8), "little")
            try:
                header = json.loads(handle.read(size)) if size <= stat.st_size else None
            except (ValueError, UnicodeDecodeError):
                header = None
            if header is None:
                handle.seek(0)
            else:
                digest.update(json.dumps(header, sort_keys=True).encode())
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        _hashes[key] = digest.hexdigest()
    return _hashes[key]


def checkpoint_stamp(run_path: Path, name: str = "last") -> dict[str, Any]:
    """Which checkpoint numbers come from: its name, epoch, step and the sha256 of its
    file (the epoch alone does not tell a retrained run from the old one)."""
    path = Path(run_path) / CHECKPOINTS[name]
    metadata = load_checkpoint_metadata(path)
    return {"name": name, "epoch": metadata.get("epoch"), "step": metadata.get("step"),
            "sha256": file_sha256(path)}


def load_checkpoint_metadata(path: Path) -> dict[str, Any]:
    """The JSON metadata of a checkpoint without loading its tensors."""
    if not Path(path).is_file():
        raise VaelabError(f"checkpoint {path} is missing; train the run first "
                          "(or point at a complete run directory)")
    try:
        with safe_open(str(path), framework="pt") as handle:
            raw = handle.metadata() or {}
        return {key: json.loads(value) for key, value in raw.items()}
    except (SafetensorError, OSError, ValueError) as err:
        raise VaelabError(f"checkpoint {path} is not a valid safetensors file ({err}); it is "
                          "corrupt or not a vaelab checkpoint") from None


def store_section(run_path: Path, key: str, section: dict[str, Any],
                  stamp: dict[str, Any]) -> dict[str, Any]:
    """Merge ``section`` (stamped with ``stamp``) into metrics.json under ``key``. Numbers
    stored there from another checkpoint are dropped, never mixed in. Returns the
    section as stored."""
    path = Path(run_path) / METRICS_FILE
    current = read_json(path) if path.exists() else {}
    if not isinstance(current, dict):
        current = {}
    old = current.get(key)
    kept = old if isinstance(old, dict) and old.get(STAMP) == stamp else {}
    current[key] = {**kept, **section, STAMP: stamp}
    write_json(path, current)
    return current[key]


def read_metrics(run_path: Path, metrics: dict[str, Any] | None = None
                 ) -> tuple[dict[str, Any], list[str]]:
    """metrics.json (or ``metrics`` already read from it) without the sections whose
    checkpoint has been replaced since, and one note per hidden section. A section
    without a stamp dict (written before stamps existed) cannot be checked and is kept."""
    if metrics is None:
        path = Path(run_path) / METRICS_FILE
        metrics = read_json(path) if path.exists() else {}
    if not isinstance(metrics, dict):
        return {}, []
    current: dict[str, Any] = {}
    notes: list[str] = []
    for key, section in metrics.items():
        stamp = section.get(STAMP) if isinstance(section, dict) else None
        if isinstance(stamp, dict) and not _still_current(run_path, stamp):
            notes.append(f"{run_path}: the {key} metrics are of the {stamp.get('name')} "
                         f"checkpoint of epoch {stamp.get('epoch')}, which has been replaced "
                         f"since; not shown (run `vaelab eval {run_path}` again)")
            continue
        current[key] = section
    return current, notes


def _still_current(run_path: Path, stamp: dict[str, Any]) -> bool:
    name = stamp.get("name")
    if name not in CHECKPOINTS:
        return False
    path = Path(run_path) / CHECKPOINTS[name]
    try:
        return path.is_file() and file_sha256(path) == stamp.get("sha256")
    except OSError:
        return False


# -- config.json against the checkpoint's own config ---------------------------------
def config_disagreement(run_path: Path, stored: Any, truth: Any, checkpoint: Path) -> str:
    """'' when config.json's config equals the checkpoint's, else the start of one line
    naming the differing keys (the checkpoint's config is the truth: it built the
    weights); each command ends the line with what it does about it."""
    if stored == truth:
        return ""
    ours, theirs = _flat(stored), _flat(truth)
    keys = sorted(k for k in set(ours) | set(theirs) if ours.get(k) != theirs.get(k))
    shown = ", ".join(f"{k}={json.dumps(ours.get(k))} (checkpoint: {json.dumps(theirs.get(k))})"
                      for k in keys[:4]) + (f" and {len(keys) - 4} more" if len(keys) > 4
                                            else "")
    return f"{Path(run_path) / CONFIG_FILE} disagrees with {checkpoint.name}: {shown}"


# What a reader (eval, sample, plot, compare, report) adds: a warning, as its output is
# computed from (or describes) the checkpoint, which is the truth.
READER_NOTE = "; the checkpoint's config is used (restore config.json or retrain)"


def _flat(tree: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(tree, dict):
        return {prefix or "config": tree}
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        flat.update(_flat(value, name) if isinstance(value, dict) else {name: value})
    return flat
