"""Finding and downloading IDX datasets: search order, the not-found message, and
downloads from a local HTTP server (success, checksum mismatch, unreachable mirror)."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_data_dir

from vaelab.data import locate
from vaelab.data.datasets import dataset_report
from vaelab.data.idx import read_idx
from vaelab.data.locate import (
    IDX_FILES,
    download_idx_dataset,
    find_idx_dataset,
    locate_idx_dataset,
    search_folders,
)
from vaelab.errors import VaelabError

SHARED = shared_data_dir()  # read before the isolation fixture removes VAELAB_DATA
needs_shared = pytest.mark.skipif(SHARED is None, reason="real MNIST files not found")


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A world with an empty home, no VAELAB_* variables and an empty system folder."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("VAELAB_DATA", raising=False)
    monkeypatch.delenv("VAELAB_MIRROR", raising=False)
    monkeypatch.setattr(locate, "SYSTEM_DATA_DIR", tmp_path / "system")
    return tmp_path


def fake_dataset(folder: Path, *, gz: bool = True, skip: str | None = None) -> Path:
    """Four small valid IDX files (3 images of 2x2) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for base in IDX_FILES:
        if base == skip:
            continue
        array = (np.arange(3, dtype=np.uint8) if "labels" in base
                 else np.arange(12, dtype=np.uint8).reshape(3, 2, 2))
        data = bytes([0, 0, 8, array.ndim]) + b"".join(
            s.to_bytes(4, "big") for s in array.shape) + array.tobytes()
        path = folder / (f"{base}.gz" if gz else base)
        path.write_bytes(gzip.compress(data) if gz else data)
    return folder


