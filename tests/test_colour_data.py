"""The colour data sets (cifar10, svhn, celeba) read from small files written in their
exact official formats; their download path against a local HTTP server; colour npz files;
binarisation refusing colour."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from colour_fixtures import write_celeba, write_cifar10, write_svhn
from conftest import run_cli

from vaelab.config import DataConfig
from vaelab.data import colour_files, locate, prepare_data
from vaelab.data.datasets import DATASETS, dataset_report
from vaelab.errors import VaelabError


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty home (cache), $VAELAB_DATA = tmp_path/data, no mirror, no system folder."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("VAELAB_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("VAELAB_MIRROR", raising=False)
    monkeypatch.setattr(locate, "SYSTEM_DATA_DIR", tmp_path / "system")
    return tmp_path


def load(name: str, split: str):
    return DATASETS.get(name)().load(split, DataConfig(dataset=name))


def test_cifar10_records_become_rgb_images_with_labels(isolated: Path) -> None:
    written = write_cifar10(isolated / "data" / "cifar10")
    for split, n in (("train", 20), ("test", 4)):
        images = load("cifar10", split)
        assert images.images.shape == (n, 3, 32, 32) and images.classes[0] == "airplane"
        np.testing.assert_array_equal(images.images.numpy(), written[split][0])
        np.testing.assert_array_equal(images.labels.numpy(), written[split][1])


def test_cifar10_truncated_archive_is_one_line(isolated: Path) -> None:
    folder = isolated / "data" / "cifar10"
    folder.mkdir(parents=True)
    (folder / "cifar-10-binary.tar.gz").write_bytes(b"\x1f\x8b not really")
    with pytest.raises(VaelabError, match="not a readable .tar.gz"):
        load("cifar10", "train")
    info = {row.name: row for row in dataset_report()}["cifar10"]
    assert not info.available and "not a readable .tar.gz" in info.where


def test_svhn_mat_files_map_label_10_to_digit_0(isolated: Path) -> None:
    written = write_svhn(isolated / "data" / "svhn")
    for split in ("train", "test"):
        images = load("svhn", split)
        np.testing.assert_array_equal(images.images.numpy(), written[split][0])
        np.testing.assert_array_equal(images.labels.numpy(), written[split][1])
    assert 0 in load("svhn", "train").labels.tolist()


def test_celeba_centre_crop_resize_split_and_cache(isolated: Path, monkeypatch) -> None:
    write_celeba(isolated / "data" / "celeba")
    train, test = load("celeba", "train"), load("celeba", "test")
    # Images 1 and 2 are train, 182638 test; 162771 (official validation) is in neither.
    assert train.images.shape == (2, 3, 64, 64) and test.images.shape == (1, 3, 64, 64)
    assert train.labels is None
    # The centre square survives the crop and is one colour; the border is cropped away.
    assert train.images[0].reshape(3, -1).T.unique(dim=0).tolist() == [[200, 30, 10]]
    assert test.images[0].reshape(3, -1).T.unique(dim=0).tolist() == [[90, 90, 250]]
    jpeg = train.images[1].float().mean(dim=(1, 2))  # JPEG: close to (10, 240, 60)
    assert torch.allclose(jpeg, torch.tensor([10.0, 240.0, 60.0]), atol=3)
    cached = list((isolated / "home" / ".cache" / "vaelab" / "celeba").glob("celeba-64x64-*"))
    assert len(cached) == 1
    # Read from the cache now: converting again would fail.
    from vaelab.data import datasets

    datasets._celeba_cached.cache_clear()
    monkeypatch.setattr(datasets, "convert_celeba", lambda *a, **k: 1 / 0)
    assert torch.equal(load("celeba", "train").images, train.images)


def serve(root: Path) -> tuple[str, http.server.ThreadingHTTPServer, threading.Thread]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                            functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    return f"http://127.0.0.1:{httpd.server_address[1]}/", httpd, thread


@pytest.fixture
def mirror(isolated: Path) -> Iterator[tuple[str, Path]]:
    """A local HTTP server on 127.0.0.1 serving official-format files under <name>/."""
    root = isolated / "mirror"
    write_cifar10(root / "cifar10")
    write_svhn(root / "svhn")
    write_celeba(root / "celeba")
    url, httpd, thread = serve(root)
    yield url, root
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def md5s(folder: Path) -> dict[str, str]:
    return {path.name: hashlib.md5(path.read_bytes()).hexdigest() for path in folder.iterdir()}


@pytest.mark.parametrize("name", ["cifar10", "svhn", "celeba"])
def test_download_from_a_mirror_verifies_checksums(mirror, isolated: Path, name: str) -> None:
    url, root = mirror
    remote = DATASETS.get(name).remote
    files = remote.locate(mirror=url + "{name}/", checksums=md5s(root / name), progress=False)
    cache = isolated / "home" / ".cache" / "vaelab" / name
    assert set(files) == set(remote.md5) and all(path.parent == cache for path in files.values())
    assert md5s(cache) == md5s(root / name)
    info = {row.name: row for row in dataset_report()}[name]
    assert info.available and info.where == str(cache)
    # The counts of the files found (not the official ones): 20/4, 6/3, and 2/1 for celeba.
    assert (info.n_train, info.n_test) == {"cifar10": (20, 4), "svhn": (6, 3),
                                           "celeba": (2, 1)}[name]


def test_checksum_mismatch_deletes_the_download(mirror, isolated: Path) -> None:
    url, _ = mirror
    remote = DATASETS.get("cifar10").remote
    with pytest.raises(VaelabError, match="checksum mismatch") as error:
        remote.locate(mirror=url + "{name}/", progress=False)  # the official MD5
    assert "cs.toronto.edu" in str(error.value) and "\n" not in str(error.value)
    assert not (isolated / "home" / ".cache" / "vaelab" / "cifar10").exists()


def test_offline_errors_say_where_to_get_and_put_the_files(isolated: Path) -> None:
    with pytest.raises(VaelabError, match="no public direct download") as error:
        load("celeba", "train")
    message = str(error.value)
    assert "img_align_celeba.zip" in message and str(isolated / "data" / "celeba") in message
    locate_error = "download failed"
    with pytest.raises(VaelabError, match=locate_error):
        DATASETS.get("svhn").remote.locate(mirror="http://127.0.0.1:1/", progress=False)


def test_vaelab_datasets_lists_where_each_was_found(isolated, monkeypatch, capsys) -> None:
    write_cifar10(isolated / "data" / "cifar10")
    monkeypatch.delenv("COLUMNS", raising=False)  # a piped table: every cell whole
    code, out, err = run_cli(monkeypatch, capsys, "datasets")
    assert code == 0, err
    text = " ".join(out.split())
    assert "32×32 RGB" in text and str(isolated / "data" / "cifar10") in out.replace("\n", "")
    assert "Google Drive" not in text and "celeba" in text and "20 / 4" in text


def test_binarisation_refuses_colour_in_one_line(isolated: Path) -> None:
    write_cifar10(isolated / "data" / "cifar10")
    for mode in ("dynamic", "fixed", "threshold"):
        with pytest.raises(VaelabError, match=f"--binarize {mode} draws binary pixels of grey "
                           "images, but cifar10 has 3 channels"):
            prepare_data(DataConfig(dataset="cifar10", binarize=mode))
    data = prepare_data(DataConfig(dataset="cifar10"))
    assert data.image_shape == (3, 32, 32) and data.dim == 3072
    # Rows are channel-major: the first 1024 numbers of an image are its red plane.
    first = load("cifar10", "test").images[0]
    assert torch.equal(data.test.x[0, :1024], first[0].flatten().float() / 255)


@pytest.mark.parametrize("layout", ["channels-last", "channels-first"])
def test_npz_takes_colour_either_way_round(tmp_path: Path, layout: str) -> None:
    images = np.random.default_rng(0).integers(0, 256, (10, 3, 5, 6), dtype=np.uint8)
    stored = images.transpose(0, 2, 3, 1) if layout == "channels-last" else images
    np.savez(tmp_path / "rgb.npz", x=stored)
    loaded = load_npz(tmp_path / "rgb.npz")
    assert loaded.image_shape == (3, 5, 6)
    every = torch.cat([loaded.images, load_npz(tmp_path / "rgb.npz", "test").images])
    assert sorted(map(bytes, every.numpy())) == sorted(map(bytes, images))


def load_npz(path: Path, split: str = "train"):
    return DATASETS.get("npz")().load(split, DataConfig(dataset="npz", path=str(path)))


def test_npz_rgba_and_ambiguous_shapes_are_refused(tmp_path: Path) -> None:
    np.savez(tmp_path / "rgba.npz", x=np.zeros((2, 5, 5, 4), np.uint8))
    with pytest.raises(VaelabError, match="1 \\(grey\\) or 3 \\(RGB\\) channels"):
        load_npz(tmp_path / "rgba.npz")
    np.savez(tmp_path / "odd.npz", x=np.zeros((2, 3, 5, 3), np.uint8))
    with pytest.raises(VaelabError, match="reads both as"):
        load_npz(tmp_path / "odd.npz")


def test_colour_readers_never_unpickle() -> None:
    from vaelab.data import datasets

    for module in (colour_files, datasets):
        source = Path(module.__file__).read_text()
        assert "import pickle" not in source and "allow_pickle=True" not in source
        assert "np.load(" not in source or "allow_pickle=False" in source
