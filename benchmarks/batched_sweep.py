"""How much faster is a sweep of same-shape MNIST VAEs when its runs are trained as one
batched computation (vaelab.batched) instead of one after another (vaelab.train each)?

The default config's MLP (784-400-20-400-784 ReLU, Bernoulli, N(0, I), Adam 1e-3, batch
128, 54 000 training images after the 10 % validation split), --models runs that differ
in β (default) or in the seed, trained --epochs epochs by both backends in this one
process, without figures:

    VAELAB_DATA=../shared/data python benchmarks/batched_sweep.py [--epochs 3]
        [--models 8] [--vary beta|seed] [--subset N] [--hidden 64]
        [--order sequential-first] [--repeats 2]

Printed per backend (its fastest of --repeats runs, taken in turn): wall seconds per
model-epoch end to end (data preparation, training, validation, checkpoints, test ELBO:
everything ``train``/``train_batched`` does) and for the training loop alone (history's
epoch_seconds), the speed-ups, and each run's final validation ELBO from both backends,
which must agree within seed noise (the batched VAE draws other reparameterisation
noise, so they are not identical; --vary seed prints the seed-to-seed spread).

Both arms run on the same 2 torch threads. The machine must be otherwise idle for the
timings to mean anything: the load average before/after and the CPU cores that other
processes used during each arm (Linux only) are printed; near 0 the timings are clean.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_speed import OthersLoad  # noqa: E402

import vaelab  # noqa: E402
from vaelab.batched import train_batched  # noqa: E402
from vaelab.config import Config  # noqa: E402

BETAS = [0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--models", type=int, default=8)
    parser.add_argument("--vary", choices=["beta", "seed"], default="beta",
                        help="what differs between the runs (the other stays at the default)")
    parser.add_argument("--subset", type=int, default=None,
                        help="train on the first N images only (quick runs)")
    parser.add_argument("--order", choices=["batched-first", "sequential-first"],
                        default="batched-first")
    parser.add_argument("--hidden", default=None,
                        help="hidden sizes instead of the default 400, e.g. 64 or 200,200")
    parser.add_argument("--repeats", type=int, default=2,
                        help="runs of each backend, taken in turn; the fastest counts")
    parser.add_argument("--threads", type=int, default=2)
    return parser.parse_args()


def sweep_configs(args: argparse.Namespace) -> list[Config]:
    base = Config().replace(dataset="mnist", epochs=args.epochs, subset=args.subset,
                            device="cpu")
    if args.hidden is not None:
        base = base.replace(hidden=args.hidden)
    if args.vary == "seed":
        return [base.replace(seed=seed) for seed in range(args.models)]
    betas = [BETAS[m % len(BETAS)] * 10 ** (m // len(BETAS)) for m in range(args.models)]
    return [base.replace(beta=beta) for beta in betas]


def run_sequential(configs: list[Config], root: Path) -> tuple[float, float, list[float]]:
    """(wall seconds, training-loop seconds, final val ELBOs) of vaelab.train per run."""
    started = time.perf_counter()
    loop, elbos = 0.0, []
    for index, config in enumerate(configs):
        run = vaelab.train(config, out=root / f"seq{index}", progress=False, figures=False)
        loop += sum(row["epoch_seconds"] for row in run.history)
        elbos.append(run.history[-1]["val_elbo"])
    return time.perf_counter() - started, loop, elbos


def run_batched(configs: list[Config], root: Path) -> tuple[float, float, list[float]]:
    started = time.perf_counter()
    paths = train_batched(configs, [root / f"bat{i}" for i in range(len(configs))],
                          progress=False, figures=False)
    wall = time.perf_counter() - started
    runs = [vaelab.load_run(path) for path in paths]
    # Each run's epoch_seconds is its 1/M share of the batched epoch: their sum is the
    # loop's wall time.
    loop = sum(row["epoch_seconds"] for run in runs for row in run.history)
    return wall, loop, [run.history[-1]["val_elbo"] for run in runs]


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    configs = sweep_configs(args)
    model_epochs = len(configs) * args.epochs
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {len(configs)} "
          f"MNIST VAEs (default config, hidden {configs[0].network.hidden}, {args.vary} "
          f"varies), {args.epochs} epochs, subset "
          f"{args.subset}; load average before: "
          + " ".join(f"{v:.2f}" for v in os.getloadavg()), flush=True)
    arms = {"sequential": run_sequential, "batched": run_batched}
    if args.order == "batched-first":
        arms = dict(reversed(list(arms.items())))
    # Every backend runs once per repeat, in turn, so that a slow spell of the machine
    # (they come and go, see RESULTS.md) hits one run, not one backend; each backend's
    # fastest run counts. Repeats train the same seeded runs again.
    results, others = {}, {}
    load = OthersLoad()
    for repeat in range(1, args.repeats + 1):
        for name, arm in arms.items():
            with tempfile.TemporaryDirectory() as root:
                load.start()
                result = arm(configs, Path(root))
                other = load.stop()
            wall, loop, _ = result
            print(f"  run {repeat} {name}: {wall:.1f} s wall, {loop:.1f} s in the training "
                  f"loop (others used {other:.2f} cores)", flush=True)
            if name not in results or wall < results[name][0]:
                results[name], others[name] = result, other
    print("load average after: " + " ".join(f"{v:.2f}" for v in os.getloadavg()))

    print(f"\n{'backend':11s} {'s/model-epoch':>14s} {'loop s/model-epoch':>19s} "
          f"{'others':>7s}")
    for name, (wall, loop, _) in results.items():
        print(f"{name:11s} {wall / model_epochs:14.2f} {loop / model_epochs:19.2f} "
              f"{others[name]:7.2f}")
    seq, bat = results["sequential"], results["batched"]
    print(f"speed-up: {seq[0] / bat[0]:.2f}x end to end, {seq[1] / bat[1]:.2f}x in the "
          "training loop")
    print(f"\n{'run':>4s} {args.vary:>6s} {'val ELBO seq':>13s} {'batched':>9s} {'diff':>6s}")
    for index, config in enumerate(configs):
        value = config.objective.beta if args.vary == "beta" else config.train.seed
        print(f"{index:4d} {value:6g} {seq[2][index]:13.2f} {bat[2][index]:9.2f} "
              f"{bat[2][index] - seq[2][index]:6.2f}")
    diffs = [b - s for s, b in zip(seq[2], bat[2], strict=True)]
    if len(diffs) > 1:
        print(f"batched − sequential: mean {statistics.mean(diffs):+.2f}, sd "
              f"{statistics.stdev(diffs):.2f} nats", end="")
        # With --vary seed the sequential runs differ only in their seed: their spread
        # is the yardstick for the differences (which come from the noise ε alone).
        if args.vary == "seed":
            print(f"; seed-to-seed sd of the sequential runs {statistics.stdev(seq[2]):.2f}",
                  end="")
        print()


if __name__ == "__main__":
    main()
