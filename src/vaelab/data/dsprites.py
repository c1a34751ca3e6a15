"""dSprites (Matthey et al. 2017): 737 280 binary 64x64 sprites, the complete grid of five
ground-truth factors — shape (3), scale (6), orientation (40), x (32), y (32).

The official file is one npz, ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz``, found
like MNIST's files (--data-dir, $VAELAB_DATA/dsprites/, ~/.cache/vaelab/dsprites/,
/usr/share/datasets/dsprites/) or downloaded into the cache and checked against its MD5.
vaelab reads only ``imgs``, ``latents_classes`` and ``latents_values`` with
``allow_pickle=False``: the file's ``metadata`` entry is a pickle and is never loaded.
The constant ``color`` column (one value) is dropped, as disentanglement_lib does, since
a factor with one value carries no information (every metric would divide by H = 0).

dSprites has no test split: a fixed, seeded 10% is held out (the same hold-out seed as
every other source without one). The whole array is 3 GB as uint8, read once per
process (cached) for both splits; as float32 on the device the training split is 11 GB
(``--subset`` for small machines).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

from vaelab.concepts import DATASETS
from vaelab.data.datasets import (
    FILE_TEST_FRACTION,
    HOLDOUT_SEED,
    Dataset,
    DatasetInfo,
    ImageSet,
    Split,
    _check_split,
    _reject_file_options,
    holdout_indices,
)
from vaelab.data.locate import FileRemote, cache_dir, find_file, locate_file
from vaelab.errors import VaelabError

REMOTE = FileRemote(
    filename="dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz",
    mirrors=("https://github.com/google-deepmind/dsprites-dataset/raw/master/",
             "https://raw.githubusercontent.com/google-deepmind/dsprites-dataset/master/"),
    checksum="7da33b31b13a06f4b04a70402ce90c2e",  # MD5 of the official file, as published
)
# latents_* columns: color, shape, scale, orientation, posX, posY (the dataset's README).
COLUMNS = ("color", "shape", "scale", "orientation", "pos_x", "pos_y")
KEPT = (1, 2, 3, 4, 5)  # color is constant
N_IMAGES = 737280


def read_dsprites(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images uint8 [N, 64, 64] 0/255, factor classes int64 [N, 5], values float64
    [N, 5]) from the official npz; one VaelabError line for anything else."""
    try:
        archive = np.load(path, allow_pickle=False)  # metadata is a pickle: never loaded
    except Exception as err:  # noqa: BLE001 - any decoding failure means a bad file
        raise VaelabError(f"{path} is not a readable .npz file ({type(err).__name__}); "
                          "delete it and download dSprites again") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise VaelabError(f"{path} holds a single array, not the dSprites npz archive")
    with archive:
        missing = [k for k in ("imgs", "latents_classes", "latents_values")
                   if k not in archive.files]
        if missing:
            raise VaelabError(f"{path} lacks {', '.join(missing)}; it is not the official "
                              f"dSprites file {REMOTE.filename}")
        try:
            imgs = archive["imgs"]
            classes = archive["latents_classes"]
            values = archive["latents_values"]
        except Exception as err:  # noqa: BLE001 - a corrupt member or an object array
            raise VaelabError(f"{path}: cannot read its arrays ({type(err).__name__}: "
                              f"{str(err)[:80]}); delete it and download it again") from None
    n = len(imgs)
    if imgs.ndim != 3 or n == 0 or not np.issubdtype(imgs.dtype, np.integer):
        raise VaelabError(f"{path}: imgs is {imgs.dtype} {list(imgs.shape)}, expected "
                          "integer [N, 64, 64] 0/1 sprites")
    if imgs.min() < 0 or imgs.max() > 1:
        raise VaelabError(f"{path}: imgs holds values {imgs.min()}..{imgs.max()}, expected "
                          "0/1 sprites; the file is not dSprites")
    for key, array in (("latents_classes", classes), ("latents_values", values)):
        if array.shape != (n, len(COLUMNS)):
            raise VaelabError(f"{path}: {key} has shape {list(array.shape)}, expected "
                              f"[{n}, {len(COLUMNS)}] ({', '.join(COLUMNS)})")
    if not np.issubdtype(classes.dtype, np.integer) or classes.min() < 0:
        raise VaelabError(f"{path}: latents_classes must be non-negative integers")
    images = imgs.astype(np.uint8) * np.uint8(255)  # 0/1 -> 0/255, vaelab's pixel range
    kept = list(KEPT)
    return images, classes[:, kept].astype(np.int64), values[:, kept].astype(np.float64)


@functools.lru_cache(maxsize=1)
def _read_cached(path: str, size: int, mtime_ns: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return read_dsprites(Path(path))


@DATASETS.register("dsprites")
class DSprites(Dataset):
    name = "dsprites"
    description = ("dSprites, 64x64 binary sprites with 5 known factors (shape, scale, "
                   "orientation, x, y), 737280 images; a seeded 10% is the test split")

    def load(self, split: Split, cfg) -> ImageSet:
        _check_split(split)
        _reject_file_options(self.name, cfg)
        path = locate_file(self.name, REMOTE, cfg.data_dir)
        stat = path.stat()
        images, classes, values = _read_cached(str(path.resolve()), stat.st_size,
                                               stat.st_mtime_ns)
        train_idx, test_idx = holdout_indices(len(images), FILE_TEST_FRACTION, HOLDOUT_SEED,
                                              what=str(path))
        idx = train_idx if split == "train" else test_idx
        # Fancy indexing copies: the cached arrays are never handed out.
        return ImageSet(images=torch.from_numpy(images[idx]), labels=None,
                        source=f"{path} [seeded {FILE_TEST_FRACTION:.0%} test hold-out]",
                        factors=torch.from_numpy(classes[idx]),
                        factor_values=torch.from_numpy(values[idx]),
                        factor_names=[COLUMNS[k] for k in KEPT])

    def info(self, data_dir: str | None = None) -> DatasetInfo:
        found = find_file(self.name, REMOTE.filename, data_dir)
        n_test = len(holdout_indices(N_IMAGES, FILE_TEST_FRACTION, HOLDOUT_SEED,
                                     what="dsprites")[1])
        where = (str(found.parent) if found is not None else
                 f"not found; would download from {REMOTE.mirrors[0]} into "
                 f"{cache_dir(self.name)}")
        return DatasetInfo(self.name, self.description, found is not None, where, (64, 64),
                           N_IMAGES - n_test, n_test)
