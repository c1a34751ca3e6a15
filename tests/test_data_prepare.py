"""Datasets and prepare_data: splits, seeds, subsets, binarisation, the real MNIST files."""

from __future__ import annotations

import dataclasses
import gzip
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import shared_data_dir

from vaelab.config import DataConfig
from vaelab.data import (
    BINARIZE_MODES,
    DATASETS,
    binarize_batch,
    fixed_binarization,
    holdout_indices,
    load_images,
    prepare_data,
    split_indices,
)
from vaelab.data.locate import IDX_FILES
from vaelab.errors import VaelabError


@pytest.fixture
def numbered_npz(tmp_path: Path) -> Path:
    """500 unique 4x4 images whose first two pixels spell their index (id = 256*p0 + p1),
    so splits can be checked for overlap; the other pixels are random grey values."""
    n = 500
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n, 4, 4)).astype(np.uint8)
    x[:, 0, 0], x[:, 0, 1] = np.arange(n) // 256, np.arange(n) % 256
    path = tmp_path / "numbered.npz"
    np.savez(path, x=x, y=np.arange(n) % 10)
    return path


def ids(x: torch.Tensor) -> set[int]:
    pixels = torch.round(x[:, :2] * 255).long()  # undo x / 255
    return set((pixels[:, 0] * 256 + pixels[:, 1]).tolist())


def npz_cfg(path: Path, **changes: object) -> DataConfig:
    return DataConfig(dataset="npz", path=str(path), **changes)  # type: ignore[arg-type]


def test_registry() -> None:
    names = DATASETS.names()
    assert names[:6] == ["mnist", "fashion-mnist", "idx", "digits", "csv", "npz"]
    assert {"cifar10", "svhn", "celeba", "dsprites", "shapes"} <= set(names)
    for name, cls in DATASETS.items():
        assert cls.name == name and cls.description
    with pytest.raises(VaelabError, match="unknown dataset 'mnsit' \\(did you mean 'mnist'"):
        load_images(DataConfig(dataset="mnsit"), "train")
    # "static" stays as the old name of "threshold" (config files, stored runs).
    assert set(BINARIZE_MODES) == {"none", "dynamic", "fixed", "threshold", "static"}


def test_digits() -> None:
    train, test = (load_images(DataConfig(dataset="digits"), s) for s in ("train", "test"))
    assert (len(train), len(test)) == (1438, 359)  # a seeded 20% hold-out of 1797
    assert train.images.dtype == torch.uint8 and train.images.shape[1:] == (1, 8, 8)
    assert int(train.images.max()) == 255 and train.classes == [str(d) for d in range(10)]
    kept, held = holdout_indices(1797, 0.2, 0, what="digits")
    assert set(kept).isdisjoint(held) and len(set(kept) | set(held)) == 1797
    with pytest.raises(VaelabError, match="digits does not read --data-path"):
        load_images(DataConfig(dataset="digits", path="x.csv"), "train")


def test_splits_are_disjoint_and_complete(numbered_npz: Path) -> None:
    data = prepare_data(npz_cfg(numbered_npz, val_fraction=0.2))
    assert (len(data.train), len(data.val), len(data.test)) == (360, 90, 50)
    train, val, test = ids(data.train.x), ids(data.val.x), ids(data.test.x)
    assert len(train) == 360 and len(val) == 90 and len(test) == 50
    assert train.isdisjoint(val) and train.isdisjoint(test) and val.isdisjoint(test)
    assert train | val | test == set(range(500))
    assert data.train.y is not None and data.train.y.dtype == torch.int64
    assert data.train.x.dtype == torch.float32 and data.train.x.shape == (360, 16)
    assert data.image_shape == (1, 4, 4) and data.dim == 16


