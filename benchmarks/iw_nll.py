"""Benchmark: importance-sampled NLL throughput (vaelab.metrics.iw_nll) against the
machine's matmul throughput and against a per-image loop in the style of pythae's
``VAE.get_nll`` (one image at a time, replicated into batches of 100, encoder run on every
replicated batch).

    python benchmarks/iw_nll.py                       # canonical 784-400-20, k=5000, 10k images
    python benchmarks/iw_nll.py --run runs/mnist      # a trained run instead of random weights
    python benchmarks/iw_nll.py --images 500 --sweep  # chunk-size sweep on a subset

The decoder dominates: per importance sample it costs 2·(Z·H + H·D) FLOP (the encoder runs
once per image, the log-densities are O(D)); for k = 5000 over the 10 000 MNIST test images
with Z=20, H=400, D=784 that is 32.2 TFLOP. "Efficiency" below = those decoder FLOP per
second divided by the throughput torch.mm reaches on the same GEMM shapes.
Timings depend on the machine and on what else runs on it; the script prints both.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from vaelab.config import Config
from vaelab.data import prepare_data
from vaelab.metrics import iw_nll
from vaelab.model import VAE


def matmul_gflops(rows: int, shapes: list[tuple[int, int]], seconds: float = 3.0) -> float:
    """GFLOP/s of torch.mm chained through ``shapes`` (the decoder's linear layers)."""
    weights = [torch.randn(n_out, n_in) for n_in, n_out in shapes]
    x = torch.randn(rows, shapes[0][0])
    flop = sum(2 * rows * n_in * n_out for n_in, n_out in shapes)
    for w in weights:  # warm-up
        torch.mm(x if w is weights[0] else torch.empty(rows, w.shape[1]), w.T)
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        h = x
        for w in weights:
            h = torch.mm(h, w.T)
        done += 1
    return done * flop / (time.perf_counter() - started) / 1e9


def decoder_flop_per_sample(model: VAE) -> int:
    return sum(2 * layer.in_features * layer.out_features for layer in model.decoder
               if isinstance(layer, torch.nn.Linear))


@torch.no_grad()
def per_image_loop(model: VAE, x: torch.Tensor, k: int, batch_size: int = 100) -> np.ndarray:
    """pythae's get_nll structure (pythae/models/vae/vae_model.py), on vaelab's networks:
    for each image, k/batch_size batches of the image replicated batch_size times; the
    encoder runs on every replicated batch; BCE on sigmoid outputs."""
    log_p = []
    for i in range(len(x)):
        xi = x[i].unsqueeze(0)
        log_p_x = []
        for _ in range(max(1, k // batch_size)):
            x_rep = torch.cat(batch_size * [xi])
            q = model.posterior(x_rep)
            std = torch.exp(0.5 * q.logvar)
            z = q.mean + torch.randn_like(std) * std
            log_q = -0.5 * (q.logvar + (z - q.mean) ** 2 / torch.exp(q.logvar)).sum(-1)
            log_p_z = -0.5 * (z**2).sum(-1)
            recon = torch.sigmoid(model.decoder(z))
            log_px_z = -F.binary_cross_entropy(recon, x_rep, reduction="none").sum(-1)
            log_p_x.append(log_px_z + log_p_z - log_q)
        log_p_x = torch.cat(log_p_x)
        log_p.append((torch.logsumexp(log_p_x, 0) - np.log(len(log_p_x))).item())
    return np.array(log_p)


def pythae_get_nll_seconds(model: VAE, x: torch.Tensor, k: int) -> float | None:
    """Time pythae's own VAE.get_nll on the same weights, if pythae is installed."""
    try:
        from pythae.models import VAE as PythaeVAE
        from pythae.models import VAEConfig
        from pythae.models.base.base_utils import ModelOutput
        from pythae.models.nn import BaseDecoder, BaseEncoder
    except Exception:  # noqa: BLE001 - optional
        return None

    class Encoder(BaseEncoder):
        def __init__(self):
            super().__init__()
            self.net = model.encoder

        def forward(self, inputs):
            mean, logvar = self.net(inputs.reshape(inputs.shape[0], -1)).chunk(2, -1)
            return ModelOutput(embedding=mean, log_covariance=logvar)

    class Decoder(BaseDecoder):
        def __init__(self):
            super().__init__()
            self.net = model.decoder

        def forward(self, z):
            out = torch.sigmoid(self.net(z)).reshape(z.shape[0], 1, *model.image_shape)
            return ModelOutput(reconstruction=out)

    config = VAEConfig(input_dim=(1, *model.image_shape), latent_dim=model.latent_dim,
                       reconstruction_loss="bce")
    pythae_model = PythaeVAE(config, encoder=Encoder(), decoder=Decoder()).eval()
    images = x.reshape(len(x), 1, *model.image_shape)
    started = time.perf_counter()
    with torch.no_grad():
        pythae_model.get_nll(images, n_samples=k, batch_size=100)
    return time.perf_counter() - started


def load_model(args) -> tuple[VAE, torch.Tensor, str]:
    if args.run:
        from vaelab.metrics.base import scored_split
        from vaelab.run import load_run

        run = load_run(args.run)
        split = scored_split(run.data, "test")
        return run.model, split.x, f"trained run {args.run}"
    config = Config.from_dict({"data": {"dataset": "mnist", "binarize": "dynamic"},
                               "network": {"hidden": [400], "latent_dim": 20}})
    data = prepare_data(config.data)
    torch.manual_seed(0)
    return (VAE(config, data.image_shape).eval(), data.eval_split("test").x,
            "784-400-20 relu, Bernoulli, random init (throughput does not depend on weights)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", help="a vaelab run directory (default: random weights)")
    parser.add_argument("--k", type=int, default=5000)
    parser.add_argument("--images", type=int, default=10000)
    parser.add_argument("--baseline-images", type=int, default=5)
    parser.add_argument("--chunk-rows", type=int, default=iw_nll.CHUNK_ROWS)
    parser.add_argument("--sweep", action="store_true", help="time several chunk sizes")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()

    model, x, what = load_model(args)
    x = x[:args.images]
    n, k = len(x), args.k
    flop = decoder_flop_per_sample(model)
    hidden = [layer for layer in model.decoder if isinstance(layer, torch.nn.Linear)]
    shapes = [(layer.in_features, layer.out_features) for layer in hidden]
    peak = matmul_gflops(args.chunk_rows, shapes)
    square = matmul_gflops(2048, [(2048, 2048)])
    print(f"model: {what}; torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs")
    print(f"torch.mm on the decoder's shapes (rows={args.chunk_rows}): {peak:.1f} GFLOP/s; "
          f"2048² square GEMM: {square:.1f} GFLOP/s")
    results: dict = {"model": what, "threads": torch.get_num_threads(), "k": k, "images": n,
                     "decoder_flop_per_sample": flop, "matmul_gflops_decoder_shapes": peak,
                     "matmul_gflops_square": square}

    if args.sweep:
        sweep = {}
        for rows in (1024, 2048, 4096, 8192, 16384):
            started = time.perf_counter()
            iw_nll.importance_sampled_log_px(model, x, k, seed=0, chunk_rows=rows)
            seconds = time.perf_counter() - started
            sweep[rows] = n * k * flop / seconds / 1e9
            print(f"chunk_rows {rows:6d}: {seconds:7.2f} s, {sweep[rows]:.1f} decoder GFLOP/s "
                  f"({sweep[rows] / peak:.0%} of torch.mm)")
        results["sweep_gflops"] = sweep

    started = time.perf_counter()
    log_px, _ = iw_nll.importance_sampled_log_px(model, x, k, seed=0,
                                                 chunk_rows=args.chunk_rows, progress=True)
    seconds = time.perf_counter() - started
    achieved = n * k * flop / seconds / 1e9
    print(f"vaelab IS-NLL: k={k}, {n} images: {seconds:.1f} s, NLL {-float(log_px.mean()):.3f} "
          f"nats; decoder work {n * k * flop / 1e12:.2f} TFLOP at {achieved:.1f} GFLOP/s = "
          f"{achieved / peak:.0%} of torch.mm on the same shapes")
    results.update(seconds=seconds, nll=-float(log_px.mean()), achieved_gflops=achieved,
                   efficiency=achieved / peak)

    b = min(args.baseline_images, n)
    started = time.perf_counter()
    base = per_image_loop(model, x[:b], k)
    base_seconds = time.perf_counter() - started
    ours, _ = iw_nll.importance_sampled_log_px(model, x[:b], k, seed=0,
                                               chunk_rows=args.chunk_rows)
    per_image_base = base_seconds / b
    print(f"per-image loop (pythae get_nll structure): {b} images in {base_seconds:.1f} s = "
          f"{per_image_base:.2f} s/image → {per_image_base * n / 60:.1f} min for {n} images "
          f"(extrapolated); NLL of those images {-base.mean():.3f} vs vaelab "
          f"{-float(ours.mean()):.3f}")
    print(f"speed-up of vaelab over the per-image loop: {per_image_base * n / seconds:.1f}×")
    results.update(baseline_images=b, baseline_seconds_per_image=per_image_base,
                   speedup=per_image_base * n / seconds)
    pythae_seconds = pythae_get_nll_seconds(model, x[:b], k)
    if pythae_seconds is not None:
        from importlib.metadata import version

        print(f"pythae {version('pythae')} VAE.get_nll itself: {b} images in "
              f"{pythae_seconds:.1f} s → speed-up {pythae_seconds / b * n / seconds:.1f}×")
        results["pythae_seconds_per_image"] = pythae_seconds / b
        results["speedup_vs_pythae"] = pythae_seconds / b * n / seconds
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)
    print(json.dumps({key: (round(v, 4) if isinstance(v, float) else v)
                      for key, v in results.items() if key != "sweep_gflops"}))


if __name__ == "__main__":
    main()
