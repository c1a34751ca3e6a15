"""Where a sweep stands, kept so that a killed sweep resumes and two sweep processes on
one directory never do the same work or clobber each other's files (the file names are
sweep/layout.py's):

    manifest (sweep.json)      spec + points; rewritten atomically under the lock file (an
                               flock) by whoever adds points
    claim (state/<run>.claim)  "I am training this run": created with O_EXCL, holding the
                               pid and host of the process doing the work
    status (state/<run>.json)  {"status": "done" | "failed", ...}, written atomically

A claim whose process has died (same host, pid gone) is stale and may be taken over; the
takeover renames the stale claim away first, so of two processes racing for it only one
wins the O_EXCL create.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from vaelab import rundir
from vaelab.errors import VaelabError
from vaelab.sweep import layout
from vaelab.sweep.layout import SWEEP_FORMAT, claim_path, status_path


@contextmanager
def sweep_lock(sweep_dir: Path) -> Iterator[None]:
    """An exclusive lock over the manifest; released by the OS if the holder dies."""
    rundir.make_dir(sweep_dir)
    with rundir.writing(sweep_dir / layout.LOCK_FILE):
        handle = open(sweep_dir / layout.LOCK_FILE, "a+")  # noqa: SIM115 - closed below
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_manifest(sweep_dir: Path) -> dict[str, Any] | None:
    path = sweep_dir / layout.MANIFEST
    if not path.exists():
        return None
    manifest = rundir.read_json(path)
    if not isinstance(manifest, dict) or manifest.get("sweep_format") != SWEEP_FORMAT:
        found = manifest.get("sweep_format") if isinstance(manifest, dict) else None
        raise VaelabError(f"{path}: sweep format {found!r}, this vaelab reads format "
                          f"{SWEEP_FORMAT}; use the vaelab version that wrote it or a new "
                          "--out")
    # A run's name becomes a path: a tampered manifest must not lead outside the sweep.
    for entry in manifest.get("points", []):
        layout.check_name(entry.get("name") if isinstance(entry, dict) else entry,
                          what=f"{path}: run name")
    return manifest


def write_manifest(sweep_dir: Path, manifest: dict[str, Any]) -> None:
    rundir.write_json(sweep_dir / layout.MANIFEST, manifest)


# -- per-run claims ---------------------------------------------------------------------

def _alive(claim: dict[str, Any]) -> bool:
    """Whether the claiming process still runs. A claim from another host cannot be
    checked and counts as alive."""
    if claim.get("host") != socket.gethostname():
        return True
    try:
        os.kill(int(claim["pid"]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, KeyError, ValueError, TypeError):
        return True
    return True


def try_claim(sweep_dir: Path, run_name: str) -> bool:
    """Claim a run for this process; False when a live process holds it."""
    path = claim_path(sweep_dir, run_name)
    rundir.make_dir(path.parent)
    body = json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                       "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}).encode()
    for _ in range(2):
        with rundir.writing(path):
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                fd = None
        if fd is None:
            if not _take_over_stale(path):
                return False
            continue
        with os.fdopen(fd, "wb") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        return True
    return False


def _take_over_stale(path: Path) -> bool:
    try:
        claim = json.loads(path.read_text())
    except FileNotFoundError:
        return True  # released meanwhile: try again
    except (OSError, ValueError):
        # Unreadable: a claim is written in one small write, so this is one being written
        # right now. Treat it as alive.
        return False
    if _alive(claim):
        return False
    # Move the stale claim aside; if another process moved it first, rename fails and
    # the O_EXCL create decides who gets the run.
    try:
        os.rename(path, path.with_name(f".{path.name}.stale-{uuid.uuid4().hex[:8]}"))
    except FileNotFoundError:
        pass
    return True


def release_claim(sweep_dir: Path, run_name: str) -> None:
    path = claim_path(sweep_dir, run_name)
    try:
        claim = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    if claim.get("pid") == os.getpid() and claim.get("host") == socket.gethostname():
        path.unlink(missing_ok=True)


def claimed_by_other(sweep_dir: Path, run_name: str) -> bool:
    path = claim_path(sweep_dir, run_name)
    try:
        claim = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return _alive(claim) and not (claim.get("pid") == os.getpid()
                                  and claim.get("host") == socket.gethostname())


# -- per-run status ---------------------------------------------------------------------
def read_status(sweep_dir: Path, run_name: str) -> dict[str, Any]:
    path = status_path(sweep_dir, run_name)
    if not path.exists():
        return {"status": "pending"}
    try:
        status = rundir.read_json(path)
    except VaelabError:
        return {"status": "pending"}
    return status if isinstance(status, dict) else {"status": "pending"}


def is_done(sweep_dir: Path, run_name: str) -> bool:
    return read_status(sweep_dir, run_name).get("status") == "done"


def write_status(sweep_dir: Path, run_name: str, status: dict[str, Any]) -> None:
    rundir.write_json(status_path(sweep_dir, run_name),
                      {**status, "host": socket.gethostname(), "pid": os.getpid(),
                       "at": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
