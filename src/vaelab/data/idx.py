"""Reader for the IDX format of MNIST and Fashion-MNIST (own code, no torchvision).

IDX layout (http://yann.lecun.com/exdb/mnist/, "FILE FORMATS"): a 4-byte magic number
``0x00 0x00 <dtype code> <ndim>``, then ``ndim`` big-endian uint32 dimension sizes, then
the data in C order, big-endian. Files may be gzipped; we recognise gzip by its magic
bytes (0x1f 0x8b), not by the file name, so a ``.gz`` name on a raw file still works.

Every problem with the bytes raises ``VaelabError`` naming the file: the reader must never
raise anything else, whatever the input (the tests fuzz it).
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from vaelab.errors import VaelabError

# dtype code (third magic byte) -> big-endian numpy dtype, as listed in the IDX spec.
IDX_DTYPES: dict[int, str] = {
    0x08: ">u1",  # unsigned byte (MNIST images and labels)
    0x09: ">i1",  # signed byte
    0x0B: ">i2",  # short
    0x0C: ">i4",  # int
    0x0D: ">f4",  # float
    0x0E: ">f8",  # double
}
GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in an IDX file (gzipped or raw), in native byte order.

    The returned array is a writable copy, so ``torch.from_numpy`` can use it as is.
    """
    path = Path(path)
    return parse_idx(_read_bytes(path), name=str(path))


def read_idx_header(path: str | Path) -> tuple[np.dtype, tuple[int, ...]]:
    """(dtype, shape) from an IDX file's header only: cheap even for the 47 MB image
    file, because a gzip stream can be decompressed from the start just far enough."""
    path = Path(path)
    try:
        with open(path, "rb") as raw:
            is_gzip = raw.read(2) == GZIP_MAGIC
        opener = gzip.open if is_gzip else open
        with opener(path, "rb") as stream:
            head = stream.read(4)
            ndim = head[3] if len(head) == 4 else 0
            head += stream.read(4 * ndim)
    except (OSError, EOFError, zlib.error) as err:
        raise _gzip_or_os_error(path, err) from None
    return _parse_header(head, str(path))


def parse_idx(data: bytes, *, name: str) -> np.ndarray:
    """Parse the (already decompressed) bytes of an IDX file; ``name`` is used in errors."""
    dtype, shape = _parse_header(data, name)
    offset = 4 + 4 * len(shape)
    expected = dtype.itemsize * _product(shape)
    got = len(data) - offset
    if got != expected:
        # A truncated download is the common case; extra bytes mean a wrong header.
        problem = "is truncated" if got < expected else "has trailing bytes"
        raise VaelabError(
            f"IDX file {name} {problem}: its header says shape {shape} of {dtype.name} "
            f"({expected} data bytes) but it holds {got}; delete it and download it again")
    array = np.frombuffer(data, dtype=dtype, count=_product(shape), offset=offset)
    # astype to native order always copies: the result is writable and owns its memory.
    return array.astype(dtype.newbyteorder("="), copy=True).reshape(shape)


def _parse_header(data: bytes, name: str) -> tuple[np.dtype, tuple[int, ...]]:
    if len(data) < 4:
        raise VaelabError(f"IDX file {name} is too short ({len(data)} bytes) to hold an IDX "
                          "header; it is empty or truncated, download it again")
    zero1, zero2, code, ndim = data[0], data[1], data[2], data[3]
    if zero1 != 0 or zero2 != 0 or code not in IDX_DTYPES:
        raise VaelabError(
            f"{name} is not an IDX file (magic number 0x{data[:4].hex()}, expected "
            f"0x0000 + a type code such as 08 + the number of dimensions); check the file "
            f"name and download it again")
    if ndim == 0:
        raise VaelabError(f"IDX file {name} declares 0 dimensions; it is corrupt, download it "
                          "again")
    if len(data) < 4 + 4 * ndim:
        raise VaelabError(f"IDX file {name} is truncated inside its header ({len(data)} bytes, "
                          f"the header alone needs {4 + 4 * ndim}); download it again")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.dtype(IDX_DTYPES[code]), shape


def _read_bytes(path: Path) -> bytes:
    """The file's content, decompressed if it is gzip."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise VaelabError(f"IDX file {path} does not exist") from None
    except OSError as err:
        raise VaelabError(f"cannot read IDX file {path}: {err.strerror or err}") from None
    if not data.startswith(GZIP_MAGIC):
        if path.suffix == ".gz" and not data.startswith(b"\x00\x00"):
            raise VaelabError(f"{path} is not a valid gzip file (it does not start with the "
                              "gzip magic bytes 1f 8b); delete it and download it again")
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as err:
        raise _gzip_or_os_error(path, err) from None


def _gzip_or_os_error(path: Path, err: BaseException) -> VaelabError:
    if isinstance(err, FileNotFoundError):
        return VaelabError(f"IDX file {path} does not exist")
    if isinstance(err, gzip.BadGzipFile | EOFError | zlib.error):
        return VaelabError(f"{path} is not a valid gzip file or is truncated ({err}); delete "
                           "it and download it again")
    return VaelabError(f"cannot read IDX file {path}: {getattr(err, 'strerror', None) or err}")


def _product(shape: tuple[int, ...]) -> int:
    total = 1
    for size in shape:
        total *= size  # Python ints: no overflow even for absurd headers
    return total
