"""Readers of the official colour data set files. Each returns uint8 images
[N, 3, H, W] (channels first, vaelab/shapes.py) and int64 labels [N] (or None), and
refuses a wrong, truncated or foreign file in one line naming it. Nothing is unpickled:
CIFAR-10 is read from its binary version (the python version is a pickle), SVHN's .mat
files with scipy.io.loadmat (MATLAB v5 arrays, no code), CelebA's JPEGs with Pillow.

CIFAR-10 (Krizhevsky 2009), ``cifar-10-binary.tar.gz``: read in place from the archive
(no extraction). Each file ``cifar-10-batches-bin/data_batch_{1..5}.bin`` (train) and
``test_batch.bin`` is a run of 3073-byte records: one label byte 0..9, then 1024 red,
1024 green and 1024 blue bytes, each plane row-major 32×32, so a record is [3, 32, 32].

SVHN cropped digits (Netzer et al. 2011), ``train_32x32.mat`` / ``test_32x32.mat``: X is
uint8 [32, 32, 3, N], y is [N, 1] with labels 1..10, where 10 stands for the digit 0
(mapped to 0 here, so label = digit). The 531 131 "extra" images are not used.

CelebA aligned (Liu et al. 2015), ``img_align_celeba.zip``: 202 599 JPEGs 178×218 named
000001.jpg … 202599.jpg. Each is centre-cropped to a 148×148 square (the crop of the
β-VAE/PyTorch-VAE CelebA pipelines; min(148, width, height) for smaller images) and
resized to 64×64 with Pillow's bilinear filter (which widens its support when shrinking:
antialiased), once; the result is cached as uint8 (an npz, read with allow_pickle=False).
Splits follow the official partition (list_eval_partition.txt) by image number: train
1–162 770, test 182 638–202 599; the official validation images 162 771–182 637 are left
out (vaelab holds validation out of train with --val-fraction, as for every data set).
No labels are read (the 40 attributes are another file).
"""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
import zipfile
from pathlib import Path

import numpy as np

from vaelab.errors import VaelabError

CIFAR10_ARCHIVE = "cifar-10-binary.tar.gz"
CIFAR10_FOLDER = "cifar-10-batches-bin"
CIFAR10_FILES = {"train": [f"data_batch_{i}.bin" for i in range(1, 6)],
                 "test": ["test_batch.bin"]}
CIFAR10_RECORD = 1 + 3 * 32 * 32
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck"]

SVHN_FILES = {"train": "train_32x32.mat", "test": "test_32x32.mat"}

CELEBA_ARCHIVE = "img_align_celeba.zip"
CELEBA_TRAIN_LAST = 162770  # official partition: train 1..162770
CELEBA_TEST_FIRST = 182638  # test 182638..202599
CELEBA_CROP = 148
CELEBA_SIZE = 64
_CELEBA_NAME = re.compile(r"(?:^|/)(\d{6})\.(?:jpg|jpeg|png)$", re.IGNORECASE)


