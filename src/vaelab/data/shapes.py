"""``shapes``: a procedural data set with known factors, rendered by vaelab itself, so
disentanglement can be studied offline and in tests.

Every combination of five factors (the dSprites design, smaller):

    shape        square, ellipse (axes 1 : 0.5), equilateral triangle   3 values
    scale        0.5 .. 1.0                                             6 values
    orientation  0°, 15°, ..., 75°                                      6 values
    pos_x, pos_y centres evenly spaced so every shape stays inside      8 values each

3 · 6 · 6 · 8 · 8 = 6912 binary images of ``--shapes-size`` pixels (32 by default).
Rendering is exact and has no randomness: a pixel is on iff its centre lies inside the
shape (a closed-form test per shape, below), so the same options give the same bytes on
any machine. Orientations span 90° only: the square repeats every 90°, the triangle every
120° and the ellipse every 180°, so within [0°, 90°) every image has exactly one
orientation (dSprites' 40 orientations over 360° are ambiguous for its square and
ellipse, a known flaw). Pixel quantisation still merges a few squares: at 32 px, 152
of the 6912 images equal another factor combination's image (neighbouring scales of the
axis-aligned and 45° squares, and the smallest squares at 15°-75°), 8 at 64 px; ellipses
and triangles never. Labels are the shape (3 classes). The test split is a fixed,
seeded 10% hold-out, like every source without an official one.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass

import numpy as np
import torch

from vaelab.concepts import DATASETS
from vaelab.data.datasets import (
    HOLDOUT_SEED,
    Dataset,
    DatasetInfo,
    ImageSet,
    Split,
    _check_split,
    _reject_file_options,
    holdout_indices,
)
from vaelab.options import option

SHAPES = ("square", "ellipse", "triangle")
SCALES = tuple(float(s) for s in np.linspace(0.5, 1.0, 6))
ORIENTATIONS = tuple(math.radians(15 * k) for k in range(6))
N_POSITIONS = 8
FACTOR_NAMES = ["shape", "scale", "orientation", "pos_x", "pos_y"]
TEST_FRACTION = 0.1
RADIUS = 0.2  # the circle every shape fits in, at scale 1, as a fraction of the side


def inside(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Whether points (u, v), in the shape's own frame (centred, unrotated, the unit
    circle being the shape's circumscribed circle at this scale), lie in the shape."""
    if shape == "square":  # half side 1/√2: its corners touch the unit circle
        return np.maximum(np.abs(u), np.abs(v)) <= 1 / math.sqrt(2)
    if shape == "ellipse":  # semi-axes 1 and 0.5
        return u * u + (v / 0.5) ** 2 <= 1.0
    # Equilateral triangle with circumradius 1 (a vertex at +v): inside every edge's
    # half-plane; the edges' outward normals point at -90°, 30° and 150°, inradius 1/2.
    ok = np.ones_like(u, dtype=bool)
    for angle in (-90.0, 30.0, 150.0):
        a = math.radians(angle)
        ok &= u * math.cos(a) + v * math.sin(a) <= 0.5
    return ok


def factor_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Classes int64 [N, 5] and values float64 [N, 5] of every factor combination, in
    C order (shape slowest, pos_y fastest). Position values are pixel coordinates."""
    margin = RADIUS * size + 0.5
    positions = np.linspace(margin, size - margin, N_POSITIONS)
    sizes = (len(SHAPES), len(SCALES), len(ORIENTATIONS), N_POSITIONS, N_POSITIONS)
    classes = np.array(list(itertools.product(*(range(n) for n in sizes))), dtype=np.int64)
    values = np.stack([classes[:, 0].astype(np.float64),
                       np.asarray(SCALES)[classes[:, 1]],
                       np.asarray(ORIENTATIONS)[classes[:, 2]],
                       positions[classes[:, 3]], positions[classes[:, 4]]], axis=1)
    return classes, values


@functools.lru_cache(maxsize=2)
def render(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images uint8 [N, size, size] 0/255, classes, values) of the whole grid."""
    classes, values = factor_grid(size)
    centres = np.arange(size) + 0.5  # pixel centres; row = y, column = x
    py, px = centres[None, :, None], centres[None, None, :]
    images = np.zeros((len(classes), size, size), dtype=np.uint8)
    for shape_index, shape in enumerate(SHAPES):
        rows = np.flatnonzero(classes[:, 0] == shape_index)
        for chunk in np.array_split(rows, max(1, len(rows) * size * size // (1 << 21))):
            scale, theta, cx, cy = (values[chunk, k][:, None, None] for k in (1, 2, 3, 4))
            dx, dy = px - cx, py - cy  # [n, size, size]
            # Rotate each pixel offset by -θ into the shape's frame, then scale to unit size.
            unit = scale * RADIUS * size
            u = (dx * np.cos(theta) + dy * np.sin(theta)) / unit
            v = (-dx * np.sin(theta) + dy * np.cos(theta)) / unit
            images[chunk] = inside(shape, u, v) * np.uint8(255)
    for array in (images, classes, values):
        array.setflags(write=False)  # shared by later calls
    return images, classes, values


@DATASETS.register("shapes")
class Shapes(Dataset):
    name = "shapes"
    description = ("procedural shapes with 5 known factors (shape, scale, orientation, x, "
                   "y), 6912 binary images rendered exactly; a seeded 10% is the test split")

    @dataclass
    class Options:
        shapes_size: int = option(32, "Image side of the procedural shapes data set, in "
                                  "pixels.", low=16, high=128)

    examples = [{}, {"shapes_size": 16}]

    @classmethod
    def describe_config(cls, cfg) -> str:
        return f"shapes {cfg.shapes_size}x{cfg.shapes_size}"

    def load(self, split: Split, cfg) -> ImageSet:
        _check_split(split)
        _reject_file_options(self.name, cfg)
        images, classes, values = render(cfg.shapes_size)
        train_idx, test_idx = holdout_indices(len(images), TEST_FRACTION, HOLDOUT_SEED,
                                              what="shapes")
        idx = train_idx if split == "train" else test_idx
        # Fancy indexing copies: the cached render is never handed out.
        return ImageSet(images=torch.from_numpy(images[idx]),
                        labels=torch.from_numpy(classes[idx, 0].copy()),
                        source=f"vaelab procedural shapes {cfg.shapes_size}x"
                               f"{cfg.shapes_size} [seeded {TEST_FRACTION:.0%} test hold-out]",
                        classes=list(SHAPES),
                        factors=torch.from_numpy(classes[idx]),
                        factor_values=torch.from_numpy(values[idx]),
                        factor_names=list(FACTOR_NAMES))

    def info(self, data_dir: str | None = None) -> DatasetInfo:
        n = len(SHAPES) * len(SCALES) * len(ORIENTATIONS) * N_POSITIONS ** 2
        n_test = len(holdout_indices(n, TEST_FRACTION, HOLDOUT_SEED, what="shapes")[1])
        return DatasetInfo(self.name, self.description, True, "generated by vaelab",
                           (32, 32), n - n_test, n_test)
