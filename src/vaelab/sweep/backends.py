"""How a sweep's runs are executed. One registry; each backend takes the pending tasks
(plain dicts, see worker.make_task) and a callback it calls with each finished result.

- auto:    the default: local on the CPU; batched when the runs train on a GPU
- local:   one process per run on this machine, as many at once as the cores and the
           memory allow (sweep/sizing.py); a process that dies (out-of-memory kill,
           SIGKILL, segfault) fails its run only; in this process with --workers 1
- batched: same-architecture runs trained together as one stacked computation
- ray:     one Ray task per run on a Ray cluster; run directories travel back as bytes, so
           workers need no shared file system
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import Any

from vaelab import extras
from vaelab.errors import VaelabError
from vaelab.registry import Registry
from vaelab.sweep.worker import cpu_count, run_point, worker_died

Callback = Callable[[dict[str, Any]], None]
# The optional extra (vaelab/extras.py) a backend needs; checked before a sweep writes.
BACKEND_EXTRAS = {"ray": "ray"}


@dataclass
class BackendOptions:
    workers: int | None = None  # local: processes (default: cores, at most one per run)
    address: str | None = None  # ray: cluster address; None starts a local one on 127.0.0.1
    # local: each run in a process of its own (a dead process fails its run only); False
    # trains in this process, one run after another (--workers 1 given explicitly).
    isolate: bool = True


Backend = Callable[[list[dict[str, Any]], BackendOptions, Callback], None]
BACKENDS: Registry[Backend] = Registry("sweep backend")


@BACKENDS.register("local")
def run_local(tasks: list[dict[str, Any]], options: BackendOptions, done: Callback) -> None:
    """Independent runs in parallel processes, one process per run. Each process gets
    cores // workers torch threads, so the machine is used fully but never
    oversubscribed."""
    workers = options.workers or min(len(tasks), cpu_count())
    if workers < 1:
        raise VaelabError(f"--workers must be >= 1, got {workers}")
    workers = min(workers, len(tasks))
    if not options.isolate:
        for task in tasks:
            done(run_point(task))
        return
    _run_isolated(tasks, workers, max(1, cpu_count() // workers), done)


def _run_isolated(tasks: list[dict[str, Any]], workers: int, threads: int,
                  done: Callback) -> None:
    """At most ``workers`` runs at once, each in a fresh process that sends its result
    back through a pipe. A process that ends without a result (killed by a signal, an
    interpreter crash) fails its run with the cause (worker.worker_died) and the others
    go on; a process pool could not do this: one dead worker breaks the whole pool."""
    # spawn, not fork: forking a process that has started torch's thread pools can hang.
    context = multiprocessing.get_context("spawn")
    pending = list(tasks)
    running: dict[Any, tuple[Any, dict[str, Any]]] = {}  # result pipe → (process, task)
    try:
        while pending or running:
            while pending and len(running) < workers:
                task = pending.pop(0)
                receive, send = context.Pipe(duplex=False)
                process = context.Process(target=_child, args=(task, threads, send),
                                          name=f"vaelab-{task['run']}", daemon=True)
                process.start()
                send.close()  # the child holds the only write end: EOF when it dies
                running[receive] = (process, task)
            for receive in wait(list(running)):
                process, task = running.pop(receive)
                try:
                    result = receive.recv()
                except EOFError:
                    result = None
                receive.close()
                process.join()
                done(result if result is not None else worker_died(task, process.exitcode))
    finally:
        for process, _ in running.values():  # interrupted: no orphan goes on writing
            process.kill()
            process.join()


def _child(task: dict[str, Any], threads: int, send: Any) -> None:
    _init_worker(threads)
    send.send(run_point(task))
    send.close()


def check_backend(name: str) -> None:
    """An unknown backend, or one whose optional extra is missing, fails here: one line,
    before the sweep directory is created."""
    if name == AUTO:
        return
    BACKENDS.get(name)
    if name in BACKEND_EXTRAS:
        extras.require(BACKEND_EXTRAS[name], needed_by=f"--backend {name}")


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    if sys.platform.startswith("linux"):
        # Die with the sweep process: a worker orphaned by `kill -9` of its parent would
        # go on writing a run that a resumed sweep is about to take over.
        import ctypes
        import signal

        try:
            ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except OSError:
            pass


@BACKENDS.register("batched")
def run_batched_backend(tasks: list[dict[str, Any]], options: BackendOptions,
                        done: Callback) -> None:
    from vaelab.sweep.batched_backend import run_batched

    run_batched(tasks, done)


@BACKENDS.register("ray")
def run_ray_backend(tasks: list[dict[str, Any]], options: BackendOptions,
                    done: Callback) -> None:
    from vaelab.sweep.ray_backend import run_ray

    run_ray(tasks, options.address, done)


AUTO = "auto"  # the default --backend: resolved per sweep by ``resolve_backend``


def resolve_backend(name: str, tasks: list[dict[str, Any]]) -> str:
    """``auto`` → local on the CPU. On a GPU, batched: one process stacks the runs that
    share an architecture and trains the others one after another, each step replayed
    from a CUDA graph (stepper.py), rather than several processes each holding a CUDA
    context and time-slicing the GPU while each waits on Python. Any other name as is."""
    if name != AUTO:
        return name
    return "batched" if any(_on_cuda(task) for task in tasks) else "local"


def _on_cuda(task: dict[str, Any]) -> bool:
    from vaelab.config import Config
    from vaelab.run import resolve_device

    config = Config.from_dict(task["config"], where=f"sweep run {task['run']}")
    return resolve_device(config.train.device).type == "cuda"
