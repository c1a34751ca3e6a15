"""Datasets: one small class per source, each turning a DataConfig into an ``ImageSet``
(all images of one split as a single uint8 tensor, DESIGN rule 6).

Adding a source = one class with ``load`` and ``info`` + one ``@DATASETS.register`` line.

Sources: mnist and fashion-mnist (found or downloaded by locate.py), idx (your own
MNIST-layout IDX folder via --data-dir, never downloaded), digits (bundled with
scikit-learn), csv and npz (your file via --data-path), and the colour sets cifar10, svhn
and celeba (found or downloaded by remote.py, read by colour_files.py).

Test splits: mnist, fashion-mnist and idx have official test files (t10k-*).
``digits`` has none, so a fixed, seeded 20% of its 1797 images is held out as test.
``csv`` and ``npz`` use ``--test-path`` when given, else a fixed, seeded 10% of
``--data-path`` (train is the rest, so the two never overlap). The hold-out seed is a
constant, not ``--split-seed``: the test set must not move when a sweep varies the
validation split.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch

from vaelab.concepts import DATASETS
from vaelab.data.colour_files import (
    CELEBA_ARCHIVE,
    CELEBA_SIZE,
    CELEBA_TEST_FIRST,
    CELEBA_TRAIN_LAST,
    CIFAR10_ARCHIVE,
    CIFAR10_CLASSES,
    SVHN_FILES,
    celeba_cache_key,
    celeba_counts,
    celeba_split,
    cifar10_counts,
    convert_celeba,
    read_cifar10,
    read_svhn,
    svhn_count,
)
from vaelab.data.files import parse_kaggle_csv, parse_npz
from vaelab.data.idx import read_idx, read_idx_header
from vaelab.data.locate import (
    ENV_DATA,
    IDX_FILES,
    cache_dir,
    find_idx_dataset,
    idx_files_in,
    locate_idx_dataset,
    mirror_urls,
)
from vaelab.data.remote import RemoteFiles
from vaelab.errors import VaelabError
from vaelab.options import NoOptions

# ``cfg`` below is a config's [data] section (vaelab/config.py, which sits above the
# data layer: data modules never import it).
DataConfig = Any

Split = Literal["train", "test"]
SPLITS: tuple[str, ...] = ("train", "test")
HOLDOUT_SEED = 0  # fixed on purpose, see the module docstring
FILE_TEST_FRACTION = 0.1  # csv/npz without --test-path
DIGITS_TEST_FRACTION = 0.2  # scikit-learn digits has no official test split
_INT32_LIMIT = 2**31  # labels of unnamed classes must still fit the CSV/npz label range

MNIST_CLASSES = [str(digit) for digit in range(10)]
FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                         "Shirt", "Sneaker", "Bag", "Ankle boot"]


@dataclass
class ImageSet:
    """All images of one split, as loaded (before the train/validation split)."""

    images: torch.Tensor  # uint8 [N, C, H, W], 0..255 (grey [N, H, W] is given a channel)
    labels: torch.Tensor | None  # int64 [N], or None for unlabelled data
    source: str  # where it was loaded from, for the run's record
    classes: list[str] | None = None  # class names indexed by label, when known
    # Ground-truth generative factors, where the data set knows them (dsprites, shapes):
    # the class index of each factor [N, K] int64, its value [N, K] float64, and names.
    factors: torch.Tensor | None = None
    factor_values: torch.Tensor | None = None
    factor_names: list[str] | None = None

    def __post_init__(self) -> None:
        # Internal contract (a violation is a vaelab bug, so not a VaelabError).
        if self.images.dim() == 3:  # grey [N, H, W] from the IDX/CSV/npz readers
            self.images = self.images.unsqueeze(1)
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(f"ImageSet.images must be uint8 [N, C, H, W], got "
                             f"{self.images.dtype} {list(self.images.shape)}")
        if self.labels is not None and (self.labels.dtype != torch.int64
                                        or self.labels.shape != self.images.shape[:1]):
            raise ValueError(f"ImageSet.labels must be int64 [{len(self.images)}], got "
                             f"{self.labels.dtype} {list(self.labels.shape)}")
        if self.factors is not None:
            k = len(self.factor_names or [])
            if (self.factors.dtype != torch.int64 or self.factors.shape != (len(self), k)
                    or self.factor_values is None
                    or self.factor_values.shape != self.factors.shape):
                raise ValueError(f"ImageSet.factors must be int64 [{len(self)}, {k}] with "
                                 f"values of the same shape, got {self.factors.dtype} "
                                 f"{list(self.factors.shape)}")

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W)."""
        return tuple(self.images.shape[1:])  # type: ignore[return-value]


