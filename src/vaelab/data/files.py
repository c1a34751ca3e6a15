"""Parsers for user image files: Kaggle-layout CSV and npz.

Both return ``(images, labels)``: uint8 numpy array [N, H, W] (npz colour: [N, 3, H, W])
and int64 [N] (or None).
Every problem raises a one-line VaelabError naming the file, and for CSV the line.

The CSV reader has a fast path (``np.loadtxt`` in C: 60 000 Fashion-MNIST rows in about
a second) and, only when that fails or finds bad values, a slow line-by-line diagnosis
whose sole job is to name the first bad line; so errors are exact without slowing down
good files.
"""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path

import numpy as np

from vaelab.errors import VaelabError

_LINE_BREAK = re.compile(rb"\r\n|\r|\n")  # the same line ends np.loadtxt accepts
# One CSV line of optionally signed decimal integers (ASCII digits only, as loadtxt).
_INT_LINE = re.compile(r"\s*[+-]?[0-9]+\s*(?:,\s*[+-]?[0-9]+\s*)*", re.ASCII)
_INT = re.compile(r"\s*[+-]?[0-9]+\s*", re.ASCII)
_HEADER_PROBE = 1 << 20  # a header line longer than 1 MiB is not a Kaggle header
_INT32_MAX = 2**31 - 1


def parse_kaggle_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels from a Kaggle-layout CSV: a header ``label,pixel1,...,pixelN``
    (N a perfect square, the image side squared), then one image per line: the integer
    label and N integer pixels in 0..255. Empty lines are skipped."""
    width = _check_header(path)
    side = math.isqrt(width - 1)
    table = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data"
            table = np.loadtxt(path, delimiter=",", dtype=np.int32, comments=None,
                               skiprows=1, ndmin=2, encoding="utf-8")
    except Exception as err:  # noqa: BLE001 - any failure goes to the exact diagnosis
        raise _diagnose_csv(path, width, table=None, numpy_error=err) from None
    labels, pixels = table[:, 0], table[:, 1:]
    if (table.shape[0] == 0 or table.shape[1] != width or (labels < 0).any()
            or (pixels < 0).any() or (pixels > 255).any()):
        raise _diagnose_csv(path, width, table=table, numpy_error=None)
    images = pixels.astype(np.uint8).reshape(-1, side, side)
    return images, labels.astype(np.int64)


def _check_header(path: Path) -> int:
    """The number of columns the header announces (label + N pixels, N square)."""
    try:
        with open(path, "rb") as stream:
            head = stream.read(_HEADER_PROBE)
    except FileNotFoundError:
        raise VaelabError(f"CSV file {path} does not exist; check --data-path / "
                          "--test-path") from None
    except OSError as err:
        raise VaelabError(f"cannot read CSV file {path}: {err.strerror or err}") from None
    if not head.strip():
        raise VaelabError(f"CSV file {path} is empty; expected a header "
                          "label,pixel1,...,pixelN and one image per line")
    first = _LINE_BREAK.split(head.removeprefix(b"\xef\xbb\xbf"), maxsplit=1)[0]
    if len(first) == len(head) and len(head) == _HEADER_PROBE:
        raise VaelabError(f"{path} line 1 is longer than 1 MiB; is this a CSV file with "
                          "one image per line?")
    try:
        fields = [field.strip().strip('"').strip() for field in first.decode("utf-8").split(",")]
    except UnicodeDecodeError:
        raise VaelabError(f"{path} line 1 is not UTF-8 text; is this a CSV file?") from None
    if fields[0].lower() != "label":
        what = ("is data, not a header" if _INT.fullmatch(fields[0])
                else f"starts with {fields[0][:40]!r}, not 'label'")
        raise VaelabError(f"{path} line 1 {what}: the Kaggle CSV layout starts with the "
                          "header label,pixel1,...,pixelN; add or fix that line")
    n_pixels = len(fields) - 1
    side = math.isqrt(n_pixels)
    if n_pixels == 0 or side * side != n_pixels:
        raise VaelabError(f"{path}: the header has {n_pixels} pixel columns, which is not the "
                          "square of an image side (e.g. 784 = 28x28); check the header")
    return len(fields)


def _diagnose_csv(path: Path, width: int, *, table: np.ndarray | None,
                  numpy_error: Exception | None) -> VaelabError:
    """The first problem in the CSV, as an error naming its line (slow: error path only).

    ``table`` is the fast path's parse when it succeeded but found bad values; its rows
    are the non-empty lines, in order."""
    try:
        raw_lines = _LINE_BREAK.split(path.read_bytes())
    except OSError as err:
        return VaelabError(f"cannot read CSV file {path}: {err.strerror or err}")
    data_lines: list[tuple[int, str]] = []  # (1-based line number, text), non-empty lines
    for number, raw in enumerate(raw_lines[1:], start=2):
        if raw == b"":
            continue  # loadtxt skips empty lines too
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            return VaelabError(f"{path} line {number} is not UTF-8 text; save the file as "
                               "UTF-8 CSV")
        values = line.split(",")
        if len(values) != width:
            return VaelabError(f"{path} line {number} has {len(values)} values, expected "
                               f"{width} (a label and {width - 1} pixels, as in the header)")
        if table is None and not _INT_LINE.fullmatch(line):
            column, value = next((c, v) for c, v in enumerate(values, 1)
                                 if not _INT.fullmatch(v))
            return VaelabError(f"{path} line {number}, column {column}: {value.strip()[:40]!r} "
                               "is not an integer; labels and pixels must be whole numbers")
        data_lines.append((number, line))
    if not data_lines:
        return VaelabError(f"CSV file {path} has a header but no data lines; expected one "
                           "image per line after the header")
    if table is not None and len(table) == len(data_lines):
        bad = ((table[:, 0] < 0) | (table[:, 1:] < 0).any(axis=1)
               | (table[:, 1:] > 255).any(axis=1))
        rows = np.flatnonzero(bad)
        if len(rows):
            problem = _value_problem(table[rows[0]].tolist())
            return VaelabError(f"{path} line {data_lines[rows[0]][0]}, {problem}")
    # Every line is well-formed integers, so loadtxt failed on a value too large for it.
    for number, line in data_lines:
        problem = _value_problem([int(v) for v in line.split(",")])
        if problem:
            return VaelabError(f"{path} line {number}, {problem}")
    return VaelabError(f"CSV file {path} could not be read as label,pixel1,...,pixelN "
                       f"integers: {str(numpy_error)[:120]}")


def _value_problem(values: list[int]) -> str | None:
    """What is wrong with one row's integer values ("column C: ..."), or None."""
    if values[0] < 0 or values[0] > _INT32_MAX:
        return f"column 1: label {values[0]} must be a whole number from 0 to {_INT32_MAX}"
    for column, value in enumerate(values[1:], start=2):
        if not 0 <= value <= 255:
            return f"column {column}: pixel value {value} is outside 0..255"
    return None


