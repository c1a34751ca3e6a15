"""IDX reader: the real shared files, every kind of corruption, and a fuzz test."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_data_dir
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vaelab.data.idx import parse_idx, read_idx, read_idx_header
from vaelab.errors import VaelabError


@pytest.fixture
def shared_data() -> Path:
    found = shared_data_dir()
    if found is None:
        pytest.skip("real MNIST files not found (set VAELAB_DATA)")
    return found


def idx_bytes(array: np.ndarray, code: int = 0x08) -> bytes:
    """Encode ``array`` as IDX (big-endian), the way the MNIST files are written."""
    dtype = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}[code]
    header = bytes([0, 0, code, array.ndim]) + b"".join(
        int(size).to_bytes(4, "big") for size in array.shape)
    return header + array.astype(dtype).tobytes()


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_real_files(shared_data: Path, name: str) -> None:
    folder = shared_data / name
    images = read_idx(folder / "train-images-idx3-ubyte.gz")
    labels = read_idx(folder / "train-labels-idx1-ubyte.gz")
    assert images.shape == (60000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (60000,) and set(np.unique(labels)) == set(range(10))
    assert images.flags.writeable and images.max() == 255
    assert read_idx(folder / "t10k-labels-idx1-ubyte.gz").shape == (10000,)
    assert read_idx_header(folder / "t10k-images-idx3-ubyte.gz")[1] == (10000, 28, 28)


@pytest.mark.parametrize("code,dtype", [(0x08, np.uint8), (0x09, np.int8), (0x0B, np.int16),
                                        (0x0C, np.int32), (0x0D, np.float32),
                                        (0x0E, np.float64)])
@pytest.mark.parametrize("compress", [False, True])
def test_round_trip(tmp_path: Path, code: int, dtype: type, compress: bool) -> None:
    offset = 0 if dtype == np.uint8 else -5  # negative values where the type has them
    array = (np.arange(24).reshape(2, 3, 4) + offset).astype(dtype)
    data = idx_bytes(array, code)
    path = write(tmp_path / ("a.gz" if compress else "a"),
                 gzip.compress(data) if compress else data)
    got = read_idx(path)
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative
    np.testing.assert_array_equal(got, array)
    header_dtype, shape = read_idx_header(path)
    assert shape == (2, 3, 4) and header_dtype.newbyteorder("=") == np.dtype(dtype)


def test_raw_file_named_gz_still_reads(tmp_path: Path) -> None:
    array = np.ones((2, 2, 2), np.uint8)
    np.testing.assert_array_equal(read_idx(write(tmp_path / "x.gz", idx_bytes(array))), array)


def test_truncated_data_says_expected_and_got(tmp_path: Path) -> None:
    path = write(tmp_path / "t.idx", idx_bytes(np.zeros((3, 4, 4), np.uint8))[:-5])
    with pytest.raises(VaelabError, match=r"t\.idx is truncated.*48 data bytes.*holds 43"):
        read_idx(path)


def test_truncated_gzip_is_reported(tmp_path: Path) -> None:
    data = gzip.compress(idx_bytes(np.arange(200, dtype=np.uint8).reshape(2, 10, 10)))
    path = write(tmp_path / "t.gz", data[: len(data) // 2])
    with pytest.raises(VaelabError, match=r"t\.gz is not a valid gzip file or is truncated"):
        read_idx(path)
    with pytest.raises(VaelabError, match=r"h\.gz is not a valid gzip file"):
        read_idx_header(write(tmp_path / "h.gz", data[:12]))


def test_trailing_bytes(tmp_path: Path) -> None:
    path = write(tmp_path / "x", idx_bytes(np.zeros((2, 2), np.uint8)) + b"\0")
    with pytest.raises(VaelabError, match="has trailing bytes"):
        read_idx(path)


@pytest.mark.parametrize("data,message", [
    (b"\x00\x00\x08\x03\x00\x00", "truncated inside its header"),
    (b"\x12\x34\x08\x01\x00\x00\x00\x01\x07", "is not an IDX file"),
    (b"\x00\x00\x07\x01\x00\x00\x00\x01\x07", "is not an IDX file"),  # unknown type code
    (b"\x00\x00\x08\x00", "0 dimensions"),
    (b"\x00\x00", "too short"),
    (b"", "too short"),
])
def test_bad_headers_name_the_file(tmp_path: Path, data: bytes, message: str) -> None:
    path = write(tmp_path / "bad-file", data)
    with pytest.raises(VaelabError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_gzip_garbage(tmp_path: Path) -> None:
    with pytest.raises(VaelabError, match=r"g\.gz is not a valid gzip file"):
        read_idx(write(tmp_path / "g.gz", b"\x1f\x8b" + b"garbage" * 10))
    with pytest.raises(VaelabError, match=r"h\.gz is not a valid gzip file"):
        read_idx(write(tmp_path / "h.gz", b"<html>404 not found</html>"))


def test_absurd_dimensions_do_not_allocate(tmp_path: Path) -> None:
    header = bytes([0, 0, 0x0E, 3]) + (2**32 - 1).to_bytes(4, "big") * 3
    with pytest.raises(VaelabError, match="truncated"):
        read_idx(write(tmp_path / "huge", header + b"\0" * 8))


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(VaelabError, match="does not exist"):
        read_idx(tmp_path / "nope.gz")
    with pytest.raises(VaelabError, match=f"cannot read IDX file {tmp_path}"):
        read_idx(tmp_path)
    with pytest.raises(VaelabError, match="does not exist"):
        read_idx_header(tmp_path / "nope.gz")


def _only_vaelab_error(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    for reader in (read_idx, read_idx_header):
        try:
            reader(path)
        except VaelabError as err:
            assert str(path) in str(err)
    try:
        parse_idx(data, name="fuzz")
    except VaelabError:
        pass


_FUZZ = settings(max_examples=150, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture])


@_FUZZ
@given(data=st.binary(max_size=300))
def test_fuzz_raw_bytes(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    _only_vaelab_error(tmp_path_factory.mktemp("fuzz") / "f", data)


@_FUZZ
@given(data=st.binary(max_size=300), how=st.sampled_from(["valid-gz", "gz-magic", "gz-cut"]))
def test_fuzz_gzip(tmp_path_factory: pytest.TempPathFactory, data: bytes, how: str) -> None:
    packed = {"valid-gz": gzip.compress(data), "gz-magic": b"\x1f\x8b" + data,
              "gz-cut": gzip.compress(data)[: len(data) // 2 + 5]}[how]
    _only_vaelab_error(tmp_path_factory.mktemp("fuzz") / "f.gz", packed)


@_FUZZ
@given(code=st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x0A]),
       dims=st.lists(st.integers(0, 6), min_size=0, max_size=4),
       payload=st.binary(max_size=400))
def test_fuzz_structured_headers(tmp_path_factory: pytest.TempPathFactory, code: int,
                                 dims: list[int], payload: bytes) -> None:
    header = bytes([0, 0, code, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)
    _only_vaelab_error(tmp_path_factory.mktemp("fuzz") / "f", header + payload)
