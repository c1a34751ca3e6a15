"""What a sweep is: a base config, a set of points (flat config overrides, each a named
group) and seeds. ``SweepSpec.runs()`` expands them into one ``RunSpec`` per (point, seed),
each with its resolved config and its run directory name.

A sweep file (TOML or JSON):

    name = "beta"
    base = "base.toml"                 # or a [base] table of config sections
    seeds = 3                          # or [0, 1, 2]
    metrics = ["elbo", "collapse"]     # evaluated on every run after training
    iw_samples = 1000                  # k of iw-nll when it is in metrics

    [grid]                             # every combination (Cartesian product)
    beta = [0.0, 0.1, 1.0]

    [zip]                              # lists of equal length, taken together
    hidden = [[128], [256, 128]]
    lr = [1e-3, 3e-4]

    [[points]]                         # extra named points, each a table of overrides
    name = "ae"
    objective = "ae"

Keys are the flat option names of ``vaelab train`` (``beta``, ``hidden``, ``lr`` ...).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vaelab.config import (
    FLAT_OPTIONS,
    Config,
    apply_overrides,
    coerce,
    read_config_file,
    read_toml_or_json,
)
from vaelab.errors import VaelabError, shown
from vaelab.metrics.features import DEFAULT_FEATURES, FEATURE_NETWORKS
from vaelab.registry import did_you_mean
from vaelab.sweep import layout

# What may differ between two invocations of one sweep (see SweepSpec.identity).
IDENTITY_EXCLUDES = ("name", "title", "seeds")
SWEEP_KEYS = {"name", "title", "base", "seeds", "metrics", "iw_samples", "fid_samples",
              "fid_features", "grid", "zip", "points", "figures"}


@dataclass(frozen=True)
class Point:
    """One setting of the swept options; ``name`` labels its group in tables."""

    name: str
    overrides: dict[str, Any]


@dataclass(frozen=True)
class RunSpec:
    """One run of the sweep: a point with one seed."""

    point: str
    seed: int
    config: Config
    overrides: dict[str, Any]

    @property
    def dir_name(self) -> str:
        return f"{safe_name(self.point)}-seed{self.seed}"


@dataclass
class SweepSpec:
    name: str
    base: Config
    points: list[Point]
    seeds: list[int] = field(default_factory=lambda: [0])
    metrics: list[str] = field(default_factory=lambda: ["elbo", "collapse"])
    iw_samples: int = 1000
    fid_samples: int = 10000
    fid_features: str = DEFAULT_FEATURES  # fid's and prdc's network (metrics/features.py)
    figures: bool = True
    title: str = ""

    def runs(self) -> list[RunSpec]:
        """(point, seed) pairs with validated configs; bad values fail here, before any
        training, naming the point."""
        runs = []
        for point in self.points:
            for seed in self.seeds:
                overrides = {**point.overrides, "seed": seed}
                try:
                    config = self.base.replace(**overrides)
                except VaelabError as err:
                    raise VaelabError(f"sweep point {point.name!r}: {err}") from None
                runs.append(RunSpec(point.name, seed, config, overrides))
        return runs

    def identity(self) -> str:
        """What makes two sweeps the same experiment: a hash of the spec without its name,
        title and seeds (seeds may be added to a sweep; anything else is another sweep).
        Stored as sweep.json's "spec_id"; part of a command-line sweep's default name."""
        same = {k: v for k, v in self.to_dict().items() if k not in IDENTITY_EXCLUDES}
        text = json.dumps(same, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "base": self.base.to_dict(),
                "points": [{"name": p.name, "overrides": p.overrides} for p in self.points],
                "seeds": self.seeds, "metrics": self.metrics, "iw_samples": self.iw_samples,
                "fid_samples": self.fid_samples, "figures": self.figures,
                # Only when chosen: sweeps written before the option keep their identity.
                **({"fid_features": self.fid_features}
                   if self.fid_features != DEFAULT_FEATURES else {})}


def check_fid_features(spec: SweepSpec, where: str) -> None:
    """A feature network other than the default needs a metric that reads it."""
    if spec.fid_features != DEFAULT_FEATURES and not {"fid", "prdc"} & set(spec.metrics):
        raise VaelabError(f"{where}: fid_features {spec.fid_features} (--fid-features) "
                          "chooses the features of fid and prdc, but neither is among its "
                          "metrics; add one or leave it out")


def metric_options(spec_dict: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Keyword arguments of each metric's gatherer for the runs of a stored spec
    (``SweepSpec.to_dict``)."""
    samples = {"n_samples": spec_dict["fid_samples"],
               "features": spec_dict.get("fid_features", DEFAULT_FEATURES)}
    return {"iw-nll": {"k": spec_dict["iw_samples"]}, "fid": samples, "prdc": dict(samples)}