def parse_npz(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Images (array ``x``) and optional labels (``y``) from an npz file.

    ``x``: uint8 (or any integer type) in 0..255, bool, or float in [0, 1]; shape
    [N, H, W], [N, H*W] with H*W square, or [N, H, W, C] / [N, C, H, W] with C = 1 (grey)
    or 3 (RGB). Grey images come back [N, H, W], colour ones [N, 3, H, W] (channels
    first, vaelab/shapes.py). Floats are quantised to uint8 (round(x * 255)): vaelab keeps
    every dataset as one uint8 tensor.
    """
    x, y = _read_npz(path)
    images = _npz_images(path, x)
    labels = None if y is None else _npz_labels(path, y, len(images))
    return images, labels


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    if not path.is_file():
        raise VaelabError(f"npz file {path} does not exist; check --data-path / --test-path")
    try:
        archive = np.load(path, allow_pickle=False)  # never unpickle user files
    except Exception as err:  # noqa: BLE001 - any decoding failure means a bad file
        raise VaelabError(f"{path} is not a readable .npz file ({type(err).__name__}: "
                          f"{str(err)[:80]}); save it with np.savez(path, x=images, "
                          "y=labels)") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise VaelabError(f"{path} holds a single array, not an .npz archive; save it with "
                          "np.savez(path, x=images, y=labels)")
    with archive:
        if "x" not in archive.files:
            raise VaelabError(f"{path} has no array 'x' (it has: "
                              f"{', '.join(archive.files) or 'nothing'}); save the images "
                              "as x, e.g. np.savez(path, x=images, y=labels)")
        try:
            x = archive["x"]
            y = archive["y"] if "y" in archive.files else None
        except Exception as err:  # noqa: BLE001 - a corrupt member or an object array
            raise VaelabError(f"{path}: cannot read its arrays ({type(err).__name__}: "
                              f"{str(err)[:80]}); save plain numeric arrays") from None
    return x, y


def _npz_images(path: Path, x: np.ndarray) -> np.ndarray:
    if x.ndim == 4:
        x = _channels_first(path, x)
        if x.shape[1] == 1:
            x = x[:, 0]  # grey: [N, H, W], as every grey reader returns
    if x.ndim == 2:
        side = math.isqrt(x.shape[1])
        if side * side != x.shape[1] or side == 0:
            raise VaelabError(f"{path}: x has shape {list(x.shape)}; {x.shape[1]} pixels per "
                              "row is not a square image; save x as [N, H, W]")
        x = x.reshape(x.shape[0], side, side)
    if x.ndim not in (3, 4):
        raise VaelabError(f"{path}: x has shape {list(x.shape)}; expected [N, H, W] or "
                          "[N, H*W] grey images, or [N, H, W, 3] / [N, 3, H, W] colour images")
    if 0 in x.shape:
        raise VaelabError(f"{path}: x has shape {list(x.shape)}, which holds no pixels")
    if x.dtype == np.bool_:
        return x.astype(np.uint8) * np.uint8(255)
    if np.issubdtype(x.dtype, np.integer):
        low, high = int(x.min()), int(x.max())
        if low < 0 or high > 255:
            raise VaelabError(f"{path}: integer x must lie in 0..255, found {low}..{high}")
        return x.astype(np.uint8)
    if np.issubdtype(x.dtype, np.floating):
        bad = ~np.isfinite(x)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise VaelabError(f"{path}: x holds {int(bad.sum())} NaN/Inf values (first at "
                              f"index {list(first)}); fix or drop those images")
        low, high = float(x.min()), float(x.max())
        if low < 0.0 or high > 1.0:
            raise VaelabError(f"{path}: float x must lie in [0, 1], found {low:g}..{high:g}; "
                              "divide by 255 or save uint8 values 0..255")
        return np.rint(x.astype(np.float64) * 255.0).astype(np.uint8)
    raise VaelabError(f"{path}: x has dtype {x.dtype}; save uint8 0..255 or float in [0, 1]")


def _channels_first(path: Path, x: np.ndarray) -> np.ndarray:
    """[N, C, H, W] of a 4-D x stored channels-last [N, H, W, C] or channels-first
    [N, C, H, W], with C = 1 (grey) or 3 (RGB): the layout is told by where the 1 or 3 is."""
    last, first = x.shape[3] in (1, 3), x.shape[1] in (1, 3)
    if last and first:
        raise VaelabError(f"{path}: x has shape {list(x.shape)}, which reads both as "
                          "[N, H, W, C] and [N, C, H, W]; save images of at least 4×4 pixels")
    if last:
        return np.moveaxis(x, 3, 1)
    if first:
        return x
    raise VaelabError(f"{path}: x has shape {list(x.shape)}; 4-D images need 1 (grey) or 3 "
                      "(RGB) channels, as [N, H, W, C] or [N, C, H, W] (drop an alpha channel)")


def _npz_labels(path: Path, y: np.ndarray, n: int) -> np.ndarray:
    if y.ndim != 1 or len(y) != n:
        raise VaelabError(f"{path}: y has shape {list(y.shape)}, expected [{n}] (one label "
                          "per image in x)")
    if not np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.bool_):
        raise VaelabError(f"{path}: y has dtype {y.dtype}; labels must be integers")
    if len(y) and (int(y.min()) < 0 or int(y.max()) > _INT32_MAX):
        raise VaelabError(f"{path}: y holds labels from {int(y.min())} to {int(y.max())}; "
                          "labels are class numbers 0, 1, 2, ...")
    return y.astype(np.int64)
