"""A small domain classifier per dataset: the feature network of vaelab's FID and
Inception-Score-style metrics (and of a perceptual likelihood).

Inception v3 was trained on 299×299 colour photographs; on 28×28 digits its features say
little and its weights cannot be fetched offline. vaelab therefore trains, once per
dataset, a small CNN on the dataset's own training file and caches it (safetensors + JSON,
never pickle) under ``$VAELAB_CACHE/classifiers/`` or ``~/.cache/vaelab/classifiers/``,
with its test accuracy. Numbers computed with it are comparable within vaelab only.

    clf, info = load_or_train_classifier("mnist", run.config.data, "cpu", progress=True)
    logits = clf(images)                       # images [B, C, H, W] or [B, C·H·W] in [0, 1]
    features = clf.embed(images)               # [B, 128]: FID features
    relu2, relu4 = clf.relu_features(images, (2, 4))   # perceptual features
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vaelab import rundir
from vaelab.config import DataConfig
from vaelab.errors import VaelabError
from vaelab.progress import log_console
from vaelab.shapes import chw

ARCHITECTURE = "cnn-v1"  # change when the network or its training changes: new cache key
CACHE_ENV = "VAELAB_CACHE"
MIN_STEPS = 400  # small datasets (digits) get more epochs
EPOCHS = 3
BATCH_SIZE = 128
LR = 2e-3
SEED = 0


def cache_root() -> Path:
    """``$VAELAB_CACHE`` or ``~/.cache/vaelab``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "vaelab"


