"""From a DataConfig to tensors on the device: train/validation/test splits, flattened to
[N, D] float32 in [0, 1] (D = C·H·W, channel-major: vaelab/shapes.py), converted from
uint8 exactly once (DESIGN rule 6).

Splits: validation is a seeded random ``val_fraction`` of the *training file*
(``torch.randperm`` on a CPU generator seeded with ``split_seed``, so every device and
every ``--seed`` of a sweep sees the same split); the test split is the dataset's test
set. With ``val_fraction == 0`` there is no validation split: ``PreparedData.val`` is
None (not an empty tensor, whose mean would be a silent NaN), and callers skip validation.

Binarisation (``--binarize``, BINARIZE_MODES; the numbers each mode is comparable with):
  none       grey values x/255 as stored;
  dynamic    splits keep grey values; the trainer draws ``binarize_batch(x)`` ~ Bernoulli(x)
             afresh for each batch (Salakhutdinov & Murray 2008), and evaluation scores one
             fixed draw of each split (``eval_split``): the usual IWAE/VAE MNIST NLL tables;
  fixed      that one fixed draw, made here, for every split and kept for all epochs:
             Larochelle & Murray (2011)'s "statically binarised MNIST";
  threshold  x/255 > 0.5 once, here, for all splits: comparable with neither;
  static     the old name of ``threshold`` (config files and stored runs still say it).

Every mode but ``none`` reads a pixel as the probability of a binary pixel of a grey
image; colour images (C > 1) have no such reading, so they are refused (``none`` only).

The fixed draw has a random stream of its own (``fixed_binarization``), so every metric,
every ``--seed`` and the validation during training score the very same binary images,
and no Monte Carlo seed can reproduce or overlap its numbers.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from vaelab.binarize import BINARIZE_MODES, canonical_binarize
from vaelab.data.datasets import DATASETS, ImageSet
from vaelab.errors import VaelabError

# ``cfg`` below is a config's [data] section (vaelab/config.py sits above the data layer:
# data modules never import it).
DataConfig = Any


# The fixed draw's random stream: NumPy's PCG64 seeded by SeedSequence(BINARIZE_ENTROPY,
# spawn_key=(split,)), one stream per split. Monte Carlo noise (posterior samples, metric
# and training seeds) comes from torch's generators, another generator family, so no seed
# reproduces these numbers (torch's CPU generator keeps only a seed's low 32 bits: seed
# 2**32 is seed 0 again, so "an unusual torch seed" would not have been enough).
BINARIZE_ENTROPY = int.from_bytes(b"vaelab fixed binarization")
SPLIT_STREAMS = {"train": 0, "val": 1, "test": 2}
_UNIFORM_CHUNK = 1 << 22  # uniforms generated per step: bounds the uint64 temporaries


def binarization_note(mode: str) -> str:
    """How a split of this mode is scored, for every metric's "binarization" field."""
    mode = canonical_binarize(mode)
    if mode == "dynamic":
        return "dynamic (scored on one fixed Bernoulli draw, the binarisation stream)"
    if mode == "fixed":
        return "fixed (one Bernoulli draw, the binarisation stream; Larochelle & Murray 2011)"
    if mode == "threshold":
        return "threshold (x > 0.5)"
    return mode


@dataclass
class TensorSplit:
    """One split, ready for the model."""

    name: str  # "train", "val" or "test"
    x: torch.Tensor  # float32 [N, D] in [0, 1], D = C·H·W, on the device
    y: torch.Tensor | None  # int64 [N] on the device, or None for unlabelled data
    # Ground-truth factors where the data set has them (ImageSet.factors): class indices
    # int64 [N, K] and values float64 [N, K], on the CPU (only metrics read them).
    factors: torch.Tensor | None = None
    factor_values: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.x.shape[0]


@dataclass
class PreparedData:
    """The three splits plus what describes them."""

    dataset: str
    train: TensorSplit
    val: TensorSplit | None  # None when val_fraction == 0
    test: TensorSplit
    image_shape: tuple[int, int, int]  # (C, H, W); x rows are images flattened in C order
    classes: list[str] | None
    source: str
    binarize: str  # a key of BINARIZE_MODES, never an alias
    factor_names: list[str] | None = None  # names of the factors' columns, when known

    @property
    def dim(self) -> int:
        return math.prod(self.image_shape)

    def eval_split(self, name: str) -> TensorSplit | None:
        """The split as evaluation (every metric, validation during training) sees it:
        with dynamic binarisation the fixed draw of ``fixed_binarization``, which no
        Monte Carlo seed changes; otherwise the split itself. None for a missing val split."""
        split = {"train": self.train, "val": self.val, "test": self.test}[name]
        if split is None or self.binarize != "dynamic":
            return split
        return fixed_binarization(split)

    def describe(self) -> dict[str, Any]:
        """A short, JSON-ready summary for the run's config and metrics."""
        return {
            "dataset": self.dataset,
            "source": self.source,
            "image_shape": list(self.image_shape),
            "n_train": len(self.train),
            "n_val": 0 if self.val is None else len(self.val),
            "n_test": len(self.test),
            "binarize": self.binarize,
            "classes": self.classes,
            **({"factors": self.factor_names} if self.factor_names else {}),
        }


