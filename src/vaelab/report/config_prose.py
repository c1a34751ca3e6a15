"""A run's configuration in words: the few lines a reader needs to interpret its numbers
(the model's one-line description is ``vaelab.describe.describe_model``), and every
resolved value for those who want them all."""

from __future__ import annotations

import json
import math
import shlex
from typing import Any

from vaelab.describe import describe_model
from vaelab.report.cells import Cell, fmt, joined, section
from vaelab.report.reader import RunData
from vaelab.shapes import describe_shape

BADGES = {"finished": "ok", "failed": "bad"}


def status_cell(run: RunData) -> Cell:
    text = run.status if run.status in BADGES else "not finished"
    if run.status_note:
        text += f": {run.status_note}"
    return Cell(text, badge=BADGES.get(run.status, "warn"))


def dataset_text(config: dict[str, Any], info: dict[str, Any]) -> str:
    data, described = section(config, "data"), section(info, "data")
    text = str(data.get("dataset"))
    if described:
        stored = described.get("image_shape") or []
        # (C, H, W) since colour images; runs stored before say (H, W): grey.
        shape = describe_shape(stored) if len(stored) in (2, 3) else joined(stored, "×")
        text += (f": {fmt(described.get('n_train'))} train / {fmt(described.get('n_val'))} "
                 f"val / {fmt(described.get('n_test'))} test images, {shape}")
    text += f"; binarization {data.get('binarize')}"
    if data.get("subset"):
        text += f"; subset {data.get('subset')}"
    return text


def epochs_text(run: RunData) -> str:
    epochs = f"{len(run.history)} of {section(run.config, 'train').get('epochs')}"
    if run.history:
        seconds = sum(row.get("epoch_seconds", 0.0) for row in run.history)
        epochs += f" ({seconds:.1f} s)"
        last = run.history[-1]
        if "val_elbo" in last and math.isfinite(last["val_elbo"]):
            epochs += f"; last val ELBO {fmt(last['val_elbo'])} nats"
    return epochs


def config_rows(run: RunData) -> list[tuple[str, str]]:
    """The config summary: what a reader needs to know to interpret the numbers."""
    config, info = run.config, run.info
    train = section(config, "train")
    counts = section(info, "parameters")
    parameters = fmt(counts.get("total"))
    if counts:
        parameters += " (" + ", ".join(f"{k} {fmt(v)}" for k, v in counts.items()
                                       if k != "total") + ")"
    rows = [
        ("dataset", dataset_text(config, info)),
        ("model", describe_model(config)),
        ("epochs", epochs_text(run)),
        ("seed", str(train.get("seed", info.get("seed")))),
        ("training", f"batch {train.get('batch_size')}, lr {train.get('lr')}, device "
                     f"{info.get('device', train.get('device'))}"),
        ("parameters", parameters),
    ]
    versions = ", ".join(f"{name} {info[key]}" for name, key in
                         (("vaelab", "vaelab_version"), ("torch", "torch_version"),
                          ("python", "python_version")) if key in info)
    if info.get("created") or versions:
        rows.append(("created", " · ".join(filter(None, [str(info.get("created") or ""),
                                                           versions]))))
    command = info.get("command")
    if isinstance(command, list) and command:
        rows.append(("command", shlex.join(map(str, command))))
    return rows


def flat_config(config: dict[str, Any]) -> list[tuple[str, str]]:
    """Every resolved config value, as ``section.key`` = JSON."""
    return [(f"{name}.{key}", json.dumps(value, ensure_ascii=False))
            for name, fields in config.items() if isinstance(fields, dict)
            for key, value in fields.items()]
