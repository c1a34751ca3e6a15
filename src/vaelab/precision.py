"""Arithmetic precision: the one home of what ``--precision`` (training) and
``--iw-precision`` (importance-sampled NLL) mean.

  float32  everything in float32 (the default; bit-for-bit claims hold here);
  tf32     CUDA matmuls in TensorFloat-32 (10-bit mantissa inputs, float32 accumulation);
           on the CPU there is no TF32, so float32 is used and the result says so;
  bf16     autocast: matmuls in bfloat16, everything autocast keeps in float32 (reductions,
           log/exp, the losses) stays there. model.py casts the networks' outputs back
           to float32, so densities, KL and log-sum-exps are float32 (the IS-NLL's
           running log-sum-exp is float64 whatever the precision).

Every logged ELBO is computed in float32: validation and test passes run outside these
contexts.

On the CPU, training and evaluation flush subnormal floats (|x| < 1.2e-38) to zero
(``subnormals_flushed``): x86 cores compute with them in microcode, ~100× slower. They
pile up in long runs: Adam's moments of weights whose gradient is always 0 (MNIST's blank
border pixels) decay through the subnormal range over tens of thousands of steps, so an
architecture-depth epoch grew from 11 s to 40 s over 100 epochs (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

TRAIN_PRECISIONS = ("float32", "bf16")
EVAL_PRECISIONS = ("float32", "tf32", "bf16")


def effective(precision: str, device: torch.device) -> str:
    """What ``precision`` amounts to on ``device`` (tf32 is float32 on the CPU)."""
    if precision == "tf32" and device.type != "cuda":
        return "float32"
    return precision


@contextlib.contextmanager
def arithmetic(device: torch.device, precision: str, *, in_graph: bool = False
               ) -> Iterator[None]:
    """Run the block in ``precision`` on ``device``. Inside a CUDA graph autocast's
    weight-cast cache must be off (the cached copies would be freed between replays)."""
    precision = effective(precision, device)
    if precision == "bf16":
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16,
                            cache_enabled=not in_graph):
            yield
    elif precision == "tf32":
        before = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = True
        try:
            yield
        finally:
            torch.backends.cuda.matmul.allow_tf32 = before
    else:
        yield


@contextlib.contextmanager
def subnormals_flushed(device: torch.device) -> Iterator[None]:
    """On the CPU, treat subnormal inputs and results as zero for the block (x86's FTZ and
    DAZ; a no-op where the CPU has neither), then restore the previous mode. It changes a
    result only by amounts below 1.2e-38 (a subnormal Adam moment becomes 0, whose update
    was already < 1e-19 · lr). A GPU flushes in its own kernels: nothing to do there."""
    if device.type != "cpu":
        yield
        return
    before = _flushing()
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(before)


def _flushing() -> bool:
    """Whether subnormals are flushed now (torch has no getter): a subnormal times one is
    zero exactly when they are."""
    return torch.tensor([1e-39]).mul(1.0).item() == 0.0
