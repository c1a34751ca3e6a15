"""Throughput of vaelab's Inception-v3 FID network (vaelab/inception.py): images per
second through ``embed`` (8-bit rounding, TF1 resize to 299, pool3) on one device, and
what that means for an FID at 10 000 samples (three image sets: the reference, the
samples and the reconstructions; the reference is cached after its first use).

Speed does not depend on the weights' values, so the network runs with its initial
(random) weights; no weights file is needed.

    python benchmarks/inception_speed.py --device cpu --images 32
    python benchmarks/inception_speed.py --device cuda --images 2048
"""

from __future__ import annotations

import argparse
import time

import torch

from vaelab.inception import FIDInception


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--images", type=int, default=64, help="images timed (28×28 grey)")
    parser.add_argument("--repeats", type=int, default=2, help="timed passes; the best counts")
    args = parser.parse_args()
    device = torch.device(args.device)
    network = FIDInception((1, 28, 28)).to(device).eval()
    images = torch.rand(args.images, 784, device=device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"{name}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    with torch.no_grad():
        network.embed(images[:2])  # warm-up: kernels, allocator
        best = float("inf")
        for _ in range(args.repeats):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            network.embed(images)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            best = min(best, time.perf_counter() - start)
    rate = args.images / best
    print(f"inception embed: {args.images} images in {best:.2f} s = {rate:.1f} images/s")
    print(f"FID at 10 000 samples on MNIST (10 000 test images, samples, reconstructions): "
          f"≈ {30000 / rate:.0f} s, ≈ {20000 / rate:.0f} s once the test images' statistics "
          "are cached")


if __name__ == "__main__":
    main()
