"""CSV (Kaggle layout) and npz datasets: round trips, every error naming file and line,
hold-out test splits, and a fuzz test of the CSV reader."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vaelab.config import DataConfig
from vaelab.data.datasets import load_images
from vaelab.data.files import parse_kaggle_csv, parse_npz
from vaelab.errors import VaelabError

HEADER = "label," + ",".join(f"pixel{i}" for i in range(1, 17))  # 4x4 images


def csv_text(labels: np.ndarray, images: np.ndarray, header: str = HEADER) -> str:
    rows = [",".join(str(int(v)) for v in [label, *image.ravel()])
            for label, image in zip(labels, images, strict=True)]
    return "\n".join([header, *rows]) + "\n"


def sample(n: int = 10, side: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 10, n), rng.integers(0, 256, (n, side, side)).astype(np.uint8)


@pytest.fixture
def good_csv(tmp_path: Path) -> Path:
    labels, images = sample()
    path = tmp_path / "good.csv"
    path.write_text(csv_text(labels, images))
    return path


def write_lines(tmp_path: Path, *lines: str, name: str = "bad.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


ROW = "3," + ",".join(["0"] * 16)


# --- CSV ------------------------------------------------------------------------------

def test_csv_round_trip(good_csv: Path) -> None:
    labels, images = sample()
    got_images, got_labels = parse_kaggle_csv(good_csv)
    assert got_images.dtype == np.uint8 and got_images.shape == (10, 4, 4)
    assert got_labels.dtype == np.int64
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)


def test_csv_crlf_bom_and_blank_lines(tmp_path: Path) -> None:
    labels, images = sample(3)
    text = "\ufeff" + csv_text(labels, images).replace("\n", "\r\n") + "\r\n\r\n"
    path = tmp_path / "windows.csv"
    path.write_bytes(text.encode("utf-8"))
    got_images, got_labels = parse_kaggle_csv(path)
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)


@pytest.mark.parametrize("lines,pattern", [
    ((HEADER, ROW, "1,2,3"), r"bad\.csv line 3 has 3 values, expected 17"),
    ((HEADER, ROW, ROW + ",5"), r"line 3 has 18 values"),
    ((HEADER, ROW, ROW, "4,abc" + ",0" * 15), r"line 4, column 2: 'abc' is not an integer"),
    ((HEADER, "4,0.5" + ",0" * 15), r"line 2, column 2: '0.5' is not an integer"),
    ((HEADER, ROW, "4,300" + ",0" * 15), r"line 3, column 2: pixel value 300 is outside 0\.\.255"),
    ((HEADER, ROW, "4" + ",0" * 15 + ",-1"), r"line 3, column 17: pixel value -1 is outside"),
    ((HEADER, "-2" + ",0" * 16), r"line 2, column 1: label -2"),
    ((HEADER, ROW, "1,99999999999999" + ",0" * 15), r"line 3, column 2: pixel value 99999"),
    ((HEADER, "", ROW, "", "1,2"), r"line 5 has 2 values"),  # blank lines still counted
    ((HEADER, ROW, "", "7,256" + ",0" * 15), r"line 4, column 2: pixel value 256"),
    ((ROW, ROW), r"line 1 is data, not a header"),
    (("class," + HEADER[6:], ROW), r"line 1 starts with 'class', not 'label'"),
    (("label,p1,p2,p3", "1,2,3,4"), r"3 pixel columns, which is not the square"),
    (("label",), r"0 pixel columns"),
    ((HEADER,), r"bad\.csv has a header but no data lines"),
    ((HEADER, "", ""), r"has a header but no data lines"),
    ((HEADER, "   "), r"line 2 has 1 values"),
])
def test_csv_errors_name_file_and_line(tmp_path: Path, lines: tuple[str, ...],
                                        pattern: str) -> None:
    path = write_lines(tmp_path, *lines)
    with pytest.raises(VaelabError, match=pattern) as info:
        parse_kaggle_csv(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_csv_empty_missing_and_not_text(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(VaelabError, match=r"empty\.csv is empty"):
        parse_kaggle_csv(tmp_path / "empty.csv")
    with pytest.raises(VaelabError, match=r"missing\.csv does not exist"):
        parse_kaggle_csv(tmp_path / "missing.csv")
    (tmp_path / "latin.csv").write_bytes((HEADER + "\n" + ROW + "\xff\n").encode("latin-1"))
    with pytest.raises(VaelabError, match=r"latin\.csv line 2 is not UTF-8"):
        parse_kaggle_csv(tmp_path / "latin.csv")
    (tmp_path / "binary.csv").write_bytes(b"\x89PNG\r\n\x1a\n\0\0")
    with pytest.raises(VaelabError, match=r"binary\.csv line 1 is not UTF-8"):
        parse_kaggle_csv(tmp_path / "binary.csv")


def test_csv_dataset_hold_out_and_test_path(good_csv: Path, tmp_path: Path) -> None:
    cfg = DataConfig(dataset="csv", path=str(good_csv))
    train, test = load_images(cfg, "train"), load_images(cfg, "test")
    assert (len(train), len(test)) == (9, 1)  # a seeded 10% hold-out
    assert "hold-out" in train.source and train.classes is None
    # Train and test together are exactly the file, with no image in both.
    all_images, _ = parse_kaggle_csv(good_csv)
    rows = {bytes(image) for image in np.concatenate([train.images.numpy(),
                                                      test.images.numpy()])}
    assert rows == {bytes(image) for image in all_images} and len(rows) == 10
    assert torch.equal(load_images(cfg, "test").images, test.images)  # fixed seed

    labels, images = sample(4, seed=1)
    (tmp_path / "test.csv").write_text(csv_text(labels, images))
    cfg = DataConfig(dataset="csv", path=str(good_csv), test_path=str(tmp_path / "test.csv"))
    assert len(load_images(cfg, "train")) == 10
    test = load_images(cfg, "test")
    np.testing.assert_array_equal(test.images.numpy()[:, 0], images)  # [N, C=1, H, W]
    assert test.source == str(tmp_path / "test.csv")


def test_csv_dataset_needs_a_path() -> None:
    with pytest.raises(VaelabError, match="csv needs --data-path"):
        load_images(DataConfig(dataset="csv"), "train")


def test_cached_parse_is_not_shared_with_callers(good_csv: Path) -> None:
    cfg = DataConfig(dataset="csv", path=str(good_csv))
    first = load_images(cfg, "train")
    first.images.zero_()  # a caller scribbling on its tensor must not reach the cache
    assert load_images(cfg, "train").images.any()


def test_csv_file_changed_on_disk_is_reread(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text(csv_text(*sample(5)))
    cfg = DataConfig(dataset="csv", path=str(path))
    assert len(load_images(cfg, "train")) + len(load_images(cfg, "test")) == 5
    path.write_text(csv_text(*sample(20)))
    assert len(load_images(cfg, "train")) + len(load_images(cfg, "test")) == 20


_FUZZ = settings(max_examples=150, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture])


def _only_vaelab_error(path: Path) -> None:
    try:
        images, labels = parse_kaggle_csv(path)
    except VaelabError as err:
        assert str(path) in str(err)
    else:
        assert images.dtype == np.uint8 and images.ndim == 3 and len(images) == len(labels)


@_FUZZ
@given(body=st.text(alphabet=st.sampled_from(list("0123456789,-+ .\n\r\tabe\x00\u2028\xff")),
                    max_size=300),
       header=st.sampled_from(["label,a", "label,a,b,c,d", "label", "x,y", "", "label,a\r"]))
def test_fuzz_csv_text(tmp_path_factory: pytest.TempPathFactory, body: str, header: str) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "f.csv"
    path.write_text(header + "\n" + body, encoding="utf-8")
    _only_vaelab_error(path)


@_FUZZ
@given(data=st.binary(max_size=300))
def test_fuzz_csv_bytes(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "f.csv"
    path.write_bytes(b"label,a,b,c,d\n" + data)
    _only_vaelab_error(path)


@pytest.mark.slow
def test_csv_60000_rows_load_in_a_few_seconds(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    table = np.concatenate([rng.integers(0, 10, (60000, 1)),
                            rng.integers(0, 256, (60000, 784))], axis=1)
    path = tmp_path / "fashion-mnist_train.csv"
    with open(path, "w") as out:
        out.write("label," + ",".join(f"pixel{i}" for i in range(1, 785)) + "\n")
        np.savetxt(out, table, fmt="%d", delimiter=",")
    start = time.perf_counter()
    images, labels = parse_kaggle_csv(path)
    assert time.perf_counter() - start < 5.0
    assert images.shape == (60000, 28, 28) and labels.shape == (60000,)


# --- npz ------------------------------------------------------------------------------

def save_npz(tmp_path: Path, name: str = "data.npz", **arrays: np.ndarray) -> Path:
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def test_npz_round_trip_shapes(tmp_path: Path) -> None:
    labels, images = sample()
    for x in (images, images.reshape(10, 16), images[..., None], images[:, None]):
        got, got_labels = parse_npz(save_npz(tmp_path, x=x, y=labels))
        np.testing.assert_array_equal(got, images)
        np.testing.assert_array_equal(got_labels, labels)
    got, got_labels = parse_npz(save_npz(tmp_path, x=images.astype(np.int64)))
    assert got.dtype == np.uint8 and got_labels is None


def test_npz_float_and_bool(tmp_path: Path) -> None:
    grey = np.array([[[0.0, 0.5], [1.0, 0.2]]], dtype=np.float32)
    got, _ = parse_npz(save_npz(tmp_path, x=grey))
    np.testing.assert_array_equal(got, [[[0, 128], [255, 51]]])  # round(x * 255)
    got, _ = parse_npz(save_npz(tmp_path, x=grey > 0.3))
    np.testing.assert_array_equal(got, [[[0, 255], [255, 0]]])


@pytest.mark.parametrize("arrays,pattern", [
    ({"x": np.array([[[0.1, np.nan]], [[np.inf, 0.0]]])}, r"x holds 2 NaN/Inf values"),
    ({"x": np.full((2, 2, 2), -np.inf)}, r"NaN/Inf"),
    ({"x": np.full((2, 2, 2), 1.5)}, r"float x must lie in \[0, 1\], found 1\.5"),
    ({"x": np.full((2, 2, 2), 300)}, r"integer x must lie in 0\.\.255, found 300"),
    ({"x": np.full((2, 2, 2), -1)}, r"integer x must lie in 0\.\.255, found -1"),
    ({"x": np.zeros((3, 10))}, r"10 pixels per row is not a square"),
    ({"x": np.zeros(9)}, r"x has shape \[9\]"),
    # [2, 3, 4, 4] is now an RGB image set; 4 channels (RGBA) are refused.
    ({"x": np.zeros((2, 4, 4, 4))}, r"x has shape \[2, 4, 4, 4\]"),
    ({"x": np.zeros((0, 4, 4))}, r"holds no pixels"),
    ({"x": np.array([["a"]])}, r"dtype <U1"),
    ({"images": np.zeros((2, 2, 2))}, r"has no array 'x' \(it has: images\)"),
    ({"x": np.zeros((2, 2, 2)), "y": np.zeros(3, np.int64)}, r"y has shape \[3\], expected \[2\]"),
    ({"x": np.zeros((2, 2, 2)), "y": np.zeros(2)}, r"y has dtype float64"),
    ({"x": np.zeros((2, 2, 2)), "y": np.array([0, -1])}, r"labels from -1"),
])
def test_npz_errors(tmp_path: Path, arrays: dict[str, np.ndarray], pattern: str) -> None:
    path = save_npz(tmp_path, **arrays)
    with pytest.raises(VaelabError, match=pattern) as info:
        parse_npz(path)
    assert str(path) in str(info.value)


def test_npz_bad_files(tmp_path: Path) -> None:
    (tmp_path / "junk.npz").write_bytes(b"this is not a zip file")
    with pytest.raises(VaelabError, match=r"junk\.npz is not a readable \.npz file"):
        parse_npz(tmp_path / "junk.npz")
    np.save(tmp_path / "single.npy", np.zeros((2, 2, 2)))
    with pytest.raises(VaelabError, match=r"single\.npy holds a single array"):
        parse_npz(tmp_path / "single.npy")
    path = save_npz(tmp_path, "objects.npz", x=np.array([None, 1], dtype=object))
    with pytest.raises(VaelabError, match=r"objects\.npz: cannot read its arrays"):
        parse_npz(path)
    with pytest.raises(VaelabError, match=r"missing\.npz does not exist"):
        parse_npz(tmp_path / "missing.npz")


def test_npz_dataset_and_image_size_mismatch(tmp_path: Path) -> None:
    labels, images = sample(20)
    path = save_npz(tmp_path, x=images, y=labels)
    cfg = DataConfig(dataset="npz", path=str(path))
    train, test = load_images(cfg, "train"), load_images(cfg, "test")
    assert (len(train), len(test)) == (18, 2) and train.labels is not None
    one = save_npz(tmp_path, "one.npz", x=images[:1])
    with pytest.raises(VaelabError, match="holding out a test split needs at least 2"):
        load_images(DataConfig(dataset="npz", path=str(one)), "train")
