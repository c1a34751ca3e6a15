"""How fast does vaelab train the canonical MNIST VAE, against the usual ways and the
machine's own limit?

The model is the one of pytorch/examples vae/main.py: a 784-400-20-400-784 ReLU MLP,
Bernoulli likelihood on the grey MNIST pixels (no binarisation), N(0, I) prior, Adam
1e-3, batch 128, all 60 000 training images (in vaelab terms: --dataset mnist --hidden
400 --latent-dim 20 --likelihood bernoulli --val-fraction 0 --batch-size 128 --lr 1e-3).
It is trained, in this one process, by

  1. vaelab's trainer (``vaelab.trainer.train_model``; its own ``epoch_seconds``),
  2. a conventional loop: per-image Dataset, DataLoader(shuffle=True), plain Adam,
  3. pythae's BaseTrainer on the same MLP, when pythae is installed (extra ``bench``),

and the seconds per epoch are compared with the roofline: the model's matmul FLOPs per
epoch divided by the fp32 matmul throughput measured here, now.

    VAELAB_DATA=../shared/data python benchmarks/train_speed.py [--epochs 3]
        [--batch-size 128] [--skip-pythae] [--repeats 2]

The machine must be otherwise idle for the numbers to mean anything: the column "others"
is how many CPU cores other processes used meanwhile (Linux only); above ~0.1 the
timings of that trainer are inflated. Slow spells that come from outside (other virtual
machines on the host) are invisible there; running every trainer --repeats times in turn
and keeping each one's fastest run is the defence against them.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

# pythae draws tqdm progress bars, which are not part of training; tqdm reads
# TQDM_DISABLE once, when it is imported, and importing torch imports it: set it first.
os.environ.setdefault("TQDM_DISABLE", "1")

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baselines import Result, dataloader_loop, pythae_trainer  # noqa: E402

from vaelab.config import Config  # noqa: E402
from vaelab.data import prepare_data  # noqa: E402
from vaelab.model import VAE  # noqa: E402
from vaelab.objectives import build_objective  # noqa: E402
from vaelab.trainer import train_model  # noqa: E402

HIDDEN, LATENT, LR, SEED = 400, 20, 1e-3, 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--skip-pythae", action="store_true", help="do not time pythae")
    parser.add_argument("--repeats", type=int, default=2,
                        help="runs of each trainer, taken in turn; the fastest counts")
    return parser.parse_args()


# -- the roofline ------------------------------------------------------------------------
def matmul_gflops(size: int = 2048, repeats: int = 5) -> float:
    """fp32 matmul throughput of this machine, GFLOP/s: the best of a few square
    matmuls, large enough to run at the BLAS's peak (2·n³ FLOPs each)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b  # warm-up: threads started, pages touched
    best = math.inf
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best / 1e9


def matmul_flops_per_image(layers: list[tuple[int, int]]) -> int:
    """Matmul FLOPs of one training image through the linear layers (in, out), in the
    order the data flows (encoder, then decoder): per layer 2·in·out forward, 2·in·out
    for the weight gradient and 2·in·out for the input gradient, except for the first
    layer (the data needs no gradient). Bias, activation, loss and optimiser work is left
    out: the roofline is a lower bound."""
    flops = 0
    for i, (n_in, n_out) in enumerate(layers):
        flops += 2 * n_in * n_out * (2 if i == 0 else 3)
    return flops


# -- who else is using the machine ---------------------------------------------------------
class OthersLoad:
    """CPU cores used by other processes between start() and stop(): the machine's busy
    time (/proc/stat) minus this process's CPU time, per second of wall time."""

    def start(self) -> None:
        self._busy, self._own, self._wall = _machine_busy(), _own_cpu(), time.perf_counter()

    def stop(self) -> float:
        busy = _machine_busy()
        if busy is None or self._busy is None:
            return math.nan
        wall = time.perf_counter() - self._wall
        return max(0.0, ((busy - self._busy) - (_own_cpu() - self._own)) / wall)


def _machine_busy() -> float | None:
    try:
        with open("/proc/stat") as stat:
            ticks = [int(v) for v in stat.readline().split()[1:]]
    except OSError:
        return None
    idle = ticks[3] + ticks[4]  # idle + iowait
    return (sum(ticks) - idle) / os.sysconf("SC_CLK_TCK")


def _own_cpu() -> float:
    times = os.times()
    return times.user + times.system


