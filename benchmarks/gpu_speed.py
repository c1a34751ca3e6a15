"""How fast does vaelab train and evaluate on one GPU, against the usual loops and the
GPU's floor? (issue 16). All in one process, on one GPU:

  1. vaelab (``vaelab.train``, its own epoch_seconds; the step is CUDA-graphed by default)
     and vaelab with ``--cuda-graphs off`` (eager steps),
  2. an examples-style loop (pytorch/examples vae/main.py: a per-image Dataset,
     DataLoader(shuffle=True), ``.to(device)`` per batch, plain Adam, ``loss.item()`` per
     step),
  3. a resident loop: the data on the GPU, ``index_select`` batches of a GPU
     permutation, fused Adam, no host read per step,
  4. the floor: the resident loop's step captured in one CUDA graph and replayed (full
     batches only: 468 of MNIST's 469 at batch 128),
  5. stacked training: 32 same-shape models as one computation (``vaelab.batched``),
     as seconds per epoch of all 32 against one model alone,
  6. IS-NLL, k = 5000 over the 10 000 test images, float32 matmuls and TF32, at
     several decoder chunk sizes.

The model is the canonical MNIST VAE: 784-400-20-400-784 ReLU MLP, Bernoulli likelihood on
the grey pixels (no binarisation), N(0, I) prior, Adam 1e-3, batch 128, all 60 000
training images (--val-fraction 0).

    VAELAB_DATA=../shared/data python benchmarks/gpu_speed.py [--epochs 4] [--stack 32]
        [--k 5000] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baselines import MLPVAE, ImageDataset  # noqa: E402

import vaelab  # noqa: E402
from vaelab.batched import train_batched  # noqa: E402
from vaelab.config import Config  # noqa: E402
from vaelab.data import prepare_data  # noqa: E402
from vaelab.metrics import iw_nll  # noqa: E402

HIDDEN, LATENT, BATCH, LR = 400, 20, 128, 1e-3


def canonical(**overrides) -> Config:
    return Config().replace(dataset="mnist", hidden=[HIDDEN], latent_dim=LATENT,
                            batch_size=BATCH, lr=LR, val_fraction=0.0, binarize="none",
                            likelihood="bernoulli", device="cuda", **overrides)


def steady(seconds: list[float]) -> float:
    """The median epoch after the first (which holds warm-up and graph capture)."""
    return statistics.median(seconds[1:] if len(seconds) > 1 else seconds)


def vaelab_epochs(out: Path, epochs: int, **overrides) -> tuple[list[float], object]:
    run = vaelab.train(canonical(epochs=epochs, **overrides), out=out, progress=False,
                       figures=False)
    return [row["epoch_seconds"] for row in run.history], run


def examples_loop(x_cpu: torch.Tensor, epochs: int, device) -> list[float]:
    torch.manual_seed(0)
    model = MLPVAE(x_cpu.shape[1], HIDDEN, LATENT).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    loader = DataLoader(ImageDataset(x_cpu), batch_size=BATCH, shuffle=True)
    seconds = []
    for _ in range(epochs):
        torch.cuda.synchronize()
        started = time.perf_counter()
        total = 0.0
        for batch in loader:
            batch = batch.to(device)
            loss = model.loss(batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item()
        torch.cuda.synchronize()
        seconds.append(time.perf_counter() - started)
    return seconds


def resident_step(model, optimizer, x, index):
    batch = x.index_select(0, index)
    loss = model.loss(batch)
    for p in model.parameters():
        p.grad = None
    loss.backward()
    optimizer.step()
    return loss.detach()


def resident_loop(x: torch.Tensor, epochs: int) -> list[float]:
    torch.manual_seed(0)
    model = MLPVAE(x.shape[1], HIDDEN, LATENT).to(x.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR, fused=True)
    n = x.shape[0]
    seconds = []
    for _ in range(epochs):
        torch.cuda.synchronize()
        started = time.perf_counter()
        order = torch.randperm(n, device=x.device)
        total = torch.zeros((), device=x.device)
        for start in range(0, n, BATCH):
            total += resident_step(model, optimizer, x, order[start:start + BATCH])
        float(total)  # one read per epoch
        seconds.append(time.perf_counter() - started)
    return seconds


def graphed_floor(x: torch.Tensor, epochs: int) -> list[float]:
    torch.manual_seed(0)
    model = MLPVAE(x.shape[1], HIDDEN, LATENT).to(x.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR, fused=True, capturable=True)
    n = x.shape[0]
    full = n // BATCH
    static_index = torch.arange(BATCH, device=x.device)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            resident_step(model, optimizer, x, static_index)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    for p in model.parameters():
        p.grad = None
    with torch.cuda.graph(graph):
        static_loss = resident_step(model, optimizer, x, static_index)
    seconds = []
    for _ in range(epochs):
        torch.cuda.synchronize()
        started = time.perf_counter()
        order = torch.randperm(n, device=x.device)
        total = torch.zeros((), device=x.device)
        for b in range(full):
            static_index.copy_(order[b * BATCH:(b + 1) * BATCH])
            graph.replay()
            total += static_loss
        float(total)
        seconds.append(time.perf_counter() - started)
    return seconds


def stacked(out: Path, count: int, epochs: int) -> list[float]:
    """Seconds per epoch of all ``count`` models (history's epoch_seconds is each run's
    share, the stack's time / count)."""
    configs = [canonical(epochs=epochs, seed=seed) for seed in range(count)]
    paths = [out / f"s{seed}" for seed in range(count)]
    train_batched(configs, paths, progress=False, figures=False)
    history = vaelab.load_run(paths[0]).history
    return [row["epoch_seconds"] * count for row in history]


def is_nll(run, k: int, chunk_rows: int, tf32: bool) -> dict:
    torch.backends.cuda.matmul.allow_tf32 = tf32
    try:
        torch.cuda.synchronize()
        result = iw_nll.gather(run.model, run.data, k=k, chunk_rows=chunk_rows)
        torch.cuda.synchronize()
    finally:
        torch.backends.cuda.matmul.allow_tf32 = False
    return {"k": k, "chunk_rows": chunk_rows, "tf32": tf32, "seconds": result["seconds"],
            "nll": result["nll"], "nll_stderr": result["nll_stderr"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--stack", type=int, default=32)
    parser.add_argument("--k", type=int, default=5000)
    parser.add_argument("--chunks", default="4096,65536,262144",
                        help="IS-NLL decoder rows per chunk to time")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("gpu_speed.py needs a CUDA GPU")
    device = torch.device("cuda")
    gpu = torch.cuda.get_device_name(device)
    print(f"GPU: {gpu}; torch {torch.__version__}; vaelab {vaelab.__version__}", flush=True)
    results: dict = {"gpu": gpu, "torch": torch.__version__}
    x = prepare_data(canonical().data, device).train.x
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        timings = {}
        timings["vaelab (graphed)"], run = vaelab_epochs(tmp / "graphed", args.epochs)
        print(f"  vaelab graphed: {timings['vaelab (graphed)']}", flush=True)
        timings["vaelab (eager)"], _ = vaelab_epochs(tmp / "eager", args.epochs,
                                                     cuda_graphs="off")
        timings["examples-style loop"] = examples_loop(x.cpu(), max(2, args.epochs - 1),
                                                       device)
        timings["resident loop"] = resident_loop(x, args.epochs)
        timings["graphed floor"] = graphed_floor(x, args.epochs)
        print(f"\nseconds per epoch (median after the first; {x.shape[0]} images, batch "
              f"{BATCH}), on {gpu}:")
        base = steady(timings["examples-style loop"])
        for name, seconds in timings.items():
            print(f"  {name:22s} {steady(seconds):7.3f} s  ({base / steady(seconds):5.2f}× the "
                  "examples-style loop)", flush=True)
        results["seconds_per_epoch"] = {name: steady(s) for name, s in timings.items()}
        results["epochs"] = timings
        one = steady(timings["vaelab (graphed)"])
        if args.stack > 1:
            many = stacked(tmp / "stack", args.stack, max(2, args.epochs - 1))
            ratio = steady(many) / one
            print(f"\nstacked: {args.stack} models {steady(many):.3f} s per epoch = "
                  f"{ratio:.2f}× one model ({one:.3f} s)", flush=True)
            results["stacked"] = {"models": args.stack, "seconds_per_epoch": steady(many),
                                  "times_one_model": ratio}
        results["is_nll"] = []
        print(f"\nIS-NLL, k = {args.k}, {len(run.data.test)} test images:")
        for chunk in [int(c) for c in args.chunks.split(",")]:
            for tf32 in (False, True):
                try:
                    row = is_nll(run, args.k, chunk, tf32)
                except torch.OutOfMemoryError:
                    print(f"  chunk {chunk}: out of memory")
                    torch.cuda.empty_cache()
                    continue
                results["is_nll"].append(row)
                print(f"  chunk {chunk:7d} {'tf32' if tf32 else 'fp32'}: {row['seconds']:6.2f} s, "
                      f"NLL {row['nll']:.3f} ± {row['nll_stderr']:.3f}", flush=True)
        ref = results["is_nll"][0] if results["is_nll"] else None
        if ref:
            worst = max(abs(r["nll"] - ref["nll"]) for r in results["is_nll"])
            print(f"  largest NLL difference between settings: {worst:.4f} nats "
                  f"(standard error over images {ref['nll_stderr']:.3f})")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
