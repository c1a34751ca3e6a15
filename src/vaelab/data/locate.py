"""Find the IDX files of a named dataset (mnist, fashion-mnist), or download them.

Search order (the first folder holding all four files wins):

1. the ``data_dir`` argument (``--data-dir``), then ``<data_dir>/<name>/``, so both
   ``--data-dir data/mnist`` and ``--data-dir data`` work;
2. ``$VAELAB_DATA/<name>/``;
3. ``~/.cache/vaelab/<name>/`` (where downloads go);
4. ``/usr/share/datasets/<name>/`` (Debian's ``dataset-fashion-mnist`` package installs
   ``train-images-idx3-ubyte.gz`` etc. there, gzipped, under the canonical names).

Each of the four files may be gzipped (``.gz``) or not. Otherwise the files are
downloaded into the cache from the canonical mirrors, tried in order. ``VAELAB_MIRROR``
(or the ``mirror`` argument) replaces the mirror list by one base URL; ``{name}`` in it
is replaced by the dataset name, e.g. ``http://127.0.0.1:8000/{name}/``. Each download is
checked against the MD5 of the canonical gz file before it is moved into place, so a
half-written or wrong file is never used.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vaelab.errors import VaelabError

IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
ENV_DATA = "VAELAB_DATA"
ENV_MIRROR = "VAELAB_MIRROR"
SYSTEM_DATA_DIR = Path("/usr/share/datasets")  # a module constant so tests can move it
DOWNLOAD_TIMEOUT_S = 30


@dataclass(frozen=True)
class IdxRemote:
    """Where a dataset's canonical gz files live and their MD5 checksums."""

    mirrors: tuple[str, ...]
    md5: dict[str, str]  # "train-images-idx3-ubyte.gz" -> hex digest