def binarize_batch(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """A fresh Bernoulli draw of a batch of grey values (dynamic binarisation). A given
    ``generator`` must live on x's device."""
    return torch.bernoulli(x, generator=generator)


def fixed_uniforms(shape: tuple[int, int], stream: int,
                   entropy: int = BINARIZE_ENTROPY) -> torch.Tensor:
    """[N, D] float32 uniforms in [0, 1) of the binarisation stream ``stream`` (CPU): the
    top 24 bits of each raw PCG64 output, exact in float32. Raw outputs of a fixed bit
    generator never change between NumPy versions (a Generator's methods may)."""
    bits = np.random.PCG64(np.random.SeedSequence(entropy, spawn_key=(stream,)))
    flat = np.empty(shape[0] * shape[1], dtype=np.float32)
    for start in range(0, flat.size, _UNIFORM_CHUNK):
        raw = bits.random_raw(min(_UNIFORM_CHUNK, flat.size - start))
        flat[start:start + raw.size] = (raw >> np.uint64(40)).astype(np.float32)
    return torch.from_numpy(flat).mul_(2.0 ** -24).view(shape)


def fixed_binarization(split: TensorSplit, entropy: int = BINARIZE_ENTROPY) -> TensorSplit:
    """One fixed Bernoulli draw of a whole split, (u < x) ~ Bernoulli(x), with u from the
    split's own binarisation stream (made on CPU, so the draw is the same on any device).
    ``entropy`` exists for tests; everything in vaelab uses the default."""
    uniform = fixed_uniforms(tuple(split.x.shape), SPLIT_STREAMS[split.name], entropy)
    binary = (uniform.to(split.x.device) < split.x).to(torch.float32)
    return dataclasses.replace(split, x=binary)


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, val) indices into the n training-file images: a seeded permutation, val
    first. Any val_fraction > 0 gives at least one validation image."""
    n_val = round(n * val_fraction)
    if val_fraction > 0:
        n_val = max(n_val, 1)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[n_val:], perm[:n_val]


def prepare_data(cfg: DataConfig, device: torch.device | str = "cpu") -> PreparedData:
    """Load ``cfg.dataset``, split, subset, binarise and move it to ``device``."""
    if cfg.binarize not in BINARIZE_MODES:
        raise VaelabError(f"--binarize {cfg.binarize!r} is unknown; choose one of: "
                          f"{', '.join(BINARIZE_MODES)}")
    binarize = canonical_binarize(cfg.binarize)
    if not 0.0 <= cfg.val_fraction < 1.0:
        raise VaelabError(f"--val-fraction must be in [0, 1), got {cfg.val_fraction}")
    device = torch.device(device)
    dataset = DATASETS.get(cfg.dataset)()
    train_set, test_set = dataset.load("train", cfg), dataset.load("test", cfg)
    if train_set.image_shape != test_set.image_shape:
        raise VaelabError(f"{cfg.dataset}: test images are {test_set.image_shape} but training "
                          f"images are {train_set.image_shape} ({test_set.source} vs "
                          f"{train_set.source}); use files with one image size")
    channels = train_set.image_shape[0]
    if channels > 1 and binarize != "none":
        raise VaelabError(f"--binarize {cfg.binarize} draws binary pixels of grey images, but "
                          f"{cfg.dataset} has {channels} channels (colour); use --binarize none")

    train_idx, val_idx = split_indices(len(train_set), cfg.val_fraction, cfg.split_seed)
    if len(train_idx) == 0:
        raise VaelabError(f"--val-fraction {cfg.val_fraction} leaves none of the "
                          f"{len(train_set)} training images of {cfg.dataset} for training; "
                          "lower it")
    test_idx = torch.arange(len(test_set))
    if cfg.subset is not None:
        if cfg.subset > len(train_idx):
            raise VaelabError(
                f"--subset {cfg.subset} is larger than the {len(train_idx)} training images "
                f"of {cfg.dataset} (after holding out {len(val_idx)} for validation); use "
                f"--subset {len(train_idx)} or less")
        # train and val indices are already in random order, so their heads are random.
        train_idx, val_idx = train_idx[:cfg.subset], val_idx[:cfg.subset]
        if len(test_idx) > cfg.subset:
            # A seeded random, sorted test subset: the head of MNIST's test file is its
            # easier half (the SD-3 writers), so "the first N" would flatter the numbers.
            generator = torch.Generator().manual_seed(cfg.split_seed)
            test_idx = torch.randperm(len(test_set), generator=generator)[:cfg.subset].sort()[0]

    def to_split(name: str, images: ImageSet, idx: torch.Tensor) -> TensorSplit:
        return _to_split(name, images, idx, device, binarize)

    source = train_set.source
    if test_set.source != train_set.source:
        source += f"; test: {test_set.source}"
    return PreparedData(
        dataset=cfg.dataset,
        train=to_split("train", train_set, train_idx),
        val=to_split("val", train_set, val_idx) if len(val_idx) else None,
        test=to_split("test", test_set, test_idx),
        image_shape=train_set.image_shape,
        classes=train_set.classes,
        source=source,
        binarize=binarize,
        factor_names=train_set.factor_names,
    )


def _to_split(name: str, images: ImageSet, idx: torch.Tensor, device: torch.device,
              binarize: str) -> TensorSplit:
    """Select ``idx``, move to the device as uint8 (4x less to copy than float), then
    convert once, on the device."""
    pixels = images.images.index_select(0, idx).to(device).reshape(len(idx), -1)  # [N, D]
    if binarize == "threshold":
        x = (pixels >= 128).to(torch.float32)  # x/255 > 0.5 <=> x >= 128 for integers
    else:
        x = pixels.to(torch.float32).div_(255.0)
    y = None if images.labels is None else images.labels.index_select(0, idx).to(device)
    factors = values = None
    if images.factors is not None:
        cpu_idx = idx.cpu()
        factors = images.factors.index_select(0, cpu_idx)
        values = images.factor_values.index_select(0, cpu_idx)
    split = TensorSplit(name=name, x=x, y=y, factors=factors, factor_values=values)
    # The draw dynamic binarisation is scored on, so the two modes share val/test images.
    return fixed_binarization(split) if binarize == "fixed" else split
