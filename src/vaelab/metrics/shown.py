"""How a metric's numbers are shown: each registered metric declares its numbers once
(label, where the number sits in metrics.json, unit, format, which way is better, its
estimator, what makes two runs comparable), and `vaelab eval`, `vaelab compare`, the
sweep summary and the HTML report all read these declarations. A number a run does not
have is shown as MISSING and is never ranked.

The paths are inside one split section of metrics.json ("test", "val", "test_best"):

    {"test": {"elbo": -97.1, "estimator": "...", "iw_nll": {"nll": 92.3, "k": 5000}}}
              ^ Number path ("elbo",)                       ^ path ("iw_nll", "nll")
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MISSING = "–"
MARK = "marked"  # the yes/no field Breakdown.rows adds to each row when ``marked`` is set

# How far a number travels (each level also shows everything of the levels above it):
HEADLINE = "headline"  # a column of `vaelab compare`, the sweep summary and the report
DETAIL = "detail"  # a row of the report's per-run metric table and of `vaelab eval`
DIAGNOSTIC = "diagnostic"  # only in the metric's own `vaelab eval` table (timing, checks)
BETTER = ("higher", "lower", "")  # "" : neither direction is better (KL, counts)


@dataclass(frozen=True)
class Number:
    """One number of a metric, as every table shows it."""

    label: str  # "reconstruction error"
    path: tuple[str, ...]  # inside the split section: ("iw_nll", "nll")
    unit: str = "nats"  # "" for counts and fractions
    format: str = ".2f"  # format spec of the value (".1%", "d", ".4f")
    better: str = ""  # "higher", "lower" or "" (neither)
    level: str = HEADLINE
    short: str = ""  # narrow terminal header ("AU"); the label when empty
    # Fields of the number's own dict (beside it in metrics.json) that must be equal for
    # two runs' values to be comparable, e.g. ("k", "binarization", "images").
    comparable: tuple[str, ...] = ()
    # (field, value) of ``comparable`` fields that numbers stored before the field existed
    # have implicitly, e.g. (("features", "classifier"),) for FIDs older than
    # --fid-features: read as that value, so they are never ranked against another.
    assumed: tuple[tuple[str, Any], ...] = ()
    estimator: tuple[str, ...] | None = None  # path of the estimator text; None: beside it
    spread: str = ""  # field beside it holding "± s.e." or "± std"
    row_label: str = ""  # label of report rows, formatted with the fields beside it
    detail: str = ""  # appended to the value in rows: "of {latent_dim}"
    estimator_note: str = ""  # appended to its estimator: "{samples} samples"

    def __post_init__(self) -> None:
        if self.better not in BETTER:
            raise ValueError(f"Number {self.label!r}: better must be one of {BETTER}")
        if self.level not in (HEADLINE, DETAIL, DIAGNOSTIC):
            raise ValueError(f"Number {self.label!r}: unknown level {self.level!r}")

    @property
    def header(self) -> str:
        return self.short or self.label

    @property
    def parent(self) -> tuple[str, ...]:
        """The path of the dict that holds the number and its provenance."""
        return self.path[:-1]

    @property
    def estimator_path(self) -> tuple[str, ...]:
        return self.estimator if self.estimator is not None else (*self.parent, "estimator")

    def value(self, section: Any) -> float | int | None:
        """The number in a split section, or None when absent or not a finite number."""
        return number_or_none(lookup(section, self.path))

    def text(self, section: Any) -> str:
        """The value in this number's format, MISSING when absent."""
        return format_value(self.value(section), self.format)

    def row_text(self, section: Any) -> str:
        """The value with its spread and detail, as in a metric's own table."""
        value = self.value(section)
        text = format_value(value, self.format)
        owner = self.owner(section)
        spread = number_or_none(owner.get(self.spread)) if self.spread else None
        if value is not None and spread is not None:
            text += f" ± {format_value(spread, self.format)}"
        if value is not None and self.detail:
            text += " " + fill(self.detail, owner)
        return text

    def row_name(self, section: Any) -> str:
        return fill(self.row_label, self.owner(section)) or self.label

    def owner(self, section: Any) -> dict[str, Any]:
        """The dict holding the number (its estimator, images, k, ...); {} when absent."""
        found = lookup(section, self.parent)
        return found if isinstance(found, dict) else {}

    def estimator_text(self, section: Any) -> str:
        """Its estimator, with the ``estimator_note`` filled from the fields beside it
        ("...; 1000 samples from the normal prior"); "" when it has none."""
        owner = self.owner(section)
        if not owner:
            return ""  # the metric was not computed: nothing to describe
        text = lookup(section, self.estimator_path)
        text = str(text) if isinstance(text, str) else ""
        return "; ".join(filter(None, [text, fill(self.estimator_note, owner)]))