def test_split_seed_determinism(numbered_npz: Path) -> None:
    first = prepare_data(npz_cfg(numbered_npz, split_seed=1))
    again = prepare_data(npz_cfg(numbered_npz, split_seed=1))
    other = prepare_data(npz_cfg(numbered_npz, split_seed=2))
    assert torch.equal(first.train.x, again.train.x) and torch.equal(first.val.x, again.val.x)
    assert ids(first.val.x) != ids(other.val.x)
    assert torch.equal(first.test.x, other.test.x)  # the test hold-out never moves
    train, val = split_indices(100, 0.25, seed=3)
    assert len(train) == 75 and len(val) == 25 and set(train.tolist()).isdisjoint(val.tolist())
    assert len(split_indices(10, 0.01, seed=0)[1]) == 1  # any fraction > 0 gives one image


def test_no_validation_split(numbered_npz: Path) -> None:
    data = prepare_data(npz_cfg(numbered_npz, val_fraction=0.0))
    assert data.val is None and len(data.train) == 450
    assert data.describe()["n_val"] == 0 and data.eval_split("val") is None


def test_val_fraction_leaving_no_training_images(tmp_path: Path) -> None:
    path = tmp_path / "small.npz"
    np.savez(path, x=np.zeros((3, 2, 2), np.uint8))
    with pytest.raises(VaelabError, match="--val-fraction 0.9 leaves none of the 2"):
        prepare_data(npz_cfg(path, val_fraction=0.9))


def test_subset(numbered_npz: Path) -> None:
    full = prepare_data(npz_cfg(numbered_npz))
    small = prepare_data(npz_cfg(numbered_npz, subset=30))
    assert (len(small.train), len(small.val), len(small.test)) == (30, 30, 30)
    assert torch.equal(small.train.x, full.train.x[:30])  # the head of the same split
    assert ids(small.test.x) <= ids(full.test.x)
    tiny = prepare_data(npz_cfg(numbered_npz, subset=5))
    assert (len(tiny.train), len(tiny.val), len(tiny.test)) == (5, 5, 5)
    with pytest.raises(VaelabError, match=r"--subset 406 is larger than the 405 training "
                                          r"images of npz \(after holding out 45"):
        prepare_data(npz_cfg(numbered_npz, subset=406))


@pytest.mark.parametrize("mode", ["threshold", "static"])
def test_threshold_binarization(numbered_npz: Path, mode: str) -> None:
    grey = prepare_data(npz_cfg(numbered_npz))
    static = prepare_data(npz_cfg(numbered_npz, binarize=mode))
    for grey_split, binary_split in [(grey.train, static.train), (grey.test, static.test)]:
        assert set(binary_split.x.unique().tolist()) == {0.0, 1.0}
        assert torch.equal(binary_split.x, (grey_split.x > 0.5).float())
    assert static.eval_split("test") is static.test
    assert static.binarize == "threshold"  # "static" is the old name of the same mode


def test_fixed_binarization_mode_is_one_draw_for_all_epochs_and_splits(
        numbered_npz: Path) -> None:
    """--binarize fixed: Larochelle & Murray's statically binarised data, one seeded
    Bernoulli draw per split made at preparation; val/test are the very images that
    dynamic binarisation is scored on."""
    grey = prepare_data(npz_cfg(numbered_npz))
    fixed = prepare_data(npz_cfg(numbered_npz, binarize="fixed"))
    dynamic = prepare_data(npz_cfg(numbered_npz, binarize="dynamic"))
    for name in ("train", "val", "test"):
        split = getattr(fixed, name)
        assert set(split.x.unique().tolist()) == {0.0, 1.0}
        assert torch.equal(split.x, fixed_binarization(getattr(grey, name)).x)
        assert fixed.eval_split(name) is split  # already binary: scored as trained
    for name in ("val", "test"):
        assert torch.equal(fixed.eval_split(name).x, dynamic.eval_split(name).x)
    again = prepare_data(npz_cfg(numbered_npz, binarize="fixed"))
    assert torch.equal(again.train.x, fixed.train.x)  # seeded: the same draw every time
    assert abs(fixed.train.x.mean().item() - grey.train.x.mean().item()) < 0.01
    assert not torch.equal(fixed.train.x, (grey.train.x > 0.5).float())  # not a threshold
    assert fixed.describe()["binarize"] == "fixed"