class DomainClassifier(nn.Module):
    """conv3×3(16)-ReLU-conv3×3(32)-ReLU-pool-conv3×3(32)-ReLU-conv3×3(64)-ReLU-pool-
    fc(128)-ReLU-fc(classes). Works for any C×H×W (grey or colour: the first convolution
    reads the C channels); inputs are pixels in [0, 1]."""

    num_features = 128  # of ``embed``; torchmetrics' FID reads this attribute

    def __init__(self, image_shape: tuple[int, ...], n_classes: int):
        super().__init__()
        self.image_shape = chw(image_shape)
        self.n_classes = n_classes
        channels, height, width = self.image_shape
        # Four convolutions; the ReLU after each is a feature layer (relu_features).
        self.convs = nn.ModuleList([nn.Conv2d(c_in, c_out, 3, padding=1) for c_in, c_out
                                    in ((channels, 16), (16, 32), (32, 32), (32, 64))])
        flat = 64 * (height // 4) * (width // 4)
        self.hidden = nn.Linear(flat, self.num_features)
        self.out = nn.Linear(self.num_features, n_classes)

    def place(self, device: torch.device | str) -> DomainClassifier:
        """Move to ``device`` in the weight layout its convolutions run fastest in there:
        NHWC (channels_last) on the CPU, where oneDNN ran this network's perceptual-loss
        step 1.5x and its FID features 1.6x faster than in NCHW (benchmarks/conv_layout.py);
        the default layout elsewhere (not measured on a GPU)."""
        device = torch.device(device)
        layout = torch.channels_last if device.type == "cpu" else torch.contiguous_format
        return self.to(device=device, memory_format=layout)

    def _as_images(self, x: torch.Tensor) -> torch.Tensor:
        images = x.reshape(x.shape[0], *self.image_shape)  # [B, C, H, W]
        # Inputs follow the weights' layout (see place): NCHW images against NHWC weights
        # take the slow path. (The last convolution is asked: the first one's weights
        # [16, 1, 3, 3] of grey images are contiguous in both layouts.)
        if self.convs[-1].weight.is_contiguous(memory_format=torch.channels_last):
            images = images.contiguous(memory_format=torch.channels_last)
        return images

    def relu_features(self, x: torch.Tensor, which: tuple[int, ...] = (2, 4)
                      ) -> list[torch.Tensor]:
        """Activations after the given ReLUs (1-based; 1–4 are the convolutions, 5 the
        hidden layer), as [B, C, h, w] (or [B, 128] for 5), in the order asked."""
        if not which or min(which) < 1 or max(which) > 5:
            raise ValueError(f"relu_features: layers must be in 1..5, got {which}")
        found: dict[int, torch.Tensor] = {}
        h = self._as_images(x)
        for index, conv in enumerate(self.convs, start=1):
            h = F.relu(conv(h))
            found[index] = h
            if index in (2, 4):
                h = F.max_pool2d(h, 2)
            if index >= max(which):
                break
        if 5 in which:
            found[5] = F.relu(self.hidden(h.flatten(1)))
        return [found[i] for i in which]

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The 128 features before the output layer (after the 5th ReLU): FID features."""
        return self.relu_features(x, (5,))[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits [B, classes]."""
        return self.out(self.embed(x))


class FeatureExtractor(nn.Module):
    """``embed`` as a module: the custom feature network for torchmetrics' FID."""

    def __init__(self, classifier: DomainClassifier):
        super().__init__()
        self.classifier = classifier
        self.num_features = classifier.num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier.embed(x)


@torch.no_grad()
def accuracy(classifier: DomainClassifier, x: torch.Tensor, y: torch.Tensor,
             batch_size: int = 2000) -> float:
    correct = sum(int((classifier(x[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).sum())
                  for i in range(0, x.shape[0], batch_size))
    return correct / max(1, x.shape[0])


def train_classifier(x: torch.Tensor, y: torch.Tensor, image_shape: tuple[int, ...],
                     n_classes: int, *, epochs: int, progress: bool = False,
                     seed: int = SEED) -> DomainClassifier:
    """Adam with a cosine learning-rate decay to 0 over ``epochs`` (pure function of the
    step), seeded batch order; x [N, D] in [0, 1], y [N]."""
    torch.manual_seed(seed)
    model = DomainClassifier(image_shape, n_classes).place(x.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    generator = torch.Generator().manual_seed(seed)
    steps_per_epoch = math.ceil(x.shape[0] / BATCH_SIZE)
    total = steps_per_epoch * epochs
    from vaelab.progress import progress_bar

    model.train()
    step = 0
    with progress_bar("train classifier", total, enabled=progress) as advance:
        for _ in range(epochs):
            order = torch.randperm(x.shape[0], generator=generator).to(x.device)
            for i in range(steps_per_epoch):
                index = order[i * BATCH_SIZE:(i + 1) * BATCH_SIZE]
                for group in optimizer.param_groups:
                    group["lr"] = LR * 0.5 * (1 + math.cos(math.pi * step / total))
                loss = F.cross_entropy(model(x[index]), y[index])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                step += 1
                advance(1)
    return model.eval()


def _data_key(x: torch.Tensor, y: torch.Tensor) -> str:
    """Content hash of the training images and labels: the cache follows the data."""
    digest = hashlib.sha256()
    digest.update(ARCHITECTURE.encode())
    digest.update(json.dumps([list(x.shape), EPOCHS, MIN_STEPS, BATCH_SIZE, LR, SEED]).encode())
    digest.update((x * 255).round().to(torch.uint8).cpu().numpy().tobytes())
    digest.update(y.cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


def load_or_train_classifier(dataset_name: str, data_cfg: DataConfig | None = None,
                             device: torch.device | str = "cpu", progress: bool = False
                             ) -> tuple[DomainClassifier, dict[str, Any]]:
    """The cached classifier of ``dataset_name`` (trained and cached on first use), in eval
    mode on ``device``, with ``info``: test accuracy, epochs, training seconds, cache path.

    ``data_cfg`` supplies the data location (data_dir, path, test_path); its split, subset
    and binarisation are ignored: the classifier always sees the full training file in grey
    values, so one classifier serves every run of a dataset."""
    from vaelab.data import prepare_data

    base = data_cfg or DataConfig()
    cfg = dataclasses.replace(base, dataset=dataset_name, binarize="none", val_fraction=0.0,
                              subset=None)
    device = torch.device(device)
    data = prepare_data(cfg, device)
    if data.train.y is None or data.test.y is None:
        raise VaelabError(f"dataset {dataset_name} has no labels, so vaelab cannot train the "
                          "domain classifier that FID and the Inception-style score need")
    if data.classes:
        n_classes = len(data.classes)
    else:
        # A file's labels are class names, not necessarily 0..K-1 (a CSV may say 3, 7,
        # 1000): one output per class present, labels coded 0..K-1 in sorted order.
        names, codes = torch.unique(torch.cat([data.train.y, data.test.y]),
                                    return_inverse=True)
        n_classes = len(names)
        data.train.y, data.test.y = codes[:len(data.train)], codes[len(data.train):]
    if n_classes < 2:
        raise VaelabError(f"dataset {dataset_name} has {n_classes} class, so vaelab cannot "
                          "train the domain classifier that FID and the Inception-style "
                          "score need; use data with at least 2 classes")
    key = _data_key(data.train.x, data.train.y)
    path = cache_root() / "classifiers" / f"{dataset_name}-{ARCHITECTURE}-{key}.safetensors"
    # Sweep workers may ask for the same classifier at once: the first trains it, the
    # others wait on the lock and then load the cached file.
    rundir.make_dir(path.parent)  # an unwritable cache: one line naming it
    with rundir.writing(path.with_name(path.name + ".lock")):
        lock = open(path.with_name(path.name + ".lock"), "a+")  # noqa: SIM115 - closed below
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return _load_or_train(path, data, n_classes, dataset_name, key, device, progress)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _load_or_train(path: Path, data: Any, n_classes: int, dataset_name: str, key: str,
                   device: torch.device, progress: bool
                   ) -> tuple[DomainClassifier, dict[str, Any]]:
    if path.is_file():
        tensors, meta = rundir.load_checkpoint(path)
        model = DomainClassifier(data.image_shape, n_classes)
        try:
            model.load_state_dict(tensors, strict=True)
        except RuntimeError:
            raise VaelabError(f"cached classifier {path} does not match; delete it and it "
                              "will be retrained") from None
        info = {**meta["info"], "cache": str(path), "cached": True}
        return model.place(device).eval(), info

    steps_per_epoch = math.ceil(len(data.train) / BATCH_SIZE)
    epochs = max(EPOCHS, math.ceil(MIN_STEPS / steps_per_epoch))
    if progress:
        log_console().print(
            f"training the {dataset_name} domain classifier ({epochs} epochs, once; cached "
            f"in {path.parent})")
    started = time.perf_counter()
    model = train_classifier(data.train.x, data.train.y, data.image_shape, n_classes,
                             epochs=epochs, progress=progress)
    seconds = time.perf_counter() - started
    info = {
        "dataset": dataset_name,
        "architecture": ARCHITECTURE,
        "key": key,
        "classes": n_classes,
        "n_train": len(data.train),
        "n_test": len(data.test),
        "epochs": epochs,
        "train_seconds": seconds,
        "threads": torch.get_num_threads(),
        "device": str(device),
        "test_accuracy": accuracy(model, data.test.x, data.test.y),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    rundir.save_checkpoint(path, model.state_dict(), {"info": info})
    return model, {**info, "cache": str(path), "cached": False}