def safe_name(text: str) -> str:
    """A directory name for a point: keeps letters, digits and ``.=,_-``."""
    cleaned = re.sub(r"[^A-Za-z0-9.=,_+-]+", "_", text).strip("._")
    return cleaned[:120] or "point"


def point_name(overrides: dict[str, Any]) -> str:
    """``beta=0.1,hidden=256-128`` from the overrides, in their given order."""
    if not overrides:
        return "base"
    return ",".join(f"{key}={_value_text(value)}" for key, value in overrides.items())


def _value_text(value: Any) -> str:
    if isinstance(value, list):
        return "-".join(map(str, value)) if value else "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def expand_points(grid: dict[str, list], zipped: dict[str, list], extra: list[dict],
                  *, where: str) -> list[Point]:
    """grid (product) × zip (rows), then the extra named points. With neither grid nor zip
    nor points, one point: the base config."""
    for table_name, table in (("grid", grid), ("zip", zipped)):
        for key, values in table.items():
            _check_key(key, where)
            if not isinstance(values, list) or not values:
                raise VaelabError(f"{where}: {table_name}.{key} must be a non-empty list of "
                                  f"values, got {shown(values)!r}")
    lengths = {key: len(values) for key, values in zipped.items()}
    if len(set(lengths.values())) > 1:
        raise VaelabError(f"{where}: the [zip] lists must have equal lengths, got "
                          + ", ".join(f"{k}: {n}" for k, n in lengths.items()))
    grid = {_key(k): [_typed(k, v, where) for v in values] for k, values in grid.items()}
    zipped = {_key(k): [_typed(k, v, where) for v in values] for k, values in zipped.items()}
    zip_rows = [dict(zip(zipped, row, strict=True)) for row in zip(*zipped.values(),
                                                                     strict=True)]
    grid_rows = [dict(zip(grid, combo, strict=True))
                 for combo in itertools.product(*grid.values())]
    points = []
    if grid or zipped:
        for grid_row in grid_rows or [{}]:
            for zip_row in zip_rows or [{}]:
                overrides = {**zip_row, **grid_row}
                points.append(Point(point_name(overrides), overrides))
    for index, raw in enumerate(extra):
        if not isinstance(raw, dict):
            raise VaelabError(f"{where}: points[{index}] must be a table of overrides")
        for key in raw:
            if key != "name":
                _check_key(key, where)
        overrides = {_key(k): _typed(k, v, where) for k, v in raw.items() if k != "name"}
        points.append(Point(str(raw.get("name") or point_name(overrides)), overrides))
    if not points:
        points.append(Point("base", {}))
    names = [p.name for p in points]
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        raise VaelabError(f"{where}: point names must be unique, {clashes[0]!r} is used twice")
    dir_names = [safe_name(n) for n in names]
    if len(set(dir_names)) < len(dir_names):
        raise VaelabError(f"{where}: two point names map to the same directory name; give "
                          "the [[points]] distinct names")
    if "seed" in {k for p in points for k in p.overrides}:
        raise VaelabError(f"{where}: sweep the seed with seeds = N or [..], not as an override")
    return points


def _key(key: str) -> str:
    """Overrides are stored with underscores, as Python keyword arguments."""
    return key.replace("-", "_")


def _typed(key: str, value: Any, where: str) -> Any:
    """The override as the config will hold it (``"0.1"`` → 0.1, ``"256,128"`` → [256,
    128]), so that names, manifests and tables show typed values."""
    return coerce(FLAT_OPTIONS[key.replace("_", "-")], value, where=f"{where}: {key}")


def _check_key(key: str, where: str) -> None:
    if key.replace("_", "-") not in FLAT_OPTIONS:
        raise VaelabError(f"{where}: unknown option {shown(key)!r}"
                          f"{did_you_mean(key.replace('_', '-'), list(FLAT_OPTIONS))}; sweep "
                          "keys are the option names of `vaelab train`, e.g. beta, hidden, lr")


def parse_seeds(value: Any, *, where: str) -> list[int]:
    """``3`` → [0, 1, 2]; ``[0, 5]`` → [0, 5]; ``"0,5"`` → [0, 5]."""
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",") if p.strip()]
        try:
            value = [int(p) for p in parts] if len(parts) > 1 else int(parts[0])
        except (ValueError, IndexError):
            raise VaelabError(f"{where}: seeds must be a count or a list of integers, got "
                              f"{shown(value)!r}") from None
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise VaelabError(f"{where}: seeds must be >= 1, got {value}")
        return list(range(value))
    if (isinstance(value, list) and value
            and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value)):
        if len(set(value)) < len(value):
            raise VaelabError(f"{where}: seeds has duplicates: {value}")
        return list(value)
    raise VaelabError(f"{where}: seeds must be a count or a list of integers >= 0, got "
                      f"{shown(value)!r}")