def test_binarize_modes_say_what_they_are_comparable_with() -> None:
    assert "IWAE" in BINARIZE_MODES["dynamic"]
    assert "Larochelle & Murray" in BINARIZE_MODES["fixed"]
    assert "0.5" in BINARIZE_MODES["threshold"] and "neither" in BINARIZE_MODES["threshold"]
    assert "threshold" in BINARIZE_MODES["static"]


def test_fixed_draw_shares_no_numbers_with_any_monte_carlo_seed(numbered_npz: Path) -> None:
    """The fixed draw has a random stream of its own: no torch seed (the metrics' and
    posterior samples' generators) reproduces it. Torch's CPU generator keeps only the low
    32 bits of a seed, so 2**32 is seed 0 again."""
    data = prepare_data(npz_cfg(numbered_npz, binarize="dynamic"))
    fixed = fixed_binarization(data.test).x
    for seed in (0, 1, 2, 2**32):
        uniform = torch.rand(data.test.x.shape, generator=torch.Generator().manual_seed(seed))
        assert not torch.equal(fixed, (uniform < data.test.x).float()), seed
    # Each split draws from a stream of its own, too.
    renamed = fixed_binarization(dataclasses.replace(data.test, name="val")).x
    assert not torch.equal(renamed, fixed)


def test_dynamic_binarization(numbered_npz: Path) -> None:
    data = prepare_data(npz_cfg(numbered_npz, binarize="dynamic"))
    x = data.train.x
    assert len(x.unique()) > 2  # the split keeps grey values
    draw = binarize_batch(x, torch.Generator().manual_seed(0))
    assert set(draw.unique().tolist()) == {0.0, 1.0}
    assert abs(draw.mean().item() - x.mean().item()) < 0.01  # E[Bernoulli(x)] = x
    assert torch.equal(draw, binarize_batch(x, torch.Generator().manual_seed(0)))
    assert not torch.equal(draw, binarize_batch(x, torch.Generator().manual_seed(1)))

    fixed = fixed_binarization(data.test, entropy=7)
    assert torch.equal(fixed.x, fixed_binarization(data.test, entropy=7).x)
    assert not torch.equal(fixed.x, fixed_binarization(data.test, entropy=8).x)
    assert set(fixed.x.unique().tolist()) == {0.0, 1.0} and fixed.y is data.test.y
    assert torch.equal(data.eval_split("test").x, fixed_binarization(data.test).x)
    assert data.describe()["binarize"] == "dynamic"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_fixed_binarization_is_device_independent(numbered_npz: Path) -> None:
    cpu = prepare_data(npz_cfg(numbered_npz, binarize="dynamic"), "cpu")
    gpu = prepare_data(npz_cfg(numbered_npz, binarize="dynamic"), "cuda")
    assert gpu.train.x.is_cuda and gpu.train.y is not None and gpu.train.y.is_cuda
    assert torch.equal(fixed_binarization(gpu.test, entropy=3).x.cpu(),
                       fixed_binarization(cpu.test, entropy=3).x)
    generator = torch.Generator(device="cuda").manual_seed(0)
    assert binarize_batch(gpu.train.x, generator).is_cuda


def test_image_size_mismatch(tmp_path: Path) -> None:
    np.savez(tmp_path / "a.npz", x=np.zeros((4, 3, 3), np.uint8))
    np.savez(tmp_path / "b.npz", x=np.zeros((4, 2, 2), np.uint8))
    cfg = DataConfig(dataset="npz", path=str(tmp_path / "a.npz"),
                     test_path=str(tmp_path / "b.npz"))
    with pytest.raises(VaelabError, match=r"test images are \(1, 2, 2\) but training images are"):
        prepare_data(cfg)


