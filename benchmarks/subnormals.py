"""What subnormal floats cost a long CPU run, and what flushing them saves (vaelab's
training and evaluation flush them: vaelab/precision.py ``subnormals_flushed``).

Late in a long MNIST run, Adam's moments of weights that never get a gradient (the
blank border pixels' first-layer weights, collapsed latent dimensions) have decayed into
the subnormal range (|x| < 1.2e-38), where an x86 core computes in microcode. Given a
trained run directory (any that has a resume.safetensors), this prints:

1. how many of its saved floats are subnormal, per tensor;
2. seconds per Adam step over its saved moments, subnormals kept vs flushed;
3. seconds of one more training epoch resumed from it, kept vs flushed, and whether the
   two epochs end with the same weights bit for bit.

    VAELAB_DATA=../shared/data python benchmarks/subnormals.py SWEEP/runs/512-seed2

One torch thread (as each local sweep worker uses); every pair is measured in this one
process, one after the other, and the ratio printed.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

import vaelab
import vaelab.trainer as trainer
from vaelab.resume import RESUME_FILE

TINY = torch.finfo(torch.float32).tiny  # the smallest normal float32, 1.18e-38


def subnormal_counts(state: dict[str, torch.Tensor]) -> dict[str, tuple[int, int]]:
    counts = {}
    for name, tensor in state.items():
        if tensor.dtype == torch.float32:
            counts[name] = (int(((tensor != 0) & (tensor.abs() < TINY)).sum()), tensor.numel())
    return counts


def adam_step_seconds(state: dict[str, torch.Tensor], flush: bool, steps: int) -> float:
    """Adam steps over the run's saved moments; a weight whose first moment is below 1e-30
    gets a zero gradient (it had none for thousands of steps), the others a small one."""
    names = sorted({key[: -len(".exp_avg")] for key in state if key.endswith(".exp_avg")})
    torch.manual_seed(0)
    params = []
    optimizer_state = {}
    for name in names:
        first, second = state[name + ".exp_avg"], state[name + ".exp_avg_sq"]
        param = torch.nn.Parameter(torch.zeros_like(first))
        param.grad = torch.where(first.abs() < 1e-30, torch.zeros_like(first),
                                 1e-3 * torch.randn_like(first))
        params.append(param)
        optimizer_state[param] = (first, second)
    optimizer = torch.optim.Adam(params, lr=3e-4, fused=True)
    for param, (first, second) in optimizer_state.items():
        optimizer.state[param] = {"step": torch.tensor(50_000.0), "exp_avg": first.clone(),
                                  "exp_avg_sq": second.clone()}
    torch.set_flush_denormal(flush)
    try:
        optimizer.step()  # warm-up
        started = time.perf_counter()
        for _ in range(steps):
            optimizer.step()
        return (time.perf_counter() - started) / steps
    finally:
        torch.set_flush_denormal(False)


def one_more_epoch(run: Path, flush: bool, work: Path) -> tuple[float, dict[str, torch.Tensor]]:
    """Seconds of the next epoch of a copy of ``run`` and its weights after it."""
    copy = work / ("flushed" if flush else "kept")
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns(".writer.lock", "*.claim"))
    epochs = len(vaelab.load_run(copy).history) + 1
    original = trainer.subnormals_flushed
    if not flush:  # vaelab always flushes on the CPU; the baseline switches that off
        trainer.subnormals_flushed = lambda device: contextlib.nullcontext()
    try:
        resumed = vaelab.train(resume=copy, epochs=epochs, progress=False, figures=False)
    finally:
        trainer.subnormals_flushed = original
    weights = {k: v.clone() for k, v in resumed.model.state_dict().items()}
    return resumed.history[-1]["epoch_seconds"], weights


def main() -> None:
    parser = argparse.ArgumentParser(description="Seconds lost to subnormal floats in a long "
                                                 "CPU run, and saved by flushing them.")
    parser.add_argument("run", type=Path, help="a trained run directory (with resume state)")
    parser.add_argument("--steps", type=int, default=60, help="Adam steps timed per mode")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    state = load_file(args.run / RESUME_FILE)

    counts = subnormal_counts(state)
    total = sum(n for n, _ in counts.values())
    print(f"{args.run}: {total:,} subnormal of {sum(m for _, m in counts.values()):,} saved floats")
    for name, (n, m) in counts.items():
        if n:
            print(f"  {name:28s} {n:>9,} of {m:>9,}")

    kept = adam_step_seconds(state, False, args.steps)
    flushed = adam_step_seconds(state, True, args.steps)
    print(f"Adam step over the saved moments: kept {kept * 1e3:.2f} ms, flushed "
          f"{flushed * 1e3:.2f} ms ({kept / flushed:.1f}×)")

    with tempfile.TemporaryDirectory() as work:
        kept_s, kept_w = one_more_epoch(args.run, False, Path(work))
        flushed_s, flushed_w = one_more_epoch(args.run, True, Path(work))
    same = all(torch.equal(kept_w[k], flushed_w[k]) for k in kept_w)
    print(f"one more epoch: kept {kept_s:.1f} s, flushed {flushed_s:.1f} s "
          f"({kept_s / flushed_s:.1f}×); weights after it {'bit-identical' if same else 'differ'}")


if __name__ == "__main__":
    main()