# -- vaelab -------------------------------------------------------------------------------
def vaelab_trainer(config: Config, data) -> Result:
    """vaelab's own training loop; per-epoch seconds as it records them in history."""
    torch.manual_seed(config.train.seed)
    model = VAE(config, data.image_shape)
    steps_per_epoch = math.ceil(data.train.x.shape[0] / config.train.batch_size)
    objective = build_objective(config.objective, steps_per_epoch)
    with tempfile.TemporaryDirectory() as run_path:
        history = train_model(model, objective, data, config, Path(run_path), progress=False)
    return Result("vaelab", epoch_seconds=[row["epoch_seconds"] for row in history],
                  final_loss=history[-1]["train_loss"])


# -- report -------------------------------------------------------------------------------
def per_epoch(result: Result) -> float:
    """Seconds per epoch of one run: its median epoch, robust to one disturbed epoch."""
    return statistics.median(result.epoch_seconds) if result.epoch_seconds else math.inf


def main() -> None:
    args = parse_args()
    config = Config().replace(dataset="mnist", hidden=[HIDDEN], latent_dim=LATENT,
                              likelihood="bernoulli", val_fraction=0.0, binarize="none",
                              batch_size=args.batch_size, lr=LR, epochs=args.epochs,
                              seed=SEED, device="cpu")
    data = prepare_data(config.data, "cpu")
    x = data.train.x  # [60000, 784] float32 in [0, 1]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{x.shape[0]} MNIST training images, batch {args.batch_size}, "
          f"{args.epochs} epochs, {args.repeats} repeats")

    baseline_args = dict(epochs=args.epochs, batch_size=args.batch_size, lr=LR,
                         hidden=HIDDEN, latent_dim=LATENT, seed=SEED)
    trainers = {"vaelab": lambda: vaelab_trainer(config, data),
                "DataLoader loop": lambda: dataloader_loop(x, **baseline_args),
                "pythae": lambda: pythae_trainer(x, **baseline_args)}
    if args.skip_pythae:
        del trainers["pythae"]

    gflops_before = matmul_gflops()
    # Every trainer runs once per repeat, in turn, so that a slow spell of the machine
    # hits one run, not one trainer; each trainer's fastest run counts. All runs of a
    # trainer are seeded alike and reach the same loss.
    best: dict[str, Result] = {}
    others: dict[str, float] = {}
    load = OthersLoad()
    for repeat in range(1, args.repeats + 1):
        for name, train in list(trainers.items()):
            load.start()
            result = train()
            other = load.stop()
            if result.skipped:
                print(f"  {name}: skipped: {result.skipped}", flush=True)
                best[name] = result
                del trainers[name]
                continue
            print(f"  run {repeat} {name}: "
                  + " ".join(f"{s:.2f}" for s in result.epoch_seconds)
                  + f" s/epoch (others used {other:.2f} cores)", flush=True)
            if name not in best or per_epoch(result) < per_epoch(best[name]):
                best[name], others[name] = result, other
    gflops = max(gflops_before, matmul_gflops())

    data_dim = x.shape[1]
    layers = [(data_dim, HIDDEN), (HIDDEN, 2 * LATENT), (LATENT, HIDDEN), (HIDDEN, data_dim)]
    flops_per_epoch = matmul_flops_per_image(layers) * x.shape[0]
    roofline = flops_per_epoch / (gflops * 1e9)
    vaelab = per_epoch(best["vaelab"])
    print(f"\n{'trainer':16s} {'s/epoch':>8s} {'vaelab is':>10s} {'roofline':>9s} "
          f"{'final loss':>11s} {'others':>7s}  epochs of the fastest run (s)")
    for name, result in best.items():
        if result.skipped:
            print(f"{name:16s} skipped: {result.skipped}")
            continue
        seconds = per_epoch(result)
        print(f"{name:16s} {seconds:8.2f} {seconds / vaelab:9.2f}x {roofline / seconds:8.0%} "
              f"{result.final_loss:11.2f} {others[name]:7.2f}  "
              + " ".join(f"{s:.2f}" for s in result.epoch_seconds))
    print(f"\nroofline: {flops_per_epoch / 1e9:.1f} GFLOP of matmuls per epoch "
          f"({flops_per_epoch / x.shape[0] / 1e6:.2f} MFLOP per image) at {gflops:.0f} GFLOP/s "
          f"(best 2048² fp32 matmul, before: {gflops_before:.0f}) = {roofline:.2f} s/epoch.")
    print("s/epoch: median epoch of the trainer's fastest run; 'vaelab is': that trainer's "
          "s/epoch over vaelab's; roofline: roofline time / s/epoch; final loss: mean "
          "negative ELBO per image (nats) over the last epoch; others: CPU cores used by "
          "other processes during that run (timings are only clean near 0).")


if __name__ == "__main__":
    main()
