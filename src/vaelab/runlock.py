"""One writer per run directory: an exclusive ``flock`` on RUN/.writer.lock, held for the
whole of training (train, --resume, --force, the batched backend, sweep workers) and by
every other command that writes into a run (`vaelab eval` merging metrics.json, `vaelab
plot` writing figures). The kernel releases the lock when its holder dies, so a killed
run is taken over cleanly; the file itself only says who holds it (pid, host, command,
since when), for the one line every other writer gets.

Locks are re-entrant within a process (api.train inside a sweep worker that also
evaluates): flock locks belong to an open file, so a second open in the same process
would wait on itself.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from vaelab import rundir
from vaelab.errors import VaelabError

LOCK_FILE = ".writer.lock"
_held: dict[str, list[Any]] = {}  # resolved run path → [open lock file, depth]


class RunBusy(VaelabError):
    """Another live process writes into the run directory."""


@contextmanager
def writer_lock(run_path: Path, command: list[str] | None = None) -> Iterator[None]:
    """Hold the run directory's writer lock (creating the directory); a run another live
    process writes is refused with one line naming the holder."""
    run_path = Path(run_path)
    if run_path.exists() and not run_path.is_dir():
        raise VaelabError(f"{run_path} is a file; give a run directory path")
    key = str(run_path.resolve())
    if key in _held:
        _held[key][1] += 1
        try:
            yield
        finally:
            _held[key][1] -= 1
        return
    rundir.make_dir(run_path)
    path = run_path / LOCK_FILE
    handle = _acquire(run_path, path)
    try:
        with rundir.writing(path):
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps({
                "pid": os.getpid(), "host": socket.gethostname(),
                "command": " ".join(command if command is not None else sys.argv),
                "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}) + "\n")
            handle.flush()
        _held[key] = [handle, 1]
        try:
            yield
        finally:
            del _held[key]
            # A directory that holds nothing else (a run that never started) is left
            # empty; removed while still locked (see _acquire for why that is safe).
            if [p.name for p in run_path.iterdir()] == [LOCK_FILE]:
                path.unlink(missing_ok=True)
            fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        handle.close()


def _acquire(run_path: Path, path: Path) -> Any:
    """Open and lock the lock file; a file removed by its last holder between our open and
    our lock is not the lock any more, so check that the locked file is still the one at
    ``path`` (else try again)."""
    while True:
        with rundir.writing(path):
            handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held by the caller
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise RunBusy(f"{run_path} is being written by {holder(run_path)}; wait for it "
                          "to finish or stop it (or use another directory)") from None
        try:
            same = os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return handle
        handle.close()


def holder(run_path: Path) -> str:
    """'pid 123 on host h (vaelab train ...) since 2026-...' from the lock file."""
    try:
        info = json.loads((Path(run_path) / LOCK_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "another process (it is starting)"
    if not isinstance(info, dict):
        return "another process"
    command = str(info.get("command", "")).replace("\n", " ")[:120]
    return (f"pid {info.get('pid')} on host {info.get('host')} ({command}) since "
            f"{info.get('since')}")


def is_held_here(run_path: Path) -> bool:
    return str(Path(run_path).resolve()) in _held
