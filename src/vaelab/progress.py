"""The one progress mechanism of vaelab's long work (training, IS-NLL, FID, the domain
classifier, sweeps, downloads, t-SNE/UMAP), always on stderr so that stdout (tables,
``--json``) stays clean. On a terminal: a rich bar (description, bar, done/total, elapsed
and ETA). Elsewhere (piped, a log file, CI): plain lines, one when a task starts, then at
most one every ``PLAIN_EVERY_S`` seconds, and one when it completes, so that long work is
never silent."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

PLAIN_EVERY_S = 5.0  # seconds between two plain progress lines of one task


def log_console(*, quiet: bool = False) -> Console:
    """The stderr console of long work's headers, notes and progress: lines wrap at the
    terminal's width in a terminal and are left whole elsewhere (rich would wrap a log
    file at 80 columns)."""
    console = Console(stderr=True, quiet=quiet)
    console.soft_wrap = not console.is_terminal
    return console


def new_progress(*, enabled: bool, console: Console | None = None,
                 extra: tuple[ProgressColumn, ...] = ()) -> Progress | PlainProgress:
    """A rich Progress with vaelab's columns on a terminal, else a ``PlainProgress`` with
    the same methods; ``extra`` columns (e.g. the live loss) go after the done/total
    count."""
    console = console or log_console()
    if enabled and not console.is_terminal and not console.quiet:
        return PlainProgress(console)
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    *extra, TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                    console=console, disable=not enabled, transient=False,
                    refresh_per_second=4)


class _Task:
    def __init__(self, description: str, total: float | None, fields: dict[str, Any]):
        self.description, self.total, self.fields = description, total, fields
        self.completed = 0.0
        self.started = time.monotonic()
        self.printed = 0.0  # monotonic time of the last line
        self.finished = False  # its completing line is out


class PlainProgress:
    """Progress as plain periodic lines: ``description: 40/400 (10%), 12 s, eta 108 s``.
    Implements what vaelab calls of rich's Progress."""

    def __init__(self, console: Console, every_s: float | None = None):
        self.console = console
        self.every_s = PLAIN_EVERY_S if every_s is None else every_s
        self.tasks: dict[int, _Task] = {}

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        pass

    def stop(self) -> None:
        # A task's completing line is written here, at the end, not when its count
        # reaches the total: the caller may still rename it (the trainer names the last
        # epoch after that epoch's last step).
        for task in self.tasks.values():
            self._line(task, final=True)

    def add_task(self, description: str, total: float | None = 100.0,
                 completed: float = 0, **fields: Any) -> TaskID:
        task_id = TaskID(len(self.tasks))
        self.tasks[task_id] = _Task(description, total, fields)
        self.tasks[task_id].completed = completed
        self._line(self.tasks[task_id], force=True)
        return task_id

    def advance(self, task_id: TaskID, advance: float = 1) -> None:
        task = self.tasks[task_id]
        task.completed += advance
        self._line(task)

    def update(self, task_id: TaskID, *, completed: float | None = None,
               description: str | None = None, total: float | None = None,
               advance: float | None = None, **fields: Any) -> None:
        task = self.tasks[task_id]
        if completed is not None:
            task.completed = completed
        if advance is not None:
            task.completed += advance
        if description is not None:
            task.description = description
        if total is not None:
            task.total = total
        task.fields.update(fields)
        self._line(task)

    def _line(self, task: _Task, *, force: bool = False, final: bool = False) -> None:
        done = task.total is not None and task.completed >= task.total
        if task.finished or done != final:
            return  # a done task's line waits for stop(); stop() writes only done ones
        now = time.monotonic()
        if not (force or final or now - task.printed >= self.every_s):
            return
        task.finished = done
        task.printed = now
        elapsed = now - task.started
        text = f"{task.description}: {_count(task.completed)}"
        if task.total:
            share = task.completed / task.total
            text += f"/{_count(task.total)} ({share:.0%})"
            if 0 < share < 1:
                text += f", {elapsed:.0f} s, eta {elapsed * (1 - share) / share:.0f} s"
            else:
                text += f", {elapsed:.0f} s"
        else:
            text += f", {elapsed:.0f} s"
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)


@contextmanager
def working(description: str, *, enabled: bool = True, console: Console | None = None
            ) -> Iterator[None]:
    """Work whose length is unknown (t-SNE, UMAP): a line when it starts, then one every
    PLAIN_EVERY_S seconds while it runs (a rich spinner on a terminal), and one at the end
    with the time it took."""
    console = console or log_console()
    if not enabled:
        yield
        return
    started = time.monotonic()
    if console.is_terminal:
        with console.status(f"{description} …"):
            yield
    else:
        console.print(f"{description} …", markup=False, highlight=False, soft_wrap=True)
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(PLAIN_EVERY_S):
                console.print(f"{description}: still working, "
                              f"{time.monotonic() - started:.0f} s", markup=False,
                              highlight=False, soft_wrap=True)

        thread = threading.Thread(target=beat, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
    console.print(f"{description}: done in {time.monotonic() - started:.1f} s", markup=False,
                  highlight=False, soft_wrap=True)


def _count(value: float) -> str:
    """A progress count as people read it: 1,650,000 rather than 1.65e+06."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:g}"


@contextmanager
def progress_bar(description: str, total: int, *, enabled: bool
                 ) -> Iterator[Callable[[int], None]]:
    """A bar of ``total`` steps from ``new_progress`` (stderr); yields ``advance(n)``."""
    bar = new_progress(enabled=enabled)
    with bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)