@dataclass(frozen=True)
class DatasetInfo:
    """One line of ``vaelab datasets``."""

    name: str
    description: str
    available: bool  # loadable now without a download or a user file
    where: str  # the folder found, or what would happen / what is needed
    image_shape: tuple[int, int, int] | None  # (C, H, W)
    n_train: int | None  # images in the training file (before the validation split)
    n_test: int | None


class Dataset:
    """A source of images. Subclasses set ``name`` (= the registry key) and
    ``description`` and implement ``load`` and ``info``."""

    name: ClassVar[str]
    description: ClassVar[str]
    # No dataset has options of its own yet: the [data] fields (data_dir, path, ...) are
    # shared, and a source refuses those it does not read (_reject_file_options).
    Options = NoOptions

    def load(self, split: Split, cfg: DataConfig) -> ImageSet:
        raise NotImplementedError

    @classmethod
    def describe_config(cls, cfg) -> str:
        return cfg.dataset

    def info(self, data_dir: str | None = None) -> DatasetInfo:
        raise NotImplementedError




def load_images(cfg: DataConfig, split: Split) -> ImageSet:
    """The ImageSet of ``split`` for the dataset named by ``cfg.dataset``."""
    return DATASETS.get(cfg.dataset)().load(split, cfg)


def dataset_report(data_dir: str | None = None) -> list[DatasetInfo]:
    """For ``vaelab datasets``: every registered dataset, whether it is available, where."""
    return [cls().info(data_dir) for _, cls in DATASETS.items()]


def holdout_indices(n: int, fraction: float, seed: int, *,
                    what: str) -> tuple[np.ndarray, np.ndarray]:
    """(kept, held out) indices, each sorted: a seeded random ``fraction`` of ``n`` images
    (at least one, leaving at least one). ``what`` names the data in errors."""
    if n < 2:
        raise VaelabError(f"{what} has {n} image(s); holding out a test split needs at least "
                          "2; give a separate test file with --test-path")
    n_out = min(max(round(n * fraction), 1), n - 1)
    # torch.randperm on a seeded CPU generator: the same split on every machine.
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).numpy()
    return np.sort(perm[n_out:]), np.sort(perm[:n_out])


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")


def _reject_file_options(name: str, cfg: DataConfig) -> None:
    # --data-path silently ignored would train on the wrong data; say so instead.
    if cfg.path is not None or cfg.test_path is not None:
        raise VaelabError(f"dataset {name} does not read --data-path/--test-path; use "
                          "--dataset csv or --dataset npz for your own file, or drop them")