def test_bad_config_values(numbered_npz: Path) -> None:
    with pytest.raises(VaelabError, match="--binarize 'always' is unknown"):
        prepare_data(npz_cfg(numbered_npz, binarize="always"))
    with pytest.raises(VaelabError, match="--val-fraction must be in"):
        prepare_data(npz_cfg(numbered_npz, val_fraction=1.0))


def _idx(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(s.to_bytes(4, "big") for s in array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes())


@pytest.mark.parametrize("swap,pattern", [
    ("ndim", r"train-images-idx3-ubyte\.gz holds uint8 \[3\], not uint8 images"),
    ("count", r"has 2 labels but .* has 3 images"),
    ("label", r"holds labels 0\.\.12, but mnist has classes 0\.\.9"),
])
def test_idx_dataset_checks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, swap: str,
                            pattern: str) -> None:
    monkeypatch.delenv("VAELAB_DATA", raising=False)
    images, labels = np.zeros((3, 2, 2)), np.array([0, 1, 2])
    files = {"train-images-idx3-ubyte": images, "train-labels-idx1-ubyte": labels,
             "t10k-images-idx3-ubyte": images, "t10k-labels-idx1-ubyte": labels}
    if swap == "ndim":
        files["train-images-idx3-ubyte"] = labels
    elif swap == "count":
        files["train-labels-idx1-ubyte"] = labels[:2]
    else:
        files["train-labels-idx1-ubyte"] = np.array([0, 1, 12])
    for base in IDX_FILES:
        (tmp_path / f"{base}.gz").write_bytes(_idx(files[base]))
    with pytest.raises(VaelabError, match=pattern):
        load_images(DataConfig(dataset="mnist", data_dir=str(tmp_path)), "train")


@pytest.mark.parametrize("name,first_class", [("mnist", "0"), ("fashion-mnist", "T-shirt/top")])
def test_real_idx_datasets(name: str, first_class: str) -> None:
    shared = shared_data_dir()
    if shared is None:
        pytest.skip("real MNIST files not found (set VAELAB_DATA)")
    cfg = DataConfig(dataset=name, data_dir=str(shared), subset=1000, binarize="static")
    data = prepare_data(cfg)
    assert (len(data.train), len(data.val), len(data.test)) == (1000, 1000, 1000)
    assert data.image_shape == (1, 28, 28) and data.classes is not None
    assert data.classes[0] == first_class and len(data.classes) == 10
    assert data.train.y is not None and set(data.train.y.unique().tolist()) == set(range(10))
    summary = data.describe()
    assert summary["n_train"] == 1000 and "train-images-idx3-ubyte" in summary["source"]
    with pytest.raises(VaelabError, match=r"--subset 54001 is larger than the 54000 training"):
        prepare_data(DataConfig(dataset=name, data_dir=str(shared), subset=54001))


def test_idx_folder_dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    labels = np.array([0, 1, 42])  # no known classes: any non-negative label is fine
    for base in IDX_FILES:
        array = labels if "labels" in base else np.arange(12).reshape(3, 2, 2)
        (tmp_path / (base if "t10k" in base else f"{base}.gz")).write_bytes(
            _idx(array) if "t10k" not in base else gzip.decompress(_idx(array)))
    data = prepare_data(DataConfig(dataset="idx", data_dir=str(tmp_path), val_fraction=0.0))
    assert (len(data.train), len(data.test), data.image_shape) == (3, 3, (1, 2, 2))
    assert data.classes is None and data.train.y is not None
    with pytest.raises(VaelabError, match="dataset idx needs --data-dir"):
        load_images(DataConfig(dataset="idx"), "train")
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(VaelabError, match=r"lacks t10k-labels-idx1-ubyte \(each may be \.gz"):
        load_images(DataConfig(dataset="idx", data_dir=str(tmp_path)), "train")