@dataclass(frozen=True)
class Breakdown:
    """A table of one metric's numbers split by class or by latent dimension: ``path``
    leads (inside the split section) to {row name: {field: value}}, or, with
    ``columnar``, to a dict of equally long lists (one entry per row)."""

    title: str  # formatted with {split} and the fields of the dict at ``path``
    index: str  # header of the first column: "class", "dim"
    path: tuple[str, ...]
    numbers: tuple[Number, ...]  # paths relative to one row
    columnar: bool = False
    caption: str = ""
    # Rows to mark (columnar only): a list of row indices in the dict at ``path``, and
    # the header of the yes/no column, e.g. ("active_dims", "active").
    marked: tuple[str, str] | None = None

    def rows(self, section: Any) -> list[tuple[str, dict[str, Any]]]:
        """(row name, {field: value}) in stored order; [] when the split has none."""
        found = lookup(section, self.path)
        if not isinstance(found, dict):
            return []
        if not self.columnar:
            return [(str(name), row) for name, row in found.items() if isinstance(row, dict)]
        fields = [number.path[0] for number in self.numbers]
        size = max((len(found[f]) for f in fields if isinstance(found.get(f), list)),
                   default=0)
        rows = [(str(j), {f: found[f][j] for f in fields
                          if isinstance(found.get(f), list) and j < len(found[f])})
                for j in range(size)]
        if self.marked is not None:
            marked = found.get(self.marked[0])
            marked = set(marked) if isinstance(marked, list) else set()
            for j, (_, row) in enumerate(rows):
                row[MARK] = j in marked
        return rows

    def heading(self, section: Any, split: str) -> str:
        owner = lookup(section, self.path)
        owner = owner if isinstance(owner, dict) else {}
        return fill(self.title, {**owner, "split": split}) or f"{self.index} ({split})"


def units_line(numbers: list[Number]) -> str:
    """'nats: ELBO, KL · higher is better: ELBO · lower is better: recon error' (units
    that the format shows, % and s, go unsaid)."""
    groups: dict[str, list[str]] = {}
    for number in numbers:
        if number.unit and number.unit not in ("s", "%"):
            groups.setdefault(number.unit, []).append(number.header)
        if number.better:
            groups.setdefault(f"{number.better} is better", []).append(number.header)
    return " · ".join(f"{what}: {', '.join(headers)}" for what, headers in groups.items())


# -- the one non-metric column: training time, from history.csv ---------------------------
# summary.json and the report's run tables name it "train.seconds": a top-level path of
# the tree that `with_training_time` builds (metrics.json plus this one number).
TRAIN_TIME = Number("train time", ("train", "seconds"), unit="s", format=".1f",
                    better="lower", estimator=(), short="train s")
TRAIN_TIME_KEY = "train.seconds"


def with_training_time(metrics: dict[str, Any], history: list[dict[str, float]]
                       ) -> dict[str, Any]:
    """metrics.json plus {"train": {"seconds": Σ epoch_seconds}} when a history exists."""
    if not history or "train" in metrics:
        return metrics
    seconds = sum(row.get("epoch_seconds", 0.0) for row in history)
    return {**metrics, "train": {"seconds": seconds}}


def checkpoint_text(stamp: Any) -> str:
    """'last checkpoint, epoch 3, sha256 1f2e3d4c': which weights numbers came from (the
    stamp of rundir.checkpoint_stamp; a bare name from older runs); '' when absent."""
    if isinstance(stamp, str):
        return f"{stamp} checkpoint"
    if not isinstance(stamp, dict):
        return ""
    parts = [f"{stamp.get('name')} checkpoint", f"epoch {stamp.get('epoch')}"]
    if isinstance(stamp.get("sha256"), str):
        parts.append(f"sha256 {stamp['sha256'][:8]}")
    return ", ".join(parts)


# -- small shared helpers -----------------------------------------------------------------
def lookup(tree: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return tree


def number_or_none(value: Any) -> float | int | None:
    """A finite int or float; None for anything else (absent, NaN, text, bool)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def format_value(value: Any, spec: str) -> str:
    if number_or_none(value) is None:
        return MISSING
    if spec == "d":
        return f"{int(round(value)):,}"
    return format(value, spec)


def fill(template: str, fields: dict[str, Any]) -> str:
    """``template`` formatted with ``fields`` (numbers with :g-like defaults); "" when a
    field is missing, so a half-written metrics.json never breaks a table."""
    try:
        return template.format(**{k: _plain(v) for k, v in fields.items()})
    except (KeyError, IndexError, ValueError):
        return ""


def _plain(value: Any) -> Any:
    return f"{value:.2f}" if isinstance(value, float) else value


def best_index(values: list[float | int | None], better: str) -> int | None:
    """Which value is best (None: no direction, or fewer than two values to rank);
    missing values are never ranked."""
    present = [(v, i) for i, v in enumerate(values) if number_or_none(v) is not None]
    if better not in ("higher", "lower") or len(present) < 2:
        return None
    pick: Callable[..., tuple[Any, int]] = max if better == "higher" else min
    return pick(present, key=lambda pair: pair[0])[1]