# Checksums of the canonical gz files, as published by the dataset authors and used by
# torchvision. Recompressed copies (e.g. Debian's) differ as gz files but not as data, so
# the checksums only apply to downloads; local files are validated by the IDX reader.
REMOTES: dict[str, IdxRemote] = {
    "mnist": IdxRemote(
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
        md5={
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
    ),
    "fashion-mnist": IdxRemote(
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
        ),
        md5={
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
    ),
}


def cache_dir(name: str) -> Path:
    """``~/.cache/vaelab/<name>``: where downloads go (HOME decides, so tests can move it)."""
    return Path.home() / ".cache" / "vaelab" / name


def search_folders(name: str, data_dir: str | Path | None = None) -> list[Path]:
    """The folders searched for ``name``'s files, in order."""
    folders = []
    if data_dir is not None:
        given = Path(data_dir).expanduser()
        folders += [given, given / name]
    env = os.environ.get(ENV_DATA)
    if env:
        folders.append(Path(env).expanduser() / name)
    folders += [cache_dir(name), SYSTEM_DATA_DIR / name]
    return folders


def idx_files_in(folder: Path) -> dict[str, Path] | None:
    """The four IDX files in ``folder`` (``base`` -> path, raw preferred over ``.gz``
    because it reads faster), or None unless all four are there."""
    found = {}
    for base in IDX_FILES:
        for candidate in (folder / base, folder / f"{base}.gz"):
            if candidate.is_file():
                found[base] = candidate
                break
        else:
            return None
    return found


def find_idx_dataset(name: str, data_dir: str | Path | None = None) -> Path | None:
    """The first searched folder holding all four files, or None."""
    for folder in search_folders(name, data_dir):
        if idx_files_in(folder) is not None:
            return folder
    return None


def locate_idx_dataset(
    name: str,
    data_dir: str | Path | None = None,
    *,
    download: bool = True,
    mirror: str | None = None,
    checksums: dict[str, str] | None = None,
    progress: bool = True,
) -> Path:
    """The folder holding ``name``'s four IDX files; downloads them into the cache if no
    searched folder has them. Raises VaelabError saying where to put the files."""
    _check_name(name)
    found = find_idx_dataset(name, data_dir)
    if found is not None:
        return found
    if not download:
        raise VaelabError(not_found_message(name, data_dir, "downloading is switched off"))
    try:
        return download_idx_dataset(name, mirror=mirror, checksums=checksums,
                                    progress=progress)
    except _DownloadFailed as err:
        _remove_if_empty(cache_dir(name))  # leave no trace of a failed first download
        raise VaelabError(not_found_message(name, data_dir, f"download failed: {err}")) from None


def download_idx_dataset(
    name: str,
    *,
    mirror: str | None = None,
    checksums: dict[str, str] | None = None,
    dest: Path | None = None,
    progress: bool = True,
) -> Path:
    """Download the four gz files of ``name`` into ``dest`` (default: the cache).

    ``checksums`` maps gz file names to MD5 (32 hex digits) or SHA-256 (64) digests and
    overrides the canonical ones (tests serve other files). Files already in ``dest``
    with the right checksum are kept. Raises _DownloadFailed (locate turns it into a
    VaelabError with the full "where to put the files" message).
    """
    _check_name(name)
    expected_sums = {**REMOTES[name].md5, **(checksums or {})}
    dest = dest if dest is not None else cache_dir(name)
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise _DownloadFailed(f"cannot create {dest}: {err.strerror or err}") from None
    for base in IDX_FILES:
        filename = f"{base}.gz"
        target = dest / filename
        expected = expected_sums[filename].lower()
        if target.is_file() and file_digest(target, expected) == expected:
            continue
        failures = []
        for base_url in mirror_urls(name, mirror):
            url = base_url + filename
            try:
                _download(url, target, expected, progress=progress)
                break
            except _DownloadFailed as err:
                failures.append(f"{url}: {err}")
        else:
            raise _DownloadFailed("; ".join(failures))
    return dest


def mirror_urls(name: str, mirror: str | None = None) -> list[str]:
    """Base URLs to try, each ending in '/': the override if given, else the canonical."""
    override = mirror or os.environ.get(ENV_MIRROR)
    urls = [override.replace("{name}", name)] if override else list(REMOTES[name].mirrors)
    return [url if url.endswith("/") else url + "/" for url in urls]


def not_found_message(name: str, data_dir: str | Path | None, reason: str) -> str:
    """One line: what is missing, why nothing was downloaded, and where to put the files."""
    folders = []
    for folder in search_folders(name, data_dir):
        present = [base for base in IDX_FILES
                   if (folder / base).is_file() or (folder / f"{base}.gz").is_file()]
        note = f" (has only {', '.join(present)})" if present else ""
        folders.append(f"{folder}{note}")
    env_note = "" if os.environ.get(ENV_DATA) else " (now unset)"
    return (f"dataset {name} not found and {reason}. Put the four files "
            f"{', '.join(f'{base}.gz' for base in IDX_FILES)} (gzipped or not) in one of: "
            f"{'; '.join(folders)}; or set ${ENV_DATA}{env_note} to a folder holding {name}/, "
            f"or pass --data-dir FOLDER")


class _DownloadFailed(Exception):
    """A download problem; locate_idx_dataset turns it into one VaelabError line."""


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()  # fails (harmlessly) unless the folder exists and is empty
    except OSError:
        pass


def _check_name(name: str) -> None:
    if name not in REMOTES:
        raise VaelabError(f"{name!r} is not an IDX dataset; IDX datasets are "
                          f"{', '.join(REMOTES)}")


def _hash_for(expected: str) -> Any:
    # The digest's length says which algorithm: MD5 has 32 hex digits, SHA-256 has 64.
    return hashlib.md5(usedforsecurity=False) if len(expected) == 32 else hashlib.sha256()


def file_digest(path: Path, expected: str) -> str:
    """Hex digest of the file at ``path`` by the algorithm of ``expected`` (MD5 or
    SHA-256, told apart by length)."""
    digest = _hash_for(expected)
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _download(url: str, target: Path, expected: str, *, progress: bool) -> None:
    """Stream ``url`` into a temporary file next to ``target``, hashing on the way, and
    rename it to ``target`` only if the checksum matches (rename is atomic on one file
    system, so ``target`` is either absent or complete)."""
    digest = _hash_for(expected)
    handle, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                        suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(handle, "wb") as out, \
                urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with _Progress(f"{target.parent.name}/{target.name}", total, progress) as bar:
                while chunk := response.read(1 << 16):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.advance(len(chunk))
        if digest.hexdigest() != expected:
            raise _DownloadFailed(f"checksum mismatch ({digest.name} {digest.hexdigest()}, "
                                  f"expected {expected}); the file was deleted")
        os.replace(tmp, target)
    except (OSError, http.client.HTTPException, ValueError) as err:
        # URLError/HTTPError/timeouts are OSErrors; ValueError is a malformed URL.
        raise _DownloadFailed(_describe(err)) from None
    finally:
        tmp.unlink(missing_ok=True)  # after a successful rename there is nothing left


def _describe(err: BaseException) -> str:
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, urllib.error.URLError):
        return str(err.reason)
    return str(err) or type(err).__name__


