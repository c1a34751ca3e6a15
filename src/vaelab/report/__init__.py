"""``vaelab report``: one self-contained static HTML page from run and sweep directories.

    from vaelab.report import write_report
    write_report(["runs/beta-sweep", "runs/mnist-elbo-1"], "report.html")

The page is built only by reading the directories (DESIGN rule 5): it never trains,
evaluates or draws. Figures already in the runs are embedded as data: URIs, so the one
file can be mailed or archived; it makes no network request. Everything is read and
rendered before the file is written (atomically), so bad input leaves ``out`` as it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from vaelab import rundir
from vaelab.errors import VaelabError, shown
from vaelab.report.reader import RunData, SweepData, read_dir
from vaelab.report.render import MARKER, render


def is_report(path: Path) -> bool:
    """Whether ``path`` is a page this module wrote (its head carries MARKER)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return MARKER.encode() in head


def check_out(out: str | Path, *, force: bool = False) -> Path:
    """An --out path that may be written: its folder exists, and it is not a file other
    than an earlier report unless ``force``."""
    path = Path(out)
    if path.is_dir():
        raise VaelabError(f"--out {shown(out)} is a directory; give a file name such as "
                          f"{shown(path / 'report.html')}")
    if not path.parent.is_dir():
        raise VaelabError(f"--out {shown(out)}: folder {shown(path.parent)} does not exist; "
                          "create it first")
    if path.exists() and not force and not is_report(path):
        raise VaelabError(f"--out {shown(out)} exists and is not a vaelab report; choose "
                          "another --out, or pass --force to overwrite it")
    return path


def read_dirs(dirs: Sequence[str | Path]) -> list[RunData | SweepData]:
    if not dirs:
        raise VaelabError("give at least one run or sweep directory")
    return [read_dir(path) for path in dirs]


def write_report(dirs: Sequence[str | Path] | str | Path, out: str | Path = "report.html",
                 *, force: bool = False, title: str | None = None) -> Path:
    """Read the run and sweep directories ``dirs`` and write the report to ``out``;
    returns its path. Refuses to overwrite a file that is not a vaelab report unless
    ``force``."""
    if isinstance(dirs, str | Path):
        dirs = [dirs]
    path = check_out(out, force=force)
    page = render(read_dirs(dirs), title=title)
    rundir.write_text(path, page)
    return path


__all__ = ["MARKER", "check_out", "is_report", "read_dirs", "write_report"]
