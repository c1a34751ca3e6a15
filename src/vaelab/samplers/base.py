"""Latent samplers: where the z of generated images come from after training.

A registered sampler class has ``fit(model, data, **options) -> sampler`` (nothing to
fit for the prior), ``sample(n, generator) -> z [n, Z]`` and ``describe()``. A fitted
sampler is stored in the run directory (``rundir.SAMPLERS_DIR``, safetensors with JSON
metadata, never pickle) next to the digest of the weights it was fitted to, and refitted
only when those weights changed (``fitted_sampler``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch

from vaelab import rundir
from vaelab.errors import VaelabError
from vaelab.registry import Registry

SAMPLERS: Registry[Any] = Registry("sampler", package="vaelab.samplers")


class LatentSampler:
    """Base class. ``options`` names the keyword options ``fit`` reads and their defaults;
    ``stored`` says whether a fit is kept in the run directory."""

    options: dict[str, Any] = {}
    stored = True

    @classmethod
    def fit(cls, model, data, **options) -> LatentSampler:
        raise NotImplementedError

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """(tensors, JSON metadata) to store."""
        raise NotImplementedError

    @classmethod
    def from_state(cls, tensors: dict[str, torch.Tensor], meta: dict[str, Any]
                   ) -> LatentSampler:
        raise NotImplementedError


def model_digest(model: torch.nn.Module) -> str:
    """SHA-256 of the model's weights (names, shapes, dtypes and bytes, in order): a
    sampler fitted to other weights is stale."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        flat = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}:{tuple(flat.shape)}:{flat.dtype}".encode())
        digest.update(flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b"")
    return digest.hexdigest()


def sampler_options(name: str, given: dict[str, Any]) -> dict[str, Any]:
    """The sampler's options with ``given`` (those not None) applied; one line naming an
    option the sampler does not read."""
    entry = SAMPLERS.get(name)
    options = dict(entry.options)
    for key, value in given.items():
        if value is None:
            continue
        if key not in options:
            owners = [other for other, e in SAMPLERS.items() if key in e.options]
            choose = f" or choose --sampler {owners[0]}" if owners else ""
            raise VaelabError(f"sampler {name} does not read --{key.replace('_', '-')}; "
                              f"drop it{choose}")
        options[key] = value
    return options


def sampler_path(run_path: Path, name: str, options: dict[str, Any]) -> Path:
    """rundir.SAMPLERS_DIR/<name>-<option values>.safetensors: one file per setting."""
    suffix = "-".join(f"{key}{value}" for key, value in sorted(options.items()))
    return Path(run_path) / rundir.SAMPLERS_DIR / f"{name}{'-' + suffix if suffix else ''}" \
        ".safetensors"


def fitted_sampler(run, name: str, **given: Any) -> LatentSampler:
    """The sampler ``name`` for a loaded run (vaelab.run.Run): read from the run directory
    when it was fitted to these very weights, else fitted on the run's training split and
    stored there."""
    entry = SAMPLERS.get(name)
    options = sampler_options(name, given)
    if not entry.stored:
        return entry.fit(run.model, run.data, **options)
    path = sampler_path(run.path, name, options)
    digest = model_digest(run.model)
    if path.is_file():
        tensors, meta = rundir.load_checkpoint(path)
        if meta.get("model_digest") == digest and meta.get("options") == options:
            return entry.from_state(tensors, meta)
    sampler = entry.fit(run.model, run.data, **options)
    tensors, meta = sampler.state()
    path.parent.mkdir(parents=True, exist_ok=True)
    rundir.save_checkpoint(path, tensors, {**meta, "sampler": name, "options": options,
                                           "model_digest": digest})
    return sampler


__all__ = ["SAMPLERS", "LatentSampler", "fitted_sampler", "model_digest"]
