"""Everything needed to continue training exactly where it stopped: ``resume.safetensors``
in the run directory, written atomically after each complete epoch.

It holds the model weights, Adam's moment estimates and step counts, the weights and
optimiser states of the objective's auxiliary networks (FactorVAE's discriminator), every
random number
generator the loop uses (torch's global one, the batch-order and binarisation generators,
CUDA's, numpy's and Python's) and the loop's counters. Resuming from it replays the
remaining epochs bit for bit on CPU (tests/test_resume.py kills a run with SIGKILL to
check). Like every vaelab file it is safetensors + JSON: loading runs no code.
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaelab import rundir
from vaelab.errors import VaelabError

RESUME_FILE = "resume.safetensors"


def save_resume(run_path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                generators: dict[str, torch.Generator], counters: dict[str, Any],
                auxiliaries: dict[str, Any] | None = None) -> None:
    """``auxiliaries``: the objective's ``Auxiliary`` networks by name (module, optimizer),
    stored under ``auxiliary.NAME.model.*`` and ``auxiliary.NAME.optim.*``."""
    tensors: dict[str, torch.Tensor] = {}
    for name, tensor in model.state_dict().items():
        tensors[f"model.{name}"] = tensor
    param_groups = _optimizer_tensors(optimizer, "optim.", tensors)
    auxiliary_groups = {}
    for name, auxiliary in (auxiliaries or {}).items():
        for key, tensor in auxiliary.module.state_dict().items():
            tensors[f"auxiliary.{name}.model.{key}"] = tensor
        auxiliary_groups[name] = _optimizer_tensors(auxiliary.optimizer,
                                                    f"auxiliary.{name}.optim.", tensors)
    tensors["rng.torch"] = torch.get_rng_state()
    for name, generator in generators.items():
        tensors[f"rng.{name}"] = generator.get_state()
    if torch.cuda.is_available():
        for index, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{index}"] = state
    numpy_state = np.random.get_state()
    tensors["rng.numpy"] = torch.from_numpy(numpy_state[1].astype(np.int64))
    python_state = random.getstate()
    metadata = {
        "counters": {key: _json_float(value) for key, value in counters.items()},
        "param_groups": param_groups,
        "numpy_rng": [numpy_state[0], *map(_json_float, numpy_state[2:])],
        "python_rng": [python_state[0], list(python_state[1]), python_state[2]],
    }
    if auxiliary_groups:
        metadata["auxiliary_param_groups"] = auxiliary_groups
    rundir.save_checkpoint(run_path / RESUME_FILE, tensors, metadata)


def _optimizer_tensors(optimizer: torch.optim.Optimizer, prefix: str,
                       tensors: dict[str, torch.Tensor]) -> list[dict[str, Any]]:
    """Add the optimiser's per-parameter state to ``tensors``; return its param groups."""
    state = optimizer.state_dict()
    for index, slots in state["state"].items():
        for key, value in slots.items():
            tensors[f"{prefix}{index}.{key}"] = torch.as_tensor(value)
    return state["param_groups"]


def _load_optimizer(optimizer: torch.optim.Optimizer, prefix: str,
                    tensors: dict[str, torch.Tensor], param_groups: list) -> None:
    slots: dict[int, dict[str, torch.Tensor]] = {}
    for name, tensor in tensors.items():
        if name.startswith(prefix):
            index, key = name[len(prefix):].split(".", 1)
            slots.setdefault(int(index), {})[key] = tensor
    optimizer.load_state_dict({"state": slots, "param_groups": param_groups})


def load_resume(run_path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                generators: dict[str, torch.Generator],
                auxiliaries: dict[str, Any] | None = None) -> dict[str, Any]:
    """Restore everything ``save_resume`` wrote; return the loop's counters."""
    path = run_path / RESUME_FILE
    if not path.is_file():
        raise VaelabError(f"{run_path} has no {RESUME_FILE}: it never completed an epoch or "
                          "was written by an older vaelab; train it again with --force")
    tensors, metadata = rundir.load_checkpoint(path)
    rundir.check_format(metadata.get("run_format"), path)
    try:
        model.load_state_dict({name[6:]: t for name, t in tensors.items()
                               if name.startswith("model.")}, strict=True)
        _load_optimizer(optimizer, "optim.", tensors, metadata["param_groups"])
        for name, auxiliary in (auxiliaries or {}).items():
            prefix = f"auxiliary.{name}."
            auxiliary.module.load_state_dict(
                {key[len(prefix) + 6:]: t for key, t in tensors.items()
                 if key.startswith(prefix + "model.")}, strict=True)
            _load_optimizer(auxiliary.optimizer, prefix + "optim.", tensors,
                            metadata["auxiliary_param_groups"][name])
        torch.set_rng_state(tensors["rng.torch"])
        for name, generator in generators.items():
            generator.set_state(tensors[f"rng.{name}"])
    except (RuntimeError, KeyError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise VaelabError(f"{path} does not fit this run ({first}); the file is corrupt or "
                          "from another run") from None
    if torch.cuda.is_available():
        cuda_states = [tensors[key] for key in sorted(tensors) if key.startswith("rng.cuda.")]
        if cuda_states:
            torch.cuda.set_rng_state_all(cuda_states)
    kind, *rest = metadata["numpy_rng"]
    np.random.set_state((kind, tensors["rng.numpy"].numpy().astype(np.uint32), *rest))
    version, state, gauss = metadata["python_rng"]
    random.setstate((version, tuple(state), gauss))
    return {key: _from_json_float(value) for key, value in metadata["counters"].items()}


def _json_float(value: Any) -> Any:
    """JSON has no infinities: write them as strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _from_json_float(value: Any) -> Any:
    return float(value) if value in ("inf", "-inf", "nan") else value