class _Progress:
    """A rich progress bar for one download (on stderr), or nothing when switched off."""

    def __init__(self, label: str, total: int | None, enabled: bool):
        self._bar = None
        if enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TransferSpeedColumn,
            )

            self._bar = Progress(TextColumn(f"downloading {label}"), BarColumn(),
                                 DownloadColumn(), TransferSpeedColumn(),
                                 console=Console(stderr=True), transient=True)
            self._task = self._bar.add_task("download", total=total)

    def __enter__(self) -> _Progress:
        if self._bar is not None:
            self._bar.start()
        return self

    def advance(self, n: int) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, n)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


# ---- single files (dsprites, the Inception weights): the same search, mirrors, checks ----

@dataclass(frozen=True)
class FileRemote:
    """A file published on its own: its name, canonical mirrors and checksum (MD5 or
    SHA-256, told apart by length). ``what`` names it in errors ("dataset dsprites" when
    empty) and ``remedy`` replaces the data-folder advice that ends them."""

    filename: str
    mirrors: tuple[str, ...]
    checksum: str
    what: str = ""
    remedy: str = ""


def find_file(name: str, filename: str, data_dir: str | Path | None = None) -> Path | None:
    """The first searched folder's ``filename`` (search order as for IDX sets), or None."""
    for folder in search_folders(name, data_dir):
        if (folder / filename).is_file():
            return folder / filename
    return None


def locate_file(name: str, remote: FileRemote, data_dir: str | Path | None = None, *,
                download: bool = True, mirror: str | None = None,
                checksum: str | None = None, progress: bool = True) -> Path:
    """``remote.filename`` from the searched folders, else downloaded into the cache from
    the mirrors (``mirror``/``$VAELAB_MIRROR`` replaces them, ``{name}`` filled in) and
    checked against ``checksum`` (default: the published one) before it is moved into place.
    Raises one VaelabError line saying where to put the file."""
    found = find_file(name, remote.filename, data_dir)
    if found is not None:
        return found

    def missing(reason: str) -> VaelabError:
        folders = "; ".join(str(f) for f in search_folders(name, data_dir))
        remedy = remote.remedy or (f"set ${ENV_DATA} to a folder holding {name}/, or pass "
                                   "--data-dir FOLDER")
        return VaelabError(f"{remote.what or 'dataset ' + name} not found and {reason}. Put "
                           f"{remote.filename} in one of: {folders}; or {remedy}")

    if not download:
        raise missing("downloading is switched off")
    override = mirror or os.environ.get(ENV_MIRROR)
    bases = [override.replace("{name}", name)] if override else list(remote.mirrors)
    target = cache_dir(name) / remote.filename
    failures = []
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise missing(f"cannot create {target.parent}: {err.strerror or err}") from None
    for base in bases:
        url = (base if base.endswith("/") else base + "/") + remote.filename
        try:
            _download(url, target, (checksum or remote.checksum).lower(), progress=progress)
            return target
        except _DownloadFailed as err:
            failures.append(f"{url}: {err}")
    _remove_if_empty(target.parent)
    raise missing(f"download failed: {'; '.join(failures)}")
