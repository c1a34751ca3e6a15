"""What a recipe would cost at full size, before you start it: each point of the recipe's
full spec (seed 0) trains for a few epochs on a small slice of its data, and the seconds
per optimiser step of its last epoch (the first one holds warm-up and, on CUDA, the graph
capture) are multiplied by the full run's steps (training set / batch × epochs). A
projection of training only: evaluation (IS-NLL, FID), figures and the report come on top.

    VAELAB_DATA=../shared/data python benchmarks/recipe_cost.py literature
    VAELAB_DATA=../shared/data python benchmarks/recipe_cost.py architecture-depth --device cuda

One torch thread by default, as each local sweep worker uses (--threads to change).
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from pathlib import Path

import torch

import vaelab
from vaelab.data import prepare_data
from vaelab.recipes import RECIPES


def step_seconds(config, images: int, epochs: int, out: Path) -> float:
    """Seconds per optimiser step in the last of ``epochs`` epochs on ``images`` images."""
    run = vaelab.train(config.replace(subset=images, epochs=epochs), out=out,
                       progress=False, figures=False)
    steps = math.ceil(len(run.data.train) / config.train.batch_size)
    return run.history[-1]["epoch_seconds"] / steps


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Project a recipe's full-size training time from seconds per step on a "
                    "slice of its data (training only; evaluation comes on top).")
    parser.add_argument("recipe", choices=RECIPES.names())
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--images", type=int, default=3000,
                        help="images of the training slice [3000]")
    parser.add_argument("--epochs", type=int, default=2, help="epochs on the slice [2]")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--points", default=None, help="comma-separated points [all]")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    spec = RECIPES.get(args.recipe).build(False)
    wanted = None if args.points is None else set(args.points.split(","))
    load = os.getloadavg()[0]
    print(f"{args.recipe}: {len(spec.runs())} runs at full size; device {args.device}, "
          f"{args.threads} thread(s), load average {load:.1f} at the start")
    print(f"{'point':<22} {'ms/step':>8} {'steps (full run)':>17} {'projected training':>19}")
    total = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for run_spec in spec.runs():
            if run_spec.seed != spec.seeds[0] or (wanted and run_spec.point not in wanted):
                continue
            config = run_spec.config.replace(device=args.device)
            started = time.perf_counter()
            per_step = step_seconds(config, args.images, args.epochs, Path(tmp) / run_spec.point)
            full_train = len(prepare_data(config.data, "cpu").train)
            steps = math.ceil(full_train / config.train.batch_size) * config.train.epochs
            seconds = per_step * steps * len(spec.seeds)
            total += seconds
            print(f"{run_spec.point:<22} {per_step * 1e3:>8.2f} {steps:>17,} "
                  f"{seconds / 3600:>16.1f} h   (× {len(spec.seeds)} seeds; measured in "
                  f"{time.perf_counter() - started:.0f} s)", flush=True)
    print(f"total projected training: {total / 3600:.1f} h of one process "
          f"({args.threads} thread(s)); load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