def test_search_order(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    given = fake_dataset(isolated / "given")
    env = fake_dataset(isolated / "env" / "mnist", gz=False)
    cache = fake_dataset(isolated / "home" / ".cache" / "vaelab" / "mnist")
    system = fake_dataset(isolated / "system" / "mnist")
    monkeypatch.setenv("VAELAB_DATA", str(isolated / "env"))
    assert search_folders("mnist", given) == [given, given / "mnist", env, cache, system]
    assert locate_idx_dataset("mnist", given, download=False) == given
    assert locate_idx_dataset("mnist", download=False) == env
    monkeypatch.delenv("VAELAB_DATA")
    assert locate_idx_dataset("mnist", download=False) == cache
    for path in cache.iterdir():
        path.unlink()
    assert locate_idx_dataset("mnist", download=False) == system
    # --data-dir may also name the parent folder of <name>/.
    assert find_idx_dataset("mnist", isolated / "env") == env


def test_incomplete_folder_does_not_count(isolated: Path) -> None:
    partial = fake_dataset(isolated / "partial", skip="t10k-labels-idx1-ubyte")
    system = fake_dataset(isolated / "system" / "mnist", gz=False)
    assert locate_idx_dataset("mnist", partial, download=False) == system
    for path in system.iterdir():
        path.unlink()
    with pytest.raises(VaelabError) as info:
        locate_idx_dataset("mnist", partial, download=False)
    message = str(info.value)
    assert f"{partial} (has only train-images-idx3-ubyte" in message
    assert "downloading is switched off" in message


def test_not_found_message_says_where_to_put_files(isolated: Path) -> None:
    with pytest.raises(VaelabError) as info:
        locate_idx_dataset("fashion-mnist", isolated / "mine", download=False)
    message = str(info.value)
    for expected in [*(f"{base}.gz" for base in IDX_FILES), str(isolated / "mine"),
                     str(isolated / "home" / ".cache" / "vaelab" / "fashion-mnist"),
                     str(isolated / "system" / "fashion-mnist"), "VAELAB_DATA", "--data-dir"]:
        assert expected in message
    assert "\n" not in message


def test_unknown_idx_dataset(isolated: Path) -> None:
    with pytest.raises(VaelabError, match="'digits' is not an IDX dataset"):
        locate_idx_dataset("digits")


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[str]:
    """A local HTTP server on 127.0.0.1 (port 0: any free port) serving ``request.param``
    (default: the shared data folder); yields its base URL."""
    root = getattr(request, "param", None) or SHARED

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def md5s(folder: Path) -> dict[str, str]:
    return {f"{base}.gz": hashlib.md5((folder / f"{base}.gz").read_bytes()).hexdigest()
            for base in IDX_FILES}


@needs_shared
def test_download_success(isolated: Path, server: str) -> None:
    assert SHARED is not None
    folder = locate_idx_dataset("mnist", mirror=server + "{name}/",
                                checksums=md5s(SHARED / "mnist"), progress=True)
    assert folder == isolated / "home" / ".cache" / "vaelab" / "mnist"
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{b}.gz" for b in IDX_FILES)
    for base in IDX_FILES:
        served = SHARED / "mnist" / f"{base}.gz"
        assert (folder / f"{base}.gz").read_bytes() == served.read_bytes()
    assert read_idx(folder / "t10k-labels-idx1-ubyte.gz").shape == (10000,)
    # Now found in the cache: no download (the mirror is unreachable here).
    assert locate_idx_dataset("mnist", mirror="http://127.0.0.1:1/", download=True) == folder


@needs_shared
def test_download_keeps_verified_files_and_reads_env_mirror(
        isolated: Path, server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert SHARED is not None
    dest = isolated / "dl"
    sums = {k: hashlib.sha256((SHARED / "mnist" / k).read_bytes()).hexdigest()
            for k in md5s(SHARED / "mnist")}  # SHA-256 digests work too
    monkeypatch.setenv("VAELAB_MIRROR", server + "mnist")  # no trailing slash needed
    download_idx_dataset("mnist", checksums=sums, dest=dest, progress=False)
    monkeypatch.setenv("VAELAB_MIRROR", "http://127.0.0.1:1/")  # unreachable
    assert download_idx_dataset("mnist", checksums=sums, dest=dest, progress=False) == dest


@needs_shared
def test_checksum_mismatch_deletes_file_and_raises(isolated: Path, server: str) -> None:
    # The shared files were recompressed, so the canonical MD5s do not match them.
    with pytest.raises(VaelabError) as info:
        locate_idx_dataset("mnist", mirror=server + "{name}/", progress=False)
    message = str(info.value)
    assert "checksum mismatch" in message and "train-images-idx3-ubyte.gz" in message
    assert "f68b3c2dcbeaaa9fbdd348bbdeb94873" in message  # the expected canonical MD5
    cache = isolated / "home" / ".cache" / "vaelab" / "mnist"
    assert not cache.exists()  # neither the file nor a partial .part is left, nor the folder


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_mirror_says_where_to_put_files(isolated: Path) -> None:
    with pytest.raises(VaelabError) as info:
        locate_idx_dataset("mnist", mirror=f"http://127.0.0.1:{_free_port()}/",
                           progress=False)
    message = str(info.value)
    assert "download failed" in message and "127.0.0.1" in message
    assert "train-images-idx3-ubyte.gz" in message and "VAELAB_DATA" in message
    assert str(isolated / "home" / ".cache" / "vaelab" / "mnist") in message
    assert not (isolated / "home" / ".cache" / "vaelab" / "mnist").exists()


@pytest.mark.parametrize("server", [Path(__file__).parent], indirect=True)
def test_missing_file_on_mirror(isolated: Path, server: str) -> None:
    with pytest.raises(VaelabError, match="HTTP 404"):
        locate_idx_dataset("mnist", mirror=server, progress=False)


def test_dataset_report(isolated: Path) -> None:
    fake_dataset(isolated / "given" / "fashion-mnist")
    report = {info.name: info for info in dataset_report(str(isolated / "given"))}
    assert set(report) == {"mnist", "fashion-mnist", "idx", "digits", "csv", "npz", "cifar10",
                           "svhn", "celeba", "dsprites", "shapes"}
    assert report["mnist"].available is False
    assert report["mnist"].where.startswith("not found; would download from https://")
    fashion = report["fashion-mnist"]
    assert fashion.available and fashion.where == str(isolated / "given" / "fashion-mnist")
    assert (fashion.image_shape, fashion.n_train, fashion.n_test) == ((1, 2, 2), 3, 3)
    assert report["digits"].available and report["digits"].n_train + report["digits"].n_test == 1797
    assert "--data-path" in report["csv"].where
    assert not report["idx"].available  # --data-dir holds fashion-mnist/, not the files
    idx = {i.name: i for i in dataset_report(str(isolated / "given" / "fashion-mnist"))}["idx"]
    assert idx.available and (idx.n_train, idx.n_test) == (3, 3)