class IdxDataset(Dataset):
    """MNIST-layout IDX files found (or downloaded) by ``locate.py``."""

    classes: ClassVar[list[str] | None]

    def folder_files(self, cfg: DataConfig) -> dict[str, Path]:
        """The four IDX files (base name -> path)."""
        files = idx_files_in(locate_idx_dataset(self.name, cfg.data_dir))
        assert files is not None  # locate only returns complete folders
        return files

    def load(self, split: Split, cfg: DataConfig) -> ImageSet:
        _check_split(split)
        _reject_file_options(self.name, cfg)
        files = self.folder_files(cfg)
        prefix = "train" if split == "train" else "t10k"
        images_path = files[f"{prefix}-images-idx3-ubyte"]
        labels_path = files[f"{prefix}-labels-idx1-ubyte"]
        images, labels = read_idx(images_path), read_idx(labels_path)
        self._check(images, labels, images_path, labels_path)
        return ImageSet(images=torch.from_numpy(images),
                        labels=torch.from_numpy(labels.astype(np.int64)),
                        source=str(images_path),
                        classes=None if self.classes is None else list(self.classes))

    def _check(self, images: np.ndarray, labels: np.ndarray, images_path: Path,
               labels_path: Path) -> None:
        if images.ndim != 3 or images.dtype != np.uint8 or 0 in images.shape:
            raise VaelabError(f"{images_path} holds {images.dtype} {list(images.shape)}, not "
                              "uint8 images [N, H, W]; is it a labels file? Check the files "
                              f"of {self.name}")
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
            raise VaelabError(f"{labels_path} holds {labels.dtype} {list(labels.shape)}, not "
                              f"integer labels [N]; is it an images file? Check the files of "
                              f"{self.name}")
        if len(labels) != len(images):
            raise VaelabError(f"{labels_path} has {len(labels)} labels but {images_path} has "
                              f"{len(images)} images; the files do not belong together")
        n_classes = len(self.classes) if self.classes is not None else _INT32_LIMIT
        if len(labels) and (labels.min() < 0 or labels.max() >= n_classes):
            raise VaelabError(f"{labels_path} holds labels {labels.min()}..{labels.max()}, "
                              f"but {self.name} has classes 0..{n_classes - 1}; the file is "
                              "corrupt or from another dataset")

    def info(self, data_dir: str | None = None) -> DatasetInfo:
        folder = find_idx_dataset(self.name, data_dir)
        if folder is None:
            where = (f"not found; would download from {mirror_urls(self.name)[0]} into "
                     f"{cache_dir(self.name)}")
            return DatasetInfo(self.name, self.description, False, where, (1, 28, 28),
                               60000, 10000)
        return self._folder_info(folder)

    def _folder_info(self, folder: Path) -> DatasetInfo:
        files = idx_files_in(folder)
        assert files is not None
        try:
            # Header only: cheap, and it reports the real counts of the files found.
            _, train_shape = read_idx_header(files[IDX_FILES[0]])
            _, test_shape = read_idx_header(files[IDX_FILES[2]])
        except VaelabError as err:
            return DatasetInfo(self.name, self.description, False, f"{folder}: {err}",
                               None, None, None)
        shape = (1, *train_shape[1:]) if len(train_shape) == 3 else None
        return DatasetInfo(self.name, self.description, True, str(folder), shape,
                           train_shape[0], test_shape[0])


@DATASETS.register("mnist")
class MNIST(IdxDataset):
    name = "mnist"
    description = "handwritten digits, 28x28 grey, 60000 train + 10000 test (LeCun et al.)"
    classes = MNIST_CLASSES


@DATASETS.register("fashion-mnist")
class FashionMNIST(IdxDataset):
    name = "fashion-mnist"
    description = "Zalando clothing, 28x28 grey, 60000 train + 10000 test (Xiao et al. 2017)"
    classes = FASHION_MNIST_CLASSES


@DATASETS.register("idx")
class IdxFolder(IdxDataset):
    """Any MNIST-layout IDX folder of your own (e.g. KMNIST), given by --data-dir; never
    downloaded, class names unknown."""

    name = "idx"
    description = ("your folder of the four MNIST-layout IDX files (train-images-idx3-ubyte"
                   "[.gz], ...), given by --data-dir")
    classes = None

    def folder_files(self, cfg: DataConfig) -> dict[str, Path]:
        if cfg.data_dir is None:
            raise VaelabError("dataset idx needs --data-dir FOLDER holding "
                              f"{', '.join(IDX_FILES)} (each .gz or not)")
        files = idx_files_in(Path(cfg.data_dir).expanduser())
        if files is None:
            missing = [base for base in IDX_FILES
                       if not any((Path(cfg.data_dir) / f"{base}{ext}").is_file()
                                  for ext in ("", ".gz"))]
            raise VaelabError(f"--data-dir {cfg.data_dir} lacks {', '.join(missing)} (each "
                              "may be .gz or not); the idx dataset needs all four files")
        return files

    def info(self, data_dir: str | None = None) -> DatasetInfo:
        if data_dir is not None and idx_files_in(Path(data_dir).expanduser()) is not None:
            return self._folder_info(Path(data_dir).expanduser())
        return DatasetInfo(self.name, self.description, False,
                           "your folder: --data-dir FOLDER", None, None, None)


