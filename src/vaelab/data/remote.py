"""Find or download the official files of a data set that comes as a few named files
(cifar10, svhn, celeba): the path of the IDX data sets (locate.py), for any file list.

Search order: ``--data-dir`` (and ``<data_dir>/<name>/``), ``$VAELAB_DATA/<name>/``,
``~/.cache/vaelab/<name>/`` (where downloads go), ``/usr/share/datasets/<name>/``; the
first folder holding every file wins. Otherwise the files are downloaded into the cache
from the official mirrors (``VAELAB_MIRROR`` or ``mirror`` replaces them by one base URL,
``{name}`` in it standing for the data set's name), each checked against the MD5 of the
official file before it is moved into place. As for MNIST, the checksums apply to
downloads; files found locally are checked by their readers (colour_files.py), which
refuse a wrong or truncated file in one line. A data set without a public direct link
(CelebA: Google Drive only) has no mirrors: it is found, or a mirror is given, or the
error says where to get it and where to put it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from vaelab.data.locate import (
    ENV_DATA,
    ENV_MIRROR,
    _download,
    _DownloadFailed,
    _remove_if_empty,
    cache_dir,
    file_digest,
    search_folders,
)
from vaelab.errors import VaelabError


@dataclass(frozen=True)
class RemoteFiles:
    """The official files of one data set."""

    name: str
    md5: dict[str, str]  # official file name -> MD5 of the official file
    mirrors: tuple[str, ...]  # base URLs, each ending in '/'; () = not downloadable
    page: str  # where a person gets the files

    def files_in(self, folder: Path) -> dict[str, Path] | None:
        """file name -> path, or None unless every file is in ``folder``."""
        found = {name: folder / name for name in self.md5}
        return found if all(path.is_file() for path in found.values()) else None

    def find(self, data_dir: str | Path | None = None) -> Path | None:
        """The first searched folder holding every file, or None."""
        for folder in search_folders(self.name, data_dir):
            if self.files_in(folder) is not None:
                return folder
        return None

    def mirror_urls(self, mirror: str | None = None) -> list[str]:
        override = mirror or os.environ.get(ENV_MIRROR)
        urls = [override.replace("{name}", self.name)] if override else list(self.mirrors)
        return [url if url.endswith("/") else url + "/" for url in urls]

    def locate(self, data_dir: str | Path | None = None, *, download: bool = True,
               mirror: str | None = None, checksums: dict[str, str] | None = None,
               progress: bool = True) -> dict[str, Path]:
        """file name -> path of every file, downloading them into the cache if no
        searched folder has them. ``checksums`` overrides the official MD5s (tests)."""
        found = self.find(data_dir)
        if found is not None:
            return self.files_in(found)  # type: ignore[return-value]
        if not download:
            raise VaelabError(self.missing(data_dir, "downloading is switched off"))
        if not self.mirror_urls(mirror):
            raise VaelabError(self.missing(data_dir, "it has no public direct download"))
        try:
            folder = self.download(mirror=mirror, checksums=checksums, progress=progress)
        except _DownloadFailed as err:
            _remove_if_empty(cache_dir(self.name))  # no trace of a failed first download
            raise VaelabError(self.missing(data_dir, f"download failed: {err}")) from None
        return self.files_in(folder)  # type: ignore[return-value]

    def download(self, *, mirror: str | None = None, checksums: dict[str, str] | None = None,
                 dest: Path | None = None, progress: bool = True) -> Path:
        """Download every file into ``dest`` (default: the cache), keeping files already
        there with the right checksum. Raises _DownloadFailed."""
        expected_sums = {**self.md5, **(checksums or {})}
        dest = dest if dest is not None else cache_dir(self.name)
        try:
            dest.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise _DownloadFailed(f"cannot create {dest}: {err.strerror or err}") from None
        for filename in self.md5:
            target, expected = dest / filename, expected_sums[filename].lower()
            if target.is_file() and file_digest(target, expected) == expected:
                continue
            failures = []
            for base_url in self.mirror_urls(mirror):
                try:
                    _download(base_url + filename, target, expected, progress=progress)
                    break
                except _DownloadFailed as err:
                    failures.append(f"{base_url + filename}: {err}")
            else:
                raise _DownloadFailed("; ".join(failures))
        return dest

    def missing(self, data_dir: str | Path | None, reason: str) -> str:
        """One line: what is missing, why nothing was downloaded, where to put it."""
        folders = "; ".join(str(folder) for folder in search_folders(self.name, data_dir))
        env_note = "" if os.environ.get(ENV_DATA) else " (now unset)"
        return (f"dataset {self.name} not found and {reason}. Get {', '.join(self.md5)} "
                f"from {self.page} and put it in one of: {folders}; or set ${ENV_DATA}"
                f"{env_note} to a folder holding {self.name}/, or pass --data-dir FOLDER")