def spec_from_dict(raw: dict[str, Any], *, where: str, base_dir: Path | None = None,
                   default_name: str = "sweep") -> SweepSpec:
    """A SweepSpec from a parsed sweep file (or sweep.json's "spec")."""
    if not isinstance(raw, dict):
        raise VaelabError(f"{where}: a sweep file is a table of keys such as grid, seeds")
    unknown = sorted(set(raw) - SWEEP_KEYS)
    if unknown:
        raise VaelabError(f"{where}: unknown sweep key {shown(unknown[0])!r}"
                          f"{did_you_mean(unknown[0], sorted(SWEEP_KEYS))}; keys are "
                          f"{', '.join(sorted(SWEEP_KEYS))}")
    base_raw = raw.get("base", {})
    if isinstance(base_raw, str):
        path = Path(base_raw)
        if base_dir is not None and not path.is_absolute():
            path = base_dir / path
        base = Config.from_dict(read_config_file(path), where=str(path))
    elif isinstance(base_raw, dict):
        base = apply_overrides(Config(), base_raw, where=f"{where} [base]")
    else:
        raise VaelabError(f"{where}: base must be a config file path or a [base] table")
    for table in ("grid", "zip"):
        if not isinstance(raw.get(table, {}), dict):
            raise VaelabError(f"{where}: [{table}] must be a table of option = [values]")
    if not isinstance(raw.get("points", []), list):
        raise VaelabError(f"{where}: points must be an array of tables ([[points]])")
    points_raw = raw.get("points", [])
    # sweep.json stores expanded points as {"name", "overrides"}; a sweep file writes the
    # overrides inline.
    extra = [{"name": p["name"], **p["overrides"]} if set(p) == {"name", "overrides"} else p
             for p in points_raw if isinstance(p, dict)] if points_raw else []
    if len(extra) != len(points_raw):
        raise VaelabError(f"{where}: every entry of points must be a table of overrides")
    points = expand_points(raw.get("grid", {}), raw.get("zip", {}), extra, where=where)
    from vaelab.metrics import parse_metric_names

    metrics = raw.get("metrics", ["elbo", "collapse"])
    if not isinstance(metrics, list) or not all(isinstance(m, str) for m in metrics):
        raise VaelabError(f"{where}: metrics must be a list of names such as "
                          "[\"elbo\", \"collapse\"]")
    metrics = parse_metric_names(",".join(metrics)) if metrics else []
    name = layout.check_name(str(raw.get("name") or default_name), what=f"{where}: name")
    spec = SweepSpec(name=name, base=base, points=points,
                     seeds=parse_seeds(raw.get("seeds", 1), where=where), metrics=metrics,
                     title=str(raw.get("title", "")), figures=bool(raw.get("figures", True)))
    for key in ("iw_samples", "fid_samples"):
        if key in raw:
            value = raw[key]
            if not isinstance(value, int) or isinstance(value, bool) or value < 2:
                raise VaelabError(f"{where}: {key} must be an integer >= 2, got "
                                  f"{shown(value)!r}")
            setattr(spec, key, value)
    if "fid_features" in raw:
        features = raw["fid_features"]
        if not isinstance(features, str) or features not in FEATURE_NETWORKS:
            raise VaelabError(f"{where}: fid_features must be one of "
                              f"{', '.join(FEATURE_NETWORKS.names())}, got {shown(features)!r}")
        spec.fid_features = features
    check_fid_features(spec, where)
    spec.runs()  # validate every point now
    return spec


def read_sweep_file(path: str | Path) -> SweepSpec:
    path = Path(path)
    raw = read_toml_or_json(path, "sweep file")
    return spec_from_dict(raw, where=str(path), base_dir=path.parent,
                          default_name=safe_name(path.stem))


def parse_grid_option(text: str, *, where: str = "--grid") -> tuple[str, list[Any]]:
    """``beta=0,0.1,1`` → ("beta", ["0", "0.1", "1"]). List-valued options separate their
    values with ``;``: ``hidden=128;256,128;none``. Values are parsed later by the config
    parser, like command-line values."""
    key, sep, values = text.partition("=")
    key = key.strip()
    if not sep or not key or not values.strip():
        raise VaelabError(f"{where} {text!r}: write OPTION=V1,V2,... e.g. beta=0,0.1,1")
    _check_key(key, where)
    spec = FLAT_OPTIONS[key.replace("_", "-")]
    separator = ";" if "list" in str(spec.annotation) else ","
    parts = [part.strip() for part in values.split(separator)]
    if any(not part for part in parts):
        raise VaelabError(f"{where} {text!r}: an empty value; separate values with "
                          f"{separator!r}")
    return key.replace("-", "_"), parts
