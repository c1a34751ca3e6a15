"""Small helpers shared by the commands."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from vaelab.errors import VaelabError
from vaelab.metrics.shown import (
    HEADLINE,
    MARK,
    Breakdown,
    Number,
    checkpoint_text,
    format_value,
    units_line,
)

if TYPE_CHECKING:  # the registry imports torch: only when metrics are printed
    from vaelab.metrics.base import Metric


# Width of tables written to a pipe or file: wide enough that no cell is ever cut. Rich
# assumes 80 columns off a terminal and ends a cell that does not fit with "…" (a
# number "-48…" is worse than a long line).
PIPE_WIDTH = 1000


def terminal_console(*, stderr: bool = False) -> Console:
    """The console of a command's tables: the terminal's width in a terminal ($COLUMNS
    when set), else PIPE_WIDTH, so that piped output never truncates a number."""
    console = Console(stderr=stderr)
    if console.is_terminal or "COLUMNS" in os.environ:
        return console
    return Console(stderr=stderr, width=PIPE_WIDTH)


def indented(text: str, style: str = "") -> Padding:
    """A note under a table: indented by two, wrapped at the console's width and not
    padded to it (a pipe's console is PIPE_WIDTH wide)."""
    return Padding(Text(text, style=style), (0, 0, 0, 2), expand=False)


def estimator_lines(pairs: Iterable[tuple[str, str]]) -> list[str]:
    """(column header, estimator text) pairs → one line per distinct text, naming the
    columns it belongs to: "FID, FID rec: Fréchet distance of ..." (compare, sweep)."""
    owners: dict[str, list[str]] = {}  # text → the columns it belongs to
    for header, text in pairs:
        if text and header not in owners.setdefault(text, []):
            owners[text].append(header)
    return [f"{', '.join(headers)}: {text}" for text, headers in owners.items()]


def png_path(out: str) -> Path:
    """Check an --out path for a PNG before any work is done."""
    path = Path(out)
    if path.suffix.lower() != ".png":
        raise VaelabError(f"--out {out} must end in .png")
    if not path.parent.exists():
        raise VaelabError(f"--out {out}: folder {path.parent} does not exist; create it first")
    return path


def print_metrics(run_path: Path, metrics: dict[str, Any], console: Console | None = None
                  ) -> None:
    """One table per registered metric that the run has (a row per split section, a
    column per declared number; units, directions and each split's estimator,
    binarisation and seed as lines under it, so the table stays narrow enough for an
    80-column terminal), each followed by its breakdowns (per class, per dimension)."""
    from vaelab.metrics.columns import metrics_in_order

    console = console or terminal_console()
    sections = {key: stats for key, stats in metrics.items() if isinstance(stats, dict)}
    console.print(f"metrics of {escape(str(run_path))}")
    for metric in metrics_in_order():
        _print_metric(console, metric, sections)
        for breakdown in metric.breakdowns:
            for split, stats in sections.items():
                _print_breakdown(console, breakdown, split, stats)


def _print_metric(console: Console, metric: Metric, sections: dict[str, dict]) -> None:
    present = {split: stats for split, stats in sections.items()
               if any(n.value(stats) is not None for n in metric.numbers)}
    if not present:
        return
    # Headline numbers always get their column (a missing one shows as "–": a plain
    # autoencoder has a reconstruction error but no ELBO); the others only when some
    # split has them.
    numbers = [n for n in metric.numbers if n.level == HEADLINE
               or any(n.value(stats) is not None for stats in present.values())]
    table = Table(title=escape(metric.title))
    for header in ("split", "images", *(n.header for n in numbers)):
        table.add_column(escape(header), justify="left" if header == "split" else "right")
    notes = []
    for split, stats in present.items():
        owner = next(n.owner(stats) for n in metric.numbers if n.value(stats) is not None)
        table.add_row(escape(split), format_value(owner.get("images"), "d"),
                      *(escape(n.row_text(stats)) for n in numbers))
        estimators = _estimator_clauses(numbers, stats)
        scoring = [f"binarization {owner['binarization']}" if "binarization" in owner else "",
                   f"seed {owner['seed']}" if "seed" in owner else "",
                   checkpoint_text(owner.get("checkpoint"))]
        caveat = metric.caveat(owner) if metric.caveat else ""
        notes.append(f"{split}: " + "; ".join(filter(None, [*estimators, ", ".join(
            filter(None, scoring)), caveat])))
    console.print(table)
    # Under the table, not in its caption: a caption wraps to the table's width.
    for line in filter(None, [units_line(numbers), *notes]):
        console.print(indented(line, "dim"))


def _estimator_clauses(numbers: list[Number], stats: dict) -> list[str]:
    """The numbers' estimator texts as clauses, each once (the numbers of one metric share
    most of theirs); a clause that only some numbers have is prefixed with their headers:
    "FID rec: reconstructions of the 10000 test images"."""
    owners: dict[str, list[str]] = {}  # clause → the headers of the numbers that have it
    described = 0
    for number in numbers:
        clauses = [c for c in number.estimator_text(stats).split("; ") if c]
        described += bool(clauses)
        for clause in clauses:
            owners.setdefault(clause, []).append(number.header)
    return [clause if len(headers) == described else f"{', '.join(headers)}: {clause}"
            for clause, headers in owners.items()]


def _print_breakdown(console: Console, breakdown: Breakdown, split: str, stats: dict) -> None:
    rows = breakdown.rows(stats)
    if not rows:
        return
    table = Table(title=escape(breakdown.heading(stats, split)))
    table.add_column(escape(breakdown.index))
    if breakdown.marked is not None:
        table.add_column(escape(breakdown.marked[1]), justify="right")
    for number in breakdown.numbers:
        table.add_column(escape(number.header), justify="right")
    for name, row in rows:
        mark = ([] if breakdown.marked is None else
                ["[green]yes[/]" if row.get(MARK) else "[dim]no[/]"])
        table.add_row(escape(name), *mark, *(escape(n.row_text(row)) for n in breakdown.numbers))
    console.print(table)
    if breakdown.caption:
        console.print(indented(breakdown.caption, "dim"))
