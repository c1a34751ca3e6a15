"""How a sweep's runs are executed. One registry; each backend takes the pending tasks
(plain dicts, see worker.make_task) and a callback it calls with each finished result.

- auto:    the default: local on the CPU; batched when the runs train on a GPU
- local:   worker processes on this machine, up to the core count (inline when 1)
- batched: same-architecture runs trained together as one stacked computation
- ray:     one Ray task per run on a Ray cluster; run directories travel back as bytes, so
           workers need no shared file system
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

from vaelab import extras
from vaelab.errors import VaelabError
from vaelab.registry import Registry
from vaelab.sweep.worker import cpu_count, run_point

Callback = Callable[[dict[str, Any]], None]
# The optional extra (vaelab/extras.py) a backend needs; checked before a sweep writes.
BACKEND_EXTRAS = {"ray": "ray"}


@dataclass
class BackendOptions:
    workers: int | None = None  # local: processes (default: cores, at most one per run)
    address: str | None = None  # ray: cluster address; None starts a local one on 127.0.0.1


Backend = Callable[[list[dict[str, Any]], BackendOptions, Callback], None]
BACKENDS: Registry[Backend] = Registry("sweep backend")


@BACKENDS.register("local")
def run_local(tasks: list[dict[str, Any]], options: BackendOptions, done: Callback) -> None:
    """Independent runs in parallel processes. Each process gets cores // workers torch
    threads, so the machine is used fully but never oversubscribed."""
    workers = options.workers or min(len(tasks), cpu_count())
    if workers < 1:
        raise VaelabError(f"--workers must be >= 1, got {workers}")
    workers = min(workers, len(tasks))
    if workers <= 1:
        for task in tasks:
            done(run_point(task))
        return
    threads = max(1, cpu_count() // workers)
    # spawn, not fork: forking a process that has started torch's thread pools can hang.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context,
                             initializer=_init_worker, initargs=(threads,)) as pool:
        futures = [pool.submit(run_point, task) for task in tasks]
        for future in as_completed(futures):
            done(future.result())


def check_backend(name: str) -> None:
    """An unknown backend, or one whose optional extra is missing, fails here: one line,
    before the sweep directory is created."""
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


@BACKENDS.register("auto")
def run_auto_backend(tasks: list[dict[str, Any]], options: BackendOptions,
                     done: Callback) -> None:
    """local on the CPU. On a GPU, batched: one process stacks the runs that share an
    architecture and trains the others one after another, each step replayed from a CUDA
    graph (stepper.py), rather than several processes each holding a CUDA context and
    time-slicing the GPU while each waits on Python."""
    if any(_on_cuda(task) for task in tasks):
        run_batched_backend(tasks, options, done)
    else:
        run_local(tasks, options, done)


def _on_cuda(task: dict[str, Any]) -> bool:
    from vaelab.config import Config
    from vaelab.run import resolve_device

    config = Config.from_dict(task["config"], where=f"sweep run {task['run']}")
    return resolve_device(config.train.device).type == "cuda"