@DATASETS.register("digits")
class Digits(Dataset):
    """scikit-learn's bundled 8x8 digits (UCI optdigits test set): offline and tiny."""

    name = "digits"
    description = ("scikit-learn's bundled 8x8 digits, 1797 images; a seeded 20% is the test "
                   "split")
    n_images = 1797

    def load(self, split: Split, cfg: DataConfig) -> ImageSet:
        _check_split(split)
        _reject_file_options(self.name, cfg)
        from sklearn.datasets import load_digits  # slow import, only when used

        bunch = load_digits()
        # Values are counts 0..16 (on pixels in a 4x4 block); scale to 0..255 like MNIST.
        images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)  # [1797, 8, 8]
        train_idx, test_idx = holdout_indices(len(images), DIGITS_TEST_FRACTION,
                                              HOLDOUT_SEED, what="digits")
        idx = train_idx if split == "train" else test_idx
        return ImageSet(images=torch.from_numpy(images[idx]),
                        labels=torch.from_numpy(bunch.target[idx].astype(np.int64)),
                        source=f"sklearn.datasets.load_digits [seeded "
                               f"{DIGITS_TEST_FRACTION:.0%} test hold-out]",
                        classes=list(MNIST_CLASSES))

    def info(self, data_dir: str | None = None) -> DatasetInfo:
        n_test = len(holdout_indices(self.n_images, DIGITS_TEST_FRACTION, HOLDOUT_SEED,
                                     what="digits")[1])
        return DatasetInfo(self.name, self.description, True, "bundled with scikit-learn",
                           (1, 8, 8), self.n_images - n_test, n_test)


class FileDataset(Dataset):
    """A user file given by ``--data-path`` (and optionally ``--test-path``)."""

    parser: ClassVar[Callable[[Path], tuple[np.ndarray, np.ndarray | None]]]
    file_hint: ClassVar[str]

    def load(self, split: Split, cfg: DataConfig) -> ImageSet:
        _check_split(split)
        if cfg.path is None:
            raise VaelabError(f"dataset {self.name} needs --data-path FILE ({self.file_hint})")
        if split == "test" and cfg.test_path is not None:
            images, labels = _parse_cached(type(self).parser, Path(cfg.test_path))
            idx, source = np.arange(len(images)), str(cfg.test_path)
        else:
            images, labels = _parse_cached(type(self).parser, Path(cfg.path))
            idx, source = np.arange(len(images)), str(cfg.path)
            if cfg.test_path is None:
                train_idx, test_idx = holdout_indices(len(images), FILE_TEST_FRACTION,
                                                      HOLDOUT_SEED, what=str(cfg.path))
                idx = train_idx if split == "train" else test_idx
                source += f" [seeded {FILE_TEST_FRACTION:.0%} test hold-out]"
        # Fancy indexing copies, so the cached arrays are never shared with the caller.
        return ImageSet(images=torch.from_numpy(images[idx]),
                        labels=None if labels is None else torch.from_numpy(labels[idx]),
                        source=source, classes=None)

    def info(self, data_dir: str | None = None) -> DatasetInfo:
        return DatasetInfo(self.name, self.description, False,
                           f"your file: --data-path FILE ({self.file_hint})", None, None, None)


