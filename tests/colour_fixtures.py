"""Small files in the exact official formats of the colour data sets, for tests:
CIFAR-10 binary records in a tar.gz, SVHN .mat files, a CelebA zip of JPEG/PNG images."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import numpy as np

CIFAR_PER_BATCH = 4  # records per file: 20 training images, 4 test images


def cifar_images(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8),
            rng.integers(0, 10, n).astype(np.uint8))


def write_cifar10(folder: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """cifar-10-binary.tar.gz in ``folder``; returns the images and labels per split."""
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, list] = {"train": [], "test": []}
    with tarfile.open(folder / "cifar-10-binary.tar.gz", "w:gz") as tar:
        names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
        for seed, name in enumerate(names):
            images, labels = cifar_images(seed, CIFAR_PER_BATCH)
            # A record: the label byte, then the R, G and B planes, each 32×32 row-major.
            records = np.concatenate([labels[:, None], images.reshape(len(images), -1)], 1)
            raw = records.astype(np.uint8).tobytes()
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
            written["test" if name == "test_batch.bin" else "train"].append((images, labels))
    return {split: (np.concatenate([i for i, _ in parts]),
                    np.concatenate([label for _, label in parts]).astype(np.int64))
            for split, parts in written.items()}


def write_svhn(folder: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """train_32x32.mat and test_32x32.mat (X [32, 32, 3, N], y [N, 1] in 1..10)."""
    from scipy.io import savemat

    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for seed, (split, n) in enumerate((("train", 6), ("test", 3))):
        rng = np.random.default_rng(10 + seed)
        images = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
        digits = np.arange(n) % 10  # includes 0, stored as 10
        savemat(folder / f"{split}_32x32.mat",
                {"X": images.transpose(2, 3, 1, 0), "y": np.where(digits == 0, 10, digits)
                 .astype(np.uint8)[:, None]})
        written[split] = (images, digits.astype(np.int64))
    return written


# (image number, width, height, centre colour, border colour, format)
CELEBA_IMAGES = [(1, 20, 24, (200, 30, 10), (0, 0, 255), "png"),
                 (2, 22, 22, (10, 240, 60), (10, 240, 60), "jpg"),
                 (162771, 20, 20, (0, 0, 0), (0, 0, 0), "png"),  # official validation
                 (182638, 30, 20, (90, 90, 250), (255, 255, 0), "png")]


def write_celeba(folder: Path) -> Path:
    """img_align_celeba.zip: a few images whose centre square is one colour and whose
    border (outside the centre square) another, under the official numbered names."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "img_align_celeba.zip"
    with zipfile.ZipFile(path, "w") as zipped:
        for number, width, height, centre, border, fmt in CELEBA_IMAGES:
            pixels = np.empty((height, width, 3), dtype=np.uint8)
            pixels[:] = border
            side = min(width, height)
            top, left = (height - side) // 2, (width - side) // 2
            pixels[top:top + side, left:left + side] = centre
            buffer = io.BytesIO()
            Image.fromarray(pixels).save(buffer, format="PNG" if fmt == "png" else "JPEG",
                                         quality=100)
            zipped.writestr(f"img_align_celeba/{number:06d}.{fmt}", buffer.getvalue())
    return path
