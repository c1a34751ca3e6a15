"""What the weight layout of vaelab's domain classifier costs on the CPU: NCHW (PyTorch's
default) against NHWC (channels_last, what ``DomainClassifier.place`` picks on the CPU).

The classifier is the network behind the perceptual likelihood (features after its 2nd
and 4th ReLU, forward on x without gradient, forward on x̂ and back to x̂ every step) and
behind FID, PRDC and the Inception-style score (``embed``); it is also trained once per
data set. For each of the three uses this times the same work in both layouts, in this
one process, alternating the layouts over several rounds and keeping each one's best:

    python benchmarks/conv_layout.py [--threads 1] [--rounds 5]

One torch thread by default (as each local sweep worker uses). Also prints the largest
relative difference of the features between the layouts (float rounding only).
"""

from __future__ import annotations

import argparse
import copy
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from vaelab.classifier import BATCH_SIZE, DomainClassifier

IMAGE_SHAPE = (1, 28, 28)
PERCEPTUAL_BATCH = 64  # likelihood-and-prior's batch size
FID_IMAGES, FID_BATCH = 10_000, 2000  # FID's sample count and evaluation batch
TRAIN_STEPS = 20


def perceptual_step(net: DomainClassifier, x: torch.Tensor, logits: torch.Tensor) -> None:
    """The perceptual likelihood's work per training step (likelihoods/perceptual.py)."""
    logits = logits.clone().requires_grad_(True)
    with torch.no_grad():
        target = net.relu_features(x, (2, 4))
    fake = net.relu_features(torch.sigmoid(logits), (2, 4))
    loss = sum(((a - b) ** 2).sum() for a, b in zip(target, fake, strict=True))
    loss.backward()


@torch.no_grad()
def fid_features(net: DomainClassifier, images: torch.Tensor) -> None:
    for start in range(0, len(images), FID_BATCH):
        net.embed(images[start:start + FID_BATCH])


def training_steps(net: DomainClassifier, x: torch.Tensor, y: torch.Tensor) -> None:
    net = copy.deepcopy(net).train()
    for parameter in net.parameters():
        parameter.requires_grad_(True)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    for step in range(TRAIN_STEPS):
        batch = slice(step * BATCH_SIZE, (step + 1) * BATCH_SIZE)
        loss = F.cross_entropy(net(x[batch]), y[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def timed(work: Callable[[], None], durations: list[float]) -> None:
    started = time.perf_counter()
    work()
    durations.append(time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    nchw = DomainClassifier(IMAGE_SHAPE, 10).to(memory_format=torch.contiguous_format)
    nhwc = copy.deepcopy(nchw).place("cpu")
    for net in (nchw, nhwc):
        net.eval()
        for parameter in net.parameters():
            parameter.requires_grad_(False)
    pixels = IMAGE_SHAPE[0] * IMAGE_SHAPE[1] * IMAGE_SHAPE[2]
    x = torch.rand(PERCEPTUAL_BATCH, pixels)
    logits = torch.randn(PERCEPTUAL_BATCH, pixels)
    images = torch.rand(FID_IMAGES, pixels)
    train_x = torch.rand(TRAIN_STEPS * BATCH_SIZE, pixels)
    train_y = torch.randint(0, 10, (TRAIN_STEPS * BATCH_SIZE,))

    uses = {
        f"perceptual step (batch {PERCEPTUAL_BATCH})":
            lambda net: perceptual_step(net, x, logits),
        f"FID features ({FID_IMAGES} images)": lambda net: fid_features(net, images),
        f"classifier training ({TRAIN_STEPS} steps of {BATCH_SIZE})":
            lambda net: training_steps(net, train_x, train_y),
    }
    print(f"torch {torch.__version__}, {args.threads} thread(s), best of {args.rounds} "
          "rounds, layouts alternating")
    print(f"{'work':<42} {'NCHW s':>9} {'NHWC s':>9} {'speed-up':>9}")
    for label, use in uses.items():
        times: dict[str, list[float]] = {"nchw": [], "nhwc": []}
        use(nchw), use(nhwc)  # warm-up: oneDNN picks and caches its kernels
        for _ in range(args.rounds):
            timed(lambda: use(nchw), times["nchw"])  # noqa: B023 - called at once
            timed(lambda: use(nhwc), times["nhwc"])  # noqa: B023
        slow, fast = min(times["nchw"]), min(times["nhwc"])
        print(f"{label:<42} {slow:>9.4f} {fast:>9.4f} {slow / fast:>8.2f}x")

    with torch.no_grad():
        sample = images[:256]
        pairs = zip(nchw.relu_features(sample, (2, 4, 5)),
                    nhwc.relu_features(sample, (2, 4, 5)), strict=True)
        worst = max(float((a - b).abs().max() / a.abs().max()) for a, b in pairs)
    print(f"largest relative difference of the features between layouts: {worst:.2e}")


if __name__ == "__main__":
    main()
