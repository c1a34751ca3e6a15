"""The declared numbers of every registered metric, in table order: the columns of
`vaelab compare`, the sweep summary and the report's run tables, the rows of `vaelab
eval` and of the report's metric tables, and the notes on runs scored differently.

Nothing here names a metric: a metric registered with its numbers (metrics/shown.py)
appears in every table without another edit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from vaelab.metrics.base import METRICS, Metric
from vaelab.metrics.shown import (
    DETAIL,
    DIAGNOSTIC,
    HEADLINE,
    TRAIN_TIME,
    TRAIN_TIME_KEY,
    Number,
    lookup,
)

LEVELS = (HEADLINE, DETAIL, DIAGNOSTIC)


def metrics_in_order() -> list[Metric]:
    from vaelab.metrics import metric_names

    return [METRICS.get(name) for name in metric_names()]


def numbers_of(metric: Metric, level: str = DIAGNOSTIC) -> list[Number]:
    """The metric's numbers shown at ``level`` (HEADLINE: columns only; DETAIL: the
    report's rows; DIAGNOSTIC: everything, as `vaelab eval` prints)."""
    return [n for n in metric.numbers if LEVELS.index(n.level) <= LEVELS.index(level)]


@dataclass(frozen=True)
class Column:
    """A number of one split section (or the training time) as a column across runs."""

    number: Number
    split: str | None  # None: a top-level path (the training time)

    @property
    def path(self) -> tuple[str, ...]:
        """Into metrics.json plus the training time (``shown.with_training_time``)."""
        return self.number.path if self.split is None else (self.split, *self.number.path)

    @property
    def key(self) -> str:
        """Dotted path: summary.json's key ("test.iw_nll.nll", "train.seconds")."""
        return ".".join(self.path)

    @property
    def label(self) -> str:
        """'test ELBO (nats)': the label of summary files and report headers."""
        unit = f" ({self.number.unit})" if self.number.unit else ""
        split = f"{self.split} " if self.split else ""
        return f"{split}{self.number.label}{unit}"

    def section(self, tree: Any) -> Any:
        """The part of the tree that the number's own path starts from."""
        return tree if self.split is None else lookup(tree, (self.split,))

    def value(self, tree: Any) -> float | int | None:
        return self.number.value(self.section(tree))

    def estimator(self, tree: Any) -> str:
        return self.number.estimator_text(self.section(tree))


def headline_columns(split: str = "test", *, training_time: bool = False) -> list[Column]:
    """The key numbers of a run, in metric order; the training time last when asked."""
    columns = [Column(number, split) for metric in metrics_in_order()
               for number in numbers_of(metric, HEADLINE)]
    if training_time:
        columns.append(Column(TRAIN_TIME, None))
    return columns


def column_for(key: str) -> Column | None:
    """The declared column behind a summary.json key, or None (a key of another version)."""
    if key == TRAIN_TIME_KEY:
        return Column(TRAIN_TIME, None)
    split, _, rest = key.partition(".")
    for metric in metrics_in_order():
        for number in metric.numbers:
            if ".".join(number.path) == rest:
                return Column(number, split)
    return None


def owned_keys() -> set[str]:
    """Keys of a split section that registered metrics declare (their dicts, flat numbers
    and breakdowns); anything else in a section is shown as a plain unknown number."""
    keys: set[str] = set()
    for metric in metrics_in_order():
        if metric.key is not None:
            keys.add(metric.key)
        keys.update(number.path[0] for number in metric.numbers)
        keys.update(breakdown.path[0] for breakdown in metric.breakdowns)
    return keys


def comparability_notes(sections: list[Any], datasets: list[Any]) -> tuple[list[str], set[str]]:
    """Why numbers in a table across runs may not be comparable: different datasets, or
    a metric scored with different k, images, binarisation, ... (each Number's
    ``comparable`` fields, among the runs that have that number). Returns the notes and
    the labels of the numbers concerned (never ranked)."""
    notes: list[str] = []
    concerned: set[str] = set()
    named = sorted({str(d) for d in datasets if d is not None})
    if len(named) > 1:
        notes.append(f"runs are on different datasets ({', '.join(named)}): their numbers "
                     "are not comparable")
        concerned.update(n.label for m in metrics_in_order() for n in m.numbers)
    for metric in metrics_in_order():
        seen: set[tuple[str, str]] = set()
        for number in metric.numbers:
            owners = [number.owner(s) for s in sections if number.value(s) is not None]
            assumed = dict(number.assumed)
            for field in number.comparable:
                values = {json.dumps(o.get(field, assumed.get(field))) for o in owners} - {"null"}
                if len(values) < 2:
                    continue
                concerned.add(number.label)
                if (number.parent, field) not in seen:
                    seen.add((number.parent, field))
                    notes.append(f"{metric.title}: runs differ in {field} "
                                 f"({', '.join(sorted(values))}); those numbers are not "
                                 "comparable")
    return notes, concerned
