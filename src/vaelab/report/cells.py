"""The report's numbers and table cells: how a value is written, what the sorting script
compares, and the small dataclasses (Cell, Header, Table) the template draws."""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass
from typing import Any

from vaelab.metrics.shown import MISSING, format_value


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def fmt(value: Any, spec: str | None = None) -> str:
    """A number as shown in a table: integers with thousands separators, nats with two
    decimals, small numbers with three significant digits; ``spec`` when given (a
    metric's declared format)."""
    if value is None:
        return MISSING
    if not is_number(value):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if spec is not None:
        return format_value(value, spec)
    if isinstance(value, int):
        return f"{value:,}"
    if value == 0 or abs(value) >= 1:
        return f"{value:,.2f}"
    return f"{value:.3g}"


def sort_key(value: Any) -> str:
    """What the sorting script compares: the raw number, or "" (sorted last)."""
    if is_number(value) and math.isfinite(value):
        return repr(value)
    return ""


@dataclass
class Cell:
    text: str
    sort: str | None = None  # data-sort; None: sort by the text
    href: str | None = None  # an in-page link ("#run-3")
    badge: str | None = None  # CSS class of a badge around the text
    wrap: bool = False  # long text: give the column room to wrap
    best: bool = False  # the best value of its column among comparable runs


def number_cell(value: Any, spec: str | None = None) -> Cell:
    return Cell(fmt(value, spec), sort=sort_key(value))


def plus_minus(cell: Cell, value: Any, spread: Any, spec: str | None = None) -> Cell:
    """Append "± spread" to a number cell, with the number's decimals (44.20 ± 0.04)."""
    if spread is None or cell.text == MISSING:
        return cell
    if spec is not None:
        cell.text += f" ± {fmt(spread, spec)}"
        return cell
    same = is_number(value) and is_number(spread) and math.isfinite(value) and (
        value == 0 or abs(value) >= 1) and not isinstance(value, int)
    cell.text += f" ± {fmt(spread, ',.2f') if same else fmt(spread)}"
    return cell


def get(tree: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return tree


def section(tree: Any, key: str) -> dict[str, Any]:
    """``tree[key]`` when it is a JSON object, else {} (a hand-edited file may hold
    anything; the page shows what it can rather than failing)."""
    value = tree.get(key) if isinstance(tree, dict) else None
    return value if isinstance(value, dict) else {}


def joined(values: Any, sep: str) -> str:
    return sep.join(map(str, values)) if isinstance(values, list) else str(values)


def short_estimator(text: str, limit: int = 64) -> str:
    """The first clause of an estimator description, for a table header (the full text
    goes in the header's tooltip and in the legend under the table)."""
    cuts = [text.find(stop) for stop in (" (", "; ", ": ") if stop in text]
    text = text[:min(cuts)] if cuts else text  # at the first stop, whichever it is
    return text if len(text) <= limit else text[:limit - 1] + "…"


@dataclass
class Header:
    label: str
    sub: str = ""  # the estimator, shortened
    title: str = ""  # the full estimator, as a tooltip
    numeric: bool = False


@dataclass
class Table:
    headers: list[Header]
    rows: list[list[Cell]]
    legend: list[tuple[str, str]]  # (column, full estimator)
    notes: list[str]


def estimator_header(label: str, estimators: list[str], *, better: str = "",
                     ks: list[Any] | None = None) -> Header:
    """A number column's header: its label, then which way is better, k and the first
    clause of its estimator (the full text is the tooltip and goes in the legend)."""
    sub = ""
    if len(estimators) > 1:
        sub = "estimators differ, see below"
    elif estimators and "; " not in estimators[0]:  # "a: ..; b: .." names several: legend
        sub = short_estimator(estimators[0])
        if len(sub) > 32:  # headers stay narrow
            sub = textwrap.shorten(sub.split(", ", 1)[0], 32, placeholder=" …")
        if sub.lower() == label.lower():
            sub = ""
    if ks and "k = " not in sub:
        sub = f"k = {', '.join(map(fmt, ks))}" + (f"; {sub}" if sub else "")
    if better in ("higher", "lower"):
        sub = f"{better} is better" + (f"; {sub}" if sub else "")
    return Header(label, sub=sub, title="\n".join(estimators), numeric=True)


def legend_of(columns: list[tuple[str, list[str]]]) -> list[tuple[str, str]]:
    """(column labels, estimator): columns that share an estimator are named together."""
    grouped: dict[str, list[str]] = {}
    for label, estimators in columns:
        for estimator in estimators:
            grouped.setdefault(estimator, []).append(label)
    return [(", ".join(labels), estimator) for estimator, labels in grouped.items()]
