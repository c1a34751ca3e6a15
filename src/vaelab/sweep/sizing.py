"""How many runs the local backend trains at once: as many as the cores allow, and no more
than the memory available holds at each run's estimated peak (issue 18: two workers on a
24 GiB machine were out-of-memory killed).

A run's peak is estimated from its config before anything trains (``run_peak_bytes``):
the worker process itself, the prepared data on the device, the parameters with their
gradients and optimiser state, and the largest evaluation chunk (IS-NLL's decoded rows,
vaelab/memory.py). ``local_workers`` is a pure function of cores, available memory and
that estimate, so its answers can be checked by hand.
"""

from __future__ import annotations

from typing import Any

from vaelab.memory import GIB

# A worker process before it holds any data or model: Python, torch, vaelab (measured:
# 350 MiB peak for a tiny model's IS-NLL in a fresh process, benchmarks/RESULTS.md).
PROCESS_BYTES = 400 * 2**20
# float32 copies of the parameters a training process may hold at once: the weights,
# their gradients, Adam's two moments, and the best and resume checkpoints being saved.
PARAMETER_COPIES = 6


def data_bytes(data: Any) -> int:
    """Bytes of a PreparedData's tensors (every split's images and labels), plus the fixed
    binarisation draw evaluation makes of val and test under dynamic binarisation."""
    total = 0
    for split in (data.train, data.val, data.test):
        if split is None:
            continue
        total += split.x.nbytes + (split.y.nbytes if split.y is not None else 0)
        if data.binarize == "dynamic" and split is not data.train:
            total += split.x.nbytes
    return total


def run_peak_bytes(config: Any, image_shape: tuple[int, ...], data_size: int) -> int:
    """Estimated peak resident bytes of one sweep run of ``config`` (a Config) whose
    prepared data takes ``data_size`` bytes: process + data + parameter copies + one
    IS-NLL chunk at its preferred size."""
    import torch

    from vaelab.metrics.base import decoded_row_bytes
    from vaelab.metrics.iw_nll import CHUNK_ROWS
    from vaelab.model import VAE

    with torch.device("cpu"):
        model = VAE(config, image_shape)
    parameters = sum(p.numel() for p in model.parameters())
    chunk = CHUNK_ROWS * decoded_row_bytes(model)
    return PROCESS_BYTES + data_size + PARAMETER_COPIES * 4 * parameters + chunk


def local_workers(cores: int, available: int, per_run: int, runs: int
                  ) -> tuple[int, str | None]:
    """(workers, note): at most one per core and per run, and no more than ``available``
    bytes hold at ``per_run`` bytes each; at least one. The note (one line) says why when
    memory allows fewer workers than the cores and runs would; None otherwise."""
    by_cores = max(1, min(cores, runs))
    by_memory = max(1, available // per_run) if per_run > 0 else by_cores
    workers = min(by_cores, by_memory)
    if workers == by_cores:
        return workers, None
    return workers, (f"{workers} local worker{'s' if workers > 1 else ''}, not {by_cores}: "
                     f"each run needs about {per_run / GIB:.1f} GiB at its peak (estimated "
                     f"from its config) and {available / GIB:.1f} GiB is available; "
                     "--workers N overrides")