@DATASETS.register("csv")
class CSVDataset(FileDataset):
    name = "csv"
    description = "your CSV in the Kaggle layout: header label,pixel1..pixelN, 0..255 pixels"
    parser = staticmethod(parse_kaggle_csv)
    file_hint = "Kaggle layout label,pixel1,...,pixelN, e.g. fashion-mnist_train.csv"


@DATASETS.register("npz")
class NPZDataset(FileDataset):
    name = "npz"
    description = ("your npz: x uint8 0..255 or float [0,1], [N,H,W] or [N,H*W] grey, "
                   "[N,H,W,3] or [N,3,H,W] colour; optional y")
    parser = staticmethod(parse_npz)
    file_hint = "np.savez(FILE, x=images, y=labels)"


def _parse_cached(parser: Callable[[Path], tuple[np.ndarray, np.ndarray | None]],
                  path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Parse ``path`` once per (file, size, modification time): the train and the held-out
    test split of one 130 MB CSV then cost one parse, not two."""
    try:
        stat = path.stat()
    except OSError:
        return parser(path)  # the parser raises the clear "does not exist" error
    return _parse_keyed(parser, str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=2)
def _parse_keyed(parser: Callable[[Path], tuple[np.ndarray, np.ndarray | None]], path: str,
                 size: int, mtime_ns: int) -> tuple[np.ndarray, np.ndarray | None]:
    images, labels = parser(Path(path))
    images.setflags(write=False)  # shared by later calls: make accidental writes fail
    if labels is not None:
        labels.setflags(write=False)
    return images, labels


class RemoteDataset(Dataset):
    """A data set of a few official files (data/remote.py finds or downloads them; the
    readers are in data/colour_files.py)."""

    remote: ClassVar[RemoteFiles]
    classes: ClassVar[list[str] | None]
    image_shape: ClassVar[tuple[int, int, int]]
    sizes: ClassVar[tuple[int, int]]  # official train and test counts (shown until found)

    def files(self, cfg: DataConfig) -> dict[str, Path]:
        return self.remote.locate(cfg.data_dir)

    def read(self, files: dict[str, Path], split: Split) -> tuple[np.ndarray, np.ndarray | None,
                                                                   Path]:
        """(images [N, C, H, W], labels or None, the file read)."""
        raise NotImplementedError

    def load(self, split: Split, cfg: DataConfig) -> ImageSet:
        _check_split(split)
        _reject_file_options(self.name, cfg)
        images, labels, source = self.read(self.files(cfg), split)
        return ImageSet(images=torch.from_numpy(images),
                        labels=None if labels is None else torch.from_numpy(labels),
                        source=str(source),
                        classes=None if self.classes is None else list(self.classes))

    def counts(self, files: dict[str, Path]) -> tuple[int, int]:
        """(train, test) images in the files found, read cheaply (headers, name lists)."""
        raise NotImplementedError

    def info(self, data_dir: str | None = None) -> DatasetInfo:
        folder = self.remote.find(data_dir)
        if folder is not None:
            try:
                counts = self.counts(self.remote.files_in(folder))  # type: ignore[arg-type]
            except VaelabError as err:
                return DatasetInfo(self.name, self.description, False, f"{folder}: {err}",
                                   None, None, None)
            return DatasetInfo(self.name, self.description, True, str(folder),
                               self.image_shape, *counts)
        urls = self.remote.mirror_urls()
        where = (f"not found; would download from {urls[0]} into {cache_dir(self.name)}"
                 if urls else f"not found; get {', '.join(self.remote.md5)} from "
                 f"{self.remote.page} and put it in ${ENV_DATA}/{self.name}/ or "
                 f"{cache_dir(self.name)}")
        return DatasetInfo(self.name, self.description, False, where, self.image_shape,
                           *self.sizes)


@DATASETS.register("cifar10")
class CIFAR10(RemoteDataset):
    name = "cifar10"
    description = ("CIFAR-10 (Krizhevsky 2009), 32x32 RGB, 10 classes, 50000 train + 10000 "
                   "test; the official binary version, read in place")
    remote = RemoteFiles(
        "cifar10", {CIFAR10_ARCHIVE: "c32a1d4ab5d03f1284b67883e8d87530"},
        ("https://www.cs.toronto.edu/~kriz/",), "https://www.cs.toronto.edu/~kriz/cifar.html")
    classes = CIFAR10_CLASSES
    image_shape = (3, 32, 32)
    sizes = (50000, 10000)

    def read(self, files, split):
        archive = files[CIFAR10_ARCHIVE]
        return (*read_cifar10(archive, split), archive)

    def counts(self, files):
        return cifar10_counts(files[CIFAR10_ARCHIVE])


@DATASETS.register("svhn")
class SVHN(RemoteDataset):
    name = "svhn"
    description = ("SVHN cropped digits (Netzer et al. 2011), 32x32 RGB, 73257 train + 26032 "
                   "test (the extra images unused); label = digit")
    remote = RemoteFiles(
        "svhn", {SVHN_FILES["train"]: "e26dedcc434d2e4c54c9b2d4a06d8373",
                 SVHN_FILES["test"]: "eb5a983be6a315427106f1b164d9cef3"},
        ("http://ufldl.stanford.edu/housenumbers/",),
        "http://ufldl.stanford.edu/housenumbers/")
    classes = MNIST_CLASSES
    image_shape = (3, 32, 32)
    sizes = (73257, 26032)

    def read(self, files, split):
        path = files[SVHN_FILES[split]]
        return (*read_svhn(path), path)

    def counts(self, files):
        return svhn_count(files[SVHN_FILES["train"]]), svhn_count(files[SVHN_FILES["test"]])


@DATASETS.register("celeba")
class CelebA(RemoteDataset):
    name = "celeba"
    description = ("CelebA aligned faces (Liu et al. 2015), centre 148x148 crop resized to "
                   "64x64 RGB once and cached; official train/test partition; unlabelled")
    # Google Drive only: no direct link to download from (a --mirror / $VAELAB_MIRROR can).
    remote = RemoteFiles("celeba", {CELEBA_ARCHIVE: "00d2c5bc6d35e252742224ab0c1e8fcb"}, (),
                         "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html "
                         "(Align&Cropped Images)")
    classes = None
    image_shape = (3, CELEBA_SIZE, CELEBA_SIZE)
    sizes = (CELEBA_TRAIN_LAST, 202599 - CELEBA_TEST_FIRST + 1)

    def read(self, files, split):
        archive = files[CELEBA_ARCHIVE]
        stat = archive.stat()
        images, numbers = _celeba_cached(str(archive.resolve()), stat.st_size,
                                         stat.st_mtime_ns)
        idx = celeba_split(numbers, split)
        if len(idx) == 0:
            raise VaelabError(f"{archive} holds no image of CelebA's official {split} "
                              f"partition (train 000001-{CELEBA_TRAIN_LAST}, test "
                              f"{CELEBA_TEST_FIRST}-202599); is it the whole {CELEBA_ARCHIVE}?")
        return images[idx], None, archive

    def counts(self, files):
        return celeba_counts(files[CELEBA_ARCHIVE])


@functools.lru_cache(maxsize=1)
def _celeba_cached(archive: str, size: int, mtime_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """The 64×64 images and image numbers of a CelebA archive: converted once into the
    cache (an npz of uint8, no pickle), then read from there; kept for the second split."""
    path = Path(archive)
    cached = cache_dir("celeba") / f"celeba-64x64-{celeba_cache_key(path)}.npz"
    if cached.is_file():
        with np.load(cached, allow_pickle=False) as stored:
            return stored["images"], stored["numbers"]
    images, numbers = convert_celeba(path)
    from vaelab.rundir import atomic_path

    with atomic_path(cached) as tmp, open(tmp, "wb") as out:
        np.savez(out, images=images, numbers=numbers)
    return images, numbers
