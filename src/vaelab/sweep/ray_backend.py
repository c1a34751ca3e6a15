"""The Ray backend: one Ray task per run. The driver (the `vaelab sweep` process) claims
each run, ships any partial run directory to the worker, and writes the finished run
directory it gets back into the sweep directory; workers need vaelab installed and the
data set (``VAELAB_DATA`` is forwarded), not a shared file system.

Without ``--address`` a private local Ray instance is started bound to 127.0.0.1, so a
sweep never opens ports on the network. To use a cluster, start it with ``ray start
--head`` on the head node and ``ray start --address HEAD:6379`` on the others, then run
``vaelab sweep ... --backend ray --address HEAD:6379`` (or ``auto`` on a cluster node, or
``ray://HEAD:10001`` through Ray Client). Ray >= 2.59 requires the same token on every
node and driver: export ``RAY_AUTH_MODE=token`` and ``RAY_AUTH_TOKEN`` (see Ray's token
authentication guide). A head reachable from this machine only:
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 ray start --head --node-ip-address 127.0.0.1``.
"""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from vaelab import extras, rundir
from vaelab.errors import VaelabError
from vaelab.sweep import layout, state
from vaelab.sweep.worker import cpu_count, run_point, skip_or_claim

FORWARDED_ENV = ("VAELAB_DATA", "VAELAB_CACHE", "VAELAB_MIRROR")


def pack(folder: Path) -> bytes | None:
    """A run directory as gzipped tar bytes (None when it does not exist)."""
    if not folder.is_dir():
        return None
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(folder, arcname=".")
    return buffer.getvalue()


def unpack(blob: bytes, folder: Path) -> None:
    """Replace ``folder`` by the archive's contents: extract beside it, then swap, so a
    crash leaves either the old or the new directory, never a mix. The "data" filter
    refuses links and paths outside the target."""
    rundir.make_dir(folder.parent)
    staging = folder.with_name(f".{folder.name}.incoming-{uuid.uuid4().hex[:8]}")
    with rundir.writing(folder):
        try:
            with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as archive:
                archive.extractall(staging, filter="data")
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)  # a full disk leaves no half copy
            raise
        old = folder.with_name(f".{folder.name}.old-{uuid.uuid4().hex[:8]}")
        if folder.exists():
            os.rename(folder, old)
        os.rename(staging, folder)
    shutil.rmtree(old, ignore_errors=True)


def train_remote(task: dict[str, Any], payload: bytes | None) -> tuple[dict, bytes | None]:
    """Runs on a Ray worker: train/evaluate in a private temp sweep directory and return
    the result with the run directory's bytes."""
    with tempfile.TemporaryDirectory(prefix="vaelab-ray-") as tmp:
        sweep_dir = Path(tmp)
        run_path = sweep_dir / layout.RUNS_DIR / task["run"]
        if payload is not None:
            unpack(payload, run_path)
        result = run_point({**task, "sweep_dir": str(sweep_dir)}, claim=False)
        result["node"] = os.uname().nodename
        return result, pack(run_path)


@contextmanager
def _loopback_driver(active: bool) -> Iterator[None]:
    """Ray rewrites a 127.0.0.1 cluster address to the machine's network address (so that
    remote nodes could reach it), which misses a head bound to 127.0.0.1 only. Its
    single-machine mode (the flag it uses on macOS/Windows) keeps loopback; switch it on
    just while connecting."""
    if not active:
        yield
        return
    from ray._private import ray_constants

    before = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = before


def connect(address: str | None) -> bool:
    """Connect to (or start) Ray; True when this call started a local instance that must
    be shut down afterwards."""
    extras.require("ray", needed_by="--backend ray")
    import ray
    if ray.is_initialized():
        return False
    env = {name: os.environ[name] for name in FORWARDED_ENV if name in os.environ}
    runtime_env = {"env_vars": env} if env else None
    try:
        if address is None:
            with _loopback_driver(True):
                ray.init(_node_ip_address="127.0.0.1", include_dashboard=False,
                         num_cpus=cpu_count(), log_to_driver=False, runtime_env=runtime_env,
                         configure_logging=False)
            return True
        loopback = address.split(":")[0] in ("127.0.0.1", "localhost")
        with _loopback_driver(loopback):
            ray.init(address=address, log_to_driver=False, runtime_env=runtime_env,
                     configure_logging=False,
                     **({"_node_ip_address": "127.0.0.1"} if loopback else {}))
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise VaelabError(f"--address {address}: cannot connect to Ray ({err}); start the "
                          "cluster with `ray start --head` or leave --address out for a "
                          "local one") from None
    return False


def run_ray(tasks: list[dict[str, Any]], address: str | None, done: Any) -> None:
    import ray

    started = connect(address)
    remote = ray.remote(num_cpus=1)(train_remote)
    futures: dict[Any, dict[str, Any]] = {}
    try:
        for task in tasks:
            blocked = skip_or_claim(task)
            if blocked is not None:
                done(blocked)
            else:
                payload = pack(Path(task["sweep_dir"]) / layout.RUNS_DIR / task["run"])
                futures[remote.remote(task, payload)] = task
        pending = list(futures)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            task = futures[ready[0]]
            sweep_dir = Path(task["sweep_dir"])
            try:
                result, blob = ray.get(ready[0])
                if blob is not None:
                    unpack(blob, sweep_dir / layout.RUNS_DIR / task["run"])
            except Exception as err:  # noqa: BLE001 - a lost worker fails this run only
                result = {"run": task["run"], "status": "failed",
                          "error": f"Ray task failed: {type(err).__name__}: {err}"}
            state.write_status(sweep_dir, task["run"], result)
            state.release_claim(sweep_dir, task["run"])
            done(result)
    finally:
        for task in futures.values():
            state.release_claim(Path(task["sweep_dir"]), task["run"])
        if started:
            ray.shutdown()
