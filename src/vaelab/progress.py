"""The one rich progress bar of vaelab's long loops (training, IS-NLL, FID, the domain
classifier): description, bar, done/total, elapsed and ETA, on stderr."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def new_progress(*, enabled: bool, console: Console | None = None,
                 extra: tuple[ProgressColumn, ...] = ()) -> Progress:
    """A Progress with vaelab's columns; ``extra`` columns (e.g. the live loss) go after
    the done/total count."""
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    *extra, TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                    console=console or Console(stderr=True), disable=not enabled,
                    transient=False, refresh_per_second=4)