def read_cifar10(archive: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images [N, 3, 32, 32] and labels [N] of ``split`` from the official archive."""
    chunks = []
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for filename in CIFAR10_FILES[split]:
                member = f"{CIFAR10_FOLDER}/{filename}"
                try:
                    stream = tar.extractfile(member)
                except KeyError:
                    stream = None
                if stream is None:
                    raise VaelabError(f"{archive} has no file {member}; is it the binary "
                                      f"version of CIFAR-10 ({CIFAR10_ARCHIVE})?")
                chunks.append((member, stream.read()))
    except (tarfile.TarError, OSError, EOFError) as err:
        raise VaelabError(f"{archive} is not a readable .tar.gz ({type(err).__name__}: "
                          f"{str(err)[:80]}); download {CIFAR10_ARCHIVE} again") from None
    records = []
    for member, raw in chunks:
        if not raw or len(raw) % CIFAR10_RECORD:
            raise VaelabError(f"{archive}: {member} has {len(raw)} bytes, not a whole number "
                              f"of {CIFAR10_RECORD}-byte CIFAR-10 records; the file is "
                              "truncated or corrupt")
        records.append(np.frombuffer(raw, dtype=np.uint8).reshape(-1, CIFAR10_RECORD))
    table = np.concatenate(records)
    labels = table[:, 0].astype(np.int64)
    if labels.max() >= len(CIFAR10_CLASSES):
        raise VaelabError(f"{archive}: a record has label {int(labels.max())}, but CIFAR-10 "
                          "labels are 0..9; the file is corrupt or not CIFAR-10")
    return table[:, 1:].reshape(-1, 3, 32, 32).copy(), labels


def cifar10_counts(archive: Path) -> tuple[int, int]:
    """(train, test) record counts from the archive's member sizes (for `vaelab datasets`;
    the archive is decompressed once, the records not parsed)."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            sizes = {member.name: member.size for member in tar.getmembers()}
    except (tarfile.TarError, OSError, EOFError) as err:
        raise VaelabError(f"{archive} is not a readable .tar.gz ({type(err).__name__})") from None
    counts = []
    for split in ("train", "test"):
        total = sum(sizes.get(f"{CIFAR10_FOLDER}/{name}", 0) for name in CIFAR10_FILES[split])
        counts.append(total // CIFAR10_RECORD)
    return counts[0], counts[1]


def svhn_count(path: Path) -> int:
    """Images in an SVHN .mat file, from its header (scipy.io.whosmat)."""
    from scipy.io import whosmat

    try:
        shapes = {name: shape for name, shape, _ in whosmat(path)}
    except Exception as err:  # noqa: BLE001 - any decoding failure means a bad file
        raise VaelabError(f"{path} is not a readable .mat file ({type(err).__name__})") from None
    if len(shapes.get("X", ())) != 4:
        raise VaelabError(f"{path} has no 4-D array X (SVHN cropped digits)")
    return int(shapes["X"][3])


def celeba_counts(archive: Path) -> tuple[int, int]:
    """(train, test) images of the official partition in the archive (its name list)."""
    try:
        with zipfile.ZipFile(archive) as zipped:
            numbers = np.array([int(match.group(1)) for name in zipped.namelist()
                                if (match := _CELEBA_NAME.search(name))], dtype=np.int64)
    except (zipfile.BadZipFile, OSError) as err:
        raise VaelabError(f"{archive} is not a readable zip archive ({type(err).__name__})"
                          ) from None
    return len(celeba_split(numbers, "train")), len(celeba_split(numbers, "test"))


def read_svhn(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images [N, 3, 32, 32] and digit labels 0..9 [N] of one official SVHN .mat file."""
    from scipy.io import loadmat  # slow import, only when used

    try:
        arrays = loadmat(path, variable_names=["X", "y"])
    except Exception as err:  # noqa: BLE001 - any decoding failure means a bad file
        raise VaelabError(f"{path} is not a readable MATLAB .mat file ({type(err).__name__}: "
                          f"{str(err)[:80]}); download it again") from None
    x, y = arrays.get("X"), arrays.get("y")
    if x is None or y is None:
        raise VaelabError(f"{path} lacks the arrays X and y of SVHN's cropped digits "
                          "(train_32x32.mat / test_32x32.mat)")
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3) or x.dtype != np.uint8:
        raise VaelabError(f"{path}: X is {x.dtype} {list(x.shape)}, not uint8 [32, 32, 3, N] "
                          "(SVHN cropped digits)")
    y = y.reshape(-1)
    if len(y) != x.shape[3] or y.min() < 1 or y.max() > 10:
        raise VaelabError(f"{path}: y holds {len(y)} labels in {y.min()}..{y.max()} for "
                          f"{x.shape[3]} images; SVHN labels are 1..10 (10 = the digit 0)")
    labels = np.where(y == 10, 0, y).astype(np.int64)
    return np.ascontiguousarray(x.transpose(3, 2, 0, 1)), labels


def celeba_cache_key(archive: Path) -> str:
    """The archive's identity (path, size, mtime) and the preprocessing: a new key when
    either changes, so the cache never serves another archive's images."""
    stat = archive.stat()
    text = f"{archive.resolve()}:{stat.st_size}:{stat.st_mtime_ns}:{CELEBA_CROP}:{CELEBA_SIZE}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def convert_celeba(archive: Path, progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 [N, 3, 64, 64], image numbers [N]) of every numbered image in the
    archive, in number order: centre crop, resize (module docstring)."""
    from PIL import Image

    from vaelab.progress import new_progress

    try:
        with zipfile.ZipFile(archive) as zipped:
            members = sorted((int(match.group(1)), info) for info in zipped.infolist()
                             if (match := _CELEBA_NAME.search(info.filename)))
            if not members:
                raise VaelabError(f"{archive} holds no images named like 000001.jpg; is it "
                                  f"CelebA's {CELEBA_ARCHIVE}?")
            images = np.empty((len(members), 3, CELEBA_SIZE, CELEBA_SIZE), dtype=np.uint8)
            with new_progress(enabled=progress) as bar:
                task = bar.add_task("preparing CelebA 64×64 (once)", total=len(members))
                for i, (_, info) in enumerate(members):
                    images[i] = _celeba_image(Image, zipped.read(info), archive, info.filename)
                    bar.advance(task)
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise VaelabError(f"{archive} is not a readable zip archive ({type(err).__name__}: "
                          f"{str(err)[:80]}); download {CELEBA_ARCHIVE} again") from None
    return images, np.array([number for number, _ in members], dtype=np.int64)


def _celeba_image(image_module, data: bytes, archive: Path, name: str) -> np.ndarray:
    """One image: the centre square of side min(148, w, h), resized to 64×64, [3, 64, 64]."""
    try:
        with image_module.open(io.BytesIO(data)) as opened:
            image = opened.convert("RGB")
    except Exception as err:  # noqa: BLE001 - Pillow raises many kinds for a bad image
        raise VaelabError(f"{archive}: {name} is not a readable image ({type(err).__name__}); "
                          "the archive is corrupt") from None
    width, height = image.size
    side = min(CELEBA_CROP, width, height)
    left, top = (width - side) // 2, (height - side) // 2
    square = image.crop((left, top, left + side, top + side))
    small = square.resize((CELEBA_SIZE, CELEBA_SIZE), image_module.Resampling.BILINEAR)
    return np.asarray(small, dtype=np.uint8).transpose(2, 0, 1)


def celeba_split(numbers: np.ndarray, split: str) -> np.ndarray:
    """Indices of ``split``'s images by the official partition."""
    keep = numbers <= CELEBA_TRAIN_LAST if split == "train" else numbers >= CELEBA_TEST_FIRST
    return np.flatnonzero(keep)
