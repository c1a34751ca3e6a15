"""The run configuration, generated from the components' own declarations.

A config has eight sections. Seven name a registered component (the dataset, model family,
network, posterior, likelihood, prior and objective) and hold that component's own options
(its ``Options`` dataclass, vaelab/options.py) next to the fields every choice of the
section shares;
[train] has fields only. CLI flags, TOML/JSON keys, validation and the unknown-key
errors all come from these declarations: a new component with a new option is one file
and one registry line. This module imports no component: it reads the registries of
vaelab/concepts.py, which load their packages on first use.

    [data]
    dataset = "mnist"
    [network]
    hidden = [512, 256]
    [prior]
    name = "student-t"
    df = 3
    [train]
    epochs = 20

Precedence: defaults < config file < command-line options. An option that the chosen
component does not read is refused ("prior normal does not read --prior-df") unless it
is at its default (then it says nothing, so it is dropped), so nothing is ever silently
ignored. Switching a section to another component keeps the values set for the options
both share (an option left at the old component's default takes the new one's default).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import tomllib
import types
import typing
from dataclasses import dataclass, field, make_dataclass
from pathlib import Path
from typing import Any, ClassVar

from vaelab.binarize import BINARIZE_MODES
from vaelab.concepts import (
    DATASETS,
    LIKELIHOODS,
    MODELS,
    NETWORKS,
    OBJECTIVES,
    POSTERIORS,
    PRIORS,
)
from vaelab.errors import VaelabError, shown
from vaelab.options import FieldSpec, NoOptions, declared_fields, option
from vaelab.precision import TRAIN_PRECISIONS
from vaelab.registry import Registry, did_you_mean


# -- the fields every choice of a section shares -------------------------------------------
@dataclass
class DataFields:
    data_dir: str | None = option(
        None, "Folder holding the dataset files (searched before $VAELAB_DATA/<name>).")
    path: str | None = option(
        None, "File for the csv/npz datasets (Kaggle CSV layout or npz with x, y).",
        cli="data-path")
    test_path: str | None = option(
        None, "Test file for csv/npz; without it a test split is held out of --data-path.")
    binarize: str = option(
        "none", "none: grey values in [0,1]; dynamic: a fresh Bernoulli draw each time an "
        "image is used, scored on one fixed draw (the usual VAE/IWAE MNIST NLL tables); "
        "fixed: one seeded draw kept for all epochs (Larochelle & Murray's statically "
        "binarised MNIST); threshold: x > 0.5 (comparable with neither; 'static' is its "
        "old name).", choices=lambda: list(BINARIZE_MODES))
    val_fraction: float = option(
        0.1, "Fraction of the training file held out for validation.", low=0.0, high=1.0,
        high_open=True)
    split_seed: int = option(0, "Seed of the train/validation split (kept apart from --seed "
                             "so seeds of a sweep share one split).", low=0)
    subset: int | None = option(
        None, "Use only the first N images of the training split (after the split), and at "
        "most N of validation and test; for quick runs.", low=1)


@dataclass
class NetworkFields:
    latent_dim: int = option(20, "Number of latent dimensions.", low=1)


@dataclass
class TrainFields:
    epochs: int = option(10, "Training epochs.", low=1)
    batch_size: int = option(128, "Mini-batch size.", low=1)
    lr: float = option(1e-3, "Adam learning rate.", low=0.0, low_open=True)
    weight_decay: float = option(0.0, "Adam weight decay (L2).", low=0.0)
    adam_eps: float = option(1e-8, "Adam ε, added to the root of the second moment (Burda "
                             "et al. 2015 used 1e-4).", low=0.0, low_open=True)
    lr_schedule: str = option(
        "constant", "Learning rate over the epochs: constant (--lr), or burda (Burda et al. "
        "2015: 3^i epochs at --lr·10^(−i/7), i = 0…7; 3280 epochs in all).",
        choices=lambda: _lr_schedule_names())
    grad_clip: float | None = option(
        None, "Clip the gradient norm to this value (off by default).", low=0.0, low_open=True)
    seed: int = option(0, "Seed of initialisation, batch order, binarisation and sampling.",
                       low=0)
    device: str = option("auto", "auto (CUDA if present, else CPU), cpu, cuda or cuda:N.")
    eval_batch_size: int = option(2000, "Batch size of validation and test passes.", low=1)
    nan_policy: str = option(
        "stop", "What a non-finite loss or gradient does: stop (an error naming the step; the "
        "last checkpoint is kept) or skip (that optimiser step is dropped and counted in "
        "history's skipped_steps; more than 10% of an epoch's steps still stops).",
        choices=lambda: ["stop", "skip"])
    precision: str = option(
        "float32", "Training arithmetic: float32, or bf16 (autocast: matmuls in bfloat16, "
        "densities and every logged number in float32).",
        choices=lambda: list(TRAIN_PRECISIONS))
    cuda_graphs: str = option(
        "auto", "On CUDA, capture each training step in a CUDA graph and replay it (auto; "
        "falls back to eager steps, saying why, where capture is impossible) or never (off).",
        choices=lambda: ["auto", "off"])


def _lr_schedule_names() -> list[str]:
    from vaelab.lr_schedules import LR_SCHEDULES

    return LR_SCHEDULES.names()


# -- sections -------------------------------------------------------------------------------
@dataclass(frozen=True)
class SectionSpec:
    """A config section: its shared fields and, if it names a component, the registry
    the component comes from, the field that names it and its default."""

    key: str  # "prior"
    shared: type  # dataclass of the fields every choice has
    registry: Registry | None = None
    name_field: str = "name"  # the field naming the component ("dataset" in [data])
    name_cli: str | None = None  # its flag ("--prior"); None: the field name
    default: str | None = None  # the default component
    help: str = ""
    prefix: str = ""  # CLI prefix of the components' options: "prior-" → --prior-df

    def options_of(self, component: str | None) -> type:
        if self.registry is None or component is None or component not in self.registry:
            return NoOptions
        return getattr(self.registry.get(component), "Options", NoOptions)


SECTION_SPECS: dict[str, SectionSpec] = {spec.key: spec for spec in [
    SectionSpec("data", DataFields, DATASETS, name_field="dataset", default="mnist",
                help="Dataset name (see `vaelab datasets`)."),
    SectionSpec("model", NoOptions, MODELS, name_cli="model", default="vae",
                help="Model family: how latents are arranged and used (see the choices)."),
    SectionSpec("network", NetworkFields, NETWORKS, name_cli="network", default="mlp",
                help="Encoder/decoder family."),
    SectionSpec("posterior", NoOptions, POSTERIORS, name_cli="posterior", default="gaussian",
                help="Posterior q(z|x): gaussian (diagonal), full-gaussian, planar, radial, iaf."),
    SectionSpec("likelihood", NoOptions, LIKELIHOODS, name_cli="likelihood",
                default="bernoulli", help="Decoder likelihood p(x|z)."),
    SectionSpec("prior", NoOptions, PRIORS, name_cli="prior", default="normal",
                help="Prior p(z).", prefix="prior-"),
    SectionSpec("objective", NoOptions, OBJECTIVES, name_cli="objective", default="elbo",
                help="Training objective."),
    SectionSpec("train", TrainFields),
]}
SECTIONS = list(SECTION_SPECS)


class Section:
    """Base of every generated section class: a dataclass of the name field, the shared
    fields and the component's options. ``spec`` and ``component`` say which."""

    spec: ClassVar[SectionSpec]

    @property
    def component(self) -> str | None:
        """The chosen component's name (None for [train])."""
        return getattr(self, self.spec.name_field) if self.spec.registry else None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@functools.cache
def section_class(key: str, component: str | None) -> type:
    """The dataclass of section ``key`` with ``component`` chosen (cached)."""
    spec = SECTION_SPECS[key]
    fields: list[tuple[str, Any, Any]] = []
    if spec.registry is not None:
        meta = dict(help=spec.help, cli=spec.name_cli, low=None, high=None, low_open=False,
                    high_open=False, choices=spec.registry.names, aliases={}, check=None)
        fields.append((spec.name_field, str, field(default=component, metadata=meta)))
    for declared in (spec.shared, spec.options_of(component)):
        for f, annotation, _ in declared_fields(declared):
            copied = (field(default_factory=f.default_factory, metadata=f.metadata)
                      if f.default_factory is not dataclasses.MISSING
                      else field(default=f.default, metadata=f.metadata))
            fields.append((f.name, annotation, copied))
    title = key.capitalize() + (f"[{component}]" if component else "")
    cls = make_dataclass(f"{title}Section", fields, bases=(Section,))
    cls.spec = spec
    return cls


def _field_spec(spec: SectionSpec, f: dataclasses.Field, annotation: Any, default: Any,
                owners: tuple[str, ...] | None) -> FieldSpec:
    meta = dict(f.metadata)
    prefix = spec.prefix if owners is not None else ""
    return FieldSpec(section=spec.key, name=f.name,
                     cli=meta["cli"] or prefix + f.name.replace("_", "-"),
                     annotation=annotation, default=default, help=meta["help"], meta=meta,
                     owners=owners)


def _section_fields(spec: SectionSpec) -> list[FieldSpec]:
    """The name field, the shared fields and the union of every component's options
    (one FieldSpec per option name, naming the components that declare it)."""
    specs = []
    if spec.registry is not None:
        name_field = dataclasses.fields(section_class(spec.key, spec.default))[0]
        specs.append(_field_spec(spec, name_field, str, spec.default, None))
    for f, annotation, default in declared_fields(spec.shared):
        specs.append(_field_spec(spec, f, annotation, default, None))
    if spec.registry is None:
        return specs
    union: dict[str, FieldSpec] = {}
    helps: dict[str, list[str]] = {}
    defaults: dict[str, dict[str, Any]] = {}
    for component, entry in spec.registry.items():
        for f, annotation, default in declared_fields(getattr(entry, "Options", NoOptions)):
            defaults.setdefault(f.name, {})[component] = default
            if f.name not in union:
                union[f.name] = _field_spec(spec, f, annotation, default, (component,))
                helps[f.name] = [f.metadata["help"]]
                continue
            known = union[f.name]
            if known.annotation != annotation:
                raise TypeError(f"{spec.key} option {f.name!r} has type {annotation} in "
                                f"{component} but {known.annotation} in {known.owners}")
            if f.metadata["help"] not in helps[f.name]:
                helps[f.name].append(f.metadata["help"])
            union[f.name] = dataclasses.replace(known, owners=(*known.owners, component))
    for name, known in union.items():
        text = " ".join(helps[name])
        per_owner = defaults[name]
        differ = len({repr(value) for value in per_owner.values()}) > 1
        specs.append(dataclasses.replace(
            known, help=f"{text} [{spec.key}: {', '.join(known.owners)}]",
            default=None if differ else known.default,
            owner_defaults=tuple(per_owner.items()) if differ else ()))
    return specs


@functools.cache
def _all_fields() -> tuple[FieldSpec, ...]:
    specs = [s for key in SECTIONS for s in _section_fields(SECTION_SPECS[key])]
    flat = {s.cli for s in specs}
    assert len(flat) == len(specs), "two config fields share one CLI option name"
    return tuple(specs)


def fields() -> list[FieldSpec]:
    """Every config field of every section and every registered component's options."""
    return list(_all_fields())


def flat_options() -> dict[str, FieldSpec]:
    """CLI name (``prior-df``) → field."""
    return {spec.cli: spec for spec in _all_fields()}


def __getattr__(name: str) -> Any:
    # FIELDS and FLAT_OPTIONS are computed on first use: the registries load the components
    # then, so importing this module imports no component.
    if name == "FIELDS":
        return fields()
    if name == "FLAT_OPTIONS":
        return flat_options()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# -- the config -----------------------------------------------------------------------------
class Config:
    """Eight sections, each a generated dataclass (``config.prior.df``, ``config.train.lr``).
    ``Config()`` is the default config; ``to_dict``/``from_dict`` round-trip it."""

    def __init__(self, **sections: Any):
        for key in SECTIONS:
            value = sections.pop(key, None)
            if value is None:
                value = default_section(key)
            setattr(self, key, value)
        if sections:
            raise TypeError(f"unknown config sections {sorted(sections)}")

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {key: getattr(self, key).to_dict() for key in SECTIONS}

    @classmethod
    def from_dict(cls, raw: dict[str, Any], *, where: str = "config") -> Config:
        return apply_overrides(cls(), raw, where=where)

    def replace(self, **flat: Any) -> Config:
        """A copy with flat CLI-style overrides, e.g. ``replace(epochs=3, hidden=[64])``."""
        options = flat_options()
        nested: dict[str, dict[str, Any]] = {}
        for cli_name, value in flat.items():
            spec = options.get(cli_name.replace("_", "-"))
            if spec is None:
                raise VaelabError(
                    f"unknown option {cli_name!r}"
                    f"{did_you_mean(cli_name.replace('_', '-'), list(options))}")
            nested.setdefault(spec.section, {})[spec.name] = value
        return apply_overrides(self, nested, where="overrides")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Config) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"Config({self.to_dict()!r})"


def default_section(key: str, component: str | None = None) -> Section:
    spec = SECTION_SPECS[key]
    return section_class(key, component or spec.default)()


def section_config(key: str, **values: Any) -> Section:
    """One section from keyword values, e.g. ``section_config("prior", name="student-t",
    df=3)``: a direct constructor, like a dataclass's (the values are not validated; a
    Config built from files or flags always is)."""
    spec = SECTION_SPECS[key]
    component = values.get(spec.name_field, spec.default) if spec.registry else None
    return section_class(key, component)(**values)


def DataConfig(**values: Any) -> Section:  # noqa: N802  (reads like the section type)
    return section_config("data", **values)


def NetworkConfig(**values: Any) -> Section:  # noqa: N802
    return section_config("network", **values)


def LikelihoodConfig(**values: Any) -> Section:  # noqa: N802
    return section_config("likelihood", **values)


def PriorConfig(**values: Any) -> Section:  # noqa: N802
    return section_config("prior", **values)


def ObjectiveConfig(**values: Any) -> Section:  # noqa: N802
    return section_config("objective", **values)


def TrainConfig(**values: Any) -> Section:  # noqa: N802
    return section_config("train", **values)


def apply_overrides(config: Config, raw: dict[str, Any], *, where: str) -> Config:
    """Return a validated copy of ``config`` with the nested ``raw`` values applied."""
    if not isinstance(raw, dict):
        raise VaelabError(f"{where}: expected a table of sections like [train], got {raw!r}")
    updated = {key: getattr(config, key) for key in SECTIONS}
    for key, values in raw.items():
        if key not in SECTION_SPECS:
            hint = did_you_mean(key, SECTIONS)
            owner = [s.section for s in fields() if s.name == key]
            if owner:
                hint = f" (did you mean [{owner[0]}] {key} = ...?)"
            raise VaelabError(f"{where}: unknown config section {key!r}{hint}; sections are "
                              f"{', '.join(SECTIONS)}")
        if not isinstance(values, dict):
            raise VaelabError(f"{where}: section [{key}] must be a table of keys, "
                              f"got {values!r}")
        updated[key] = _apply_section(updated[key], values, where=where)
    result = Config(**updated)
    validate(result)
    return result


def _apply_section(current: Section, values: dict[str, Any], *, where: str) -> Section:
    spec = current.spec
    by_name = {s.name: s for s in _section_fields(spec)}
    values = dict(values)
    component = current.component
    if spec.registry is not None and spec.name_field in values:
        name_spec = by_name[spec.name_field]
        component = coerce(name_spec, values.pop(spec.name_field), where=where)
        if component not in spec.registry:
            raise VaelabError(f"--{name_spec.cli}: {spec.registry.unknown_message(component)}")
    target = section_class(spec.key, component)
    target_fields = {f.name for f in dataclasses.fields(target)}
    kept: dict[str, Any] = {}
    defaults = type(current)()
    for f in dataclasses.fields(current):
        if f.name == spec.name_field:
            continue
        value = getattr(current, f.name)
        if f.name in target_fields:
            # A value at the old component's default states nothing: the new component's
            # own default applies (beta-tcvae's β = 6, not the elbo's β = 1).
            if value != getattr(defaults, f.name):
                kept[f.name] = value
        elif value != getattr(defaults, f.name) and f.name not in values:
            # Switching component: an option set for the old one would be ignored.
            _refuse_foreign(by_name[f.name], component, where=where, value=value)
    for key, value in values.items():
        if key not in by_name or (key == spec.name_field):
            known = [s for s in by_name if s != spec.name_field]
            raise VaelabError(f"{where}: unknown config key {spec.key}.{shown(key)}"
                              f"{did_you_mean(key, known)}; keys of [{spec.key}] are "
                              f"{', '.join(known)}")
        coerced = coerce(by_name[key], value, where=where)
        if key in target_fields:
            kept[key] = coerced
        elif not _is_default_of_an_owner(spec, key, coerced):
            _refuse_foreign(by_name[key], component, where=where, value=coerced)
    if spec.registry is not None:
        kept[spec.name_field] = component
    return target(**kept)


def _is_default_of_an_owner(spec: SectionSpec, key: str, value: Any) -> bool:
    """An option at the default of a component that declares it states nothing: it is
    dropped, so that stored configs of older versions (which held every section's every
    option) and spelled-out defaults still load."""
    for component in by_owner(spec, key):
        options = spec.options_of(component)()
        if getattr(options, key) == value:
            return True
    return False


def by_owner(spec: SectionSpec, key: str) -> tuple[str, ...]:
    for s in _section_fields(spec):
        if s.name == key:
            return s.owners or ()
    return ()


def _refuse_foreign(spec: FieldSpec, component: str | None, *, where: str, value: Any) -> None:
    owners = ", ".join(spec.owners or ())
    plural = "s" if len(spec.owners or ()) > 1 else ""
    raise VaelabError(f"{where}: {spec.section} {component} does not read --{spec.cli} "
                      f"({spec.section}.{spec.name} = {value!r}; an option of the {owners} "
                      f"{spec.section}{plural}); drop it or choose --{_name_cli(spec)} "
                      f"{spec.owners[0] if spec.owners else ''}".rstrip())


def _name_cli(spec: FieldSpec) -> str:
    section = SECTION_SPECS[spec.section]
    return section.name_cli or section.name_field


def validate(config: Config) -> None:
    """Check every field against its range and choices; one clear error for the first
    bad value."""
    for key in SECTIONS:
        section = getattr(config, key)
        by_name = {s.name: s for s in _section_fields(section.spec)}
        for f in dataclasses.fields(section):
            spec = by_name[f.name]
            value = getattr(section, f.name)
            check_value(spec, value)
            check = spec.meta.get("check")
            problem = check(value) if check is not None and value is not None else None
            if problem:
                raise VaelabError(f"--{spec.cli} ({spec.key}): {problem}")


# -- parsing and checking one value against its declaration -------------------------------
def _base_type(annotation: Any) -> tuple[Any, bool]:
    """(type without Optional, whether None is allowed)."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return rest[0], True
    return annotation, False


def coerce(spec: FieldSpec, value: Any, *, where: str) -> Any:
    """Convert a value from a file (JSON/TOML types) or the command line (strings) to the
    field's type; raise a one-line VaelabError naming the key otherwise."""
    base, optional = _base_type(spec.annotation)
    key = f"{where}: {spec.section}.{spec.name}"
    if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null")
                         and base is not str):
        if optional:
            return None
        if typing.get_origin(base) is list:
            return []
        raise VaelabError(f"{key} may not be empty; give a value (default {spec.default_text})")
    try:
        if typing.get_origin(base) is list:
            items = value
            if isinstance(value, str):
                items = [v for v in value.replace(" ", "").split(",") if v != ""]
            elif not isinstance(value, list | tuple):
                raise ValueError
            return [_coerce_scalar(typing.get_args(base)[0], v) for v in items]
        coerced = _coerce_scalar(base, value)
    except (TypeError, ValueError):
        kind = {int: "an integer", float: "a number", str: "a string", bool: "true/false"}.get(
            base, "a comma-separated list of integers")
        raise VaelabError(f"{key} expects {kind}, got {value!r}") from None
    return spec.meta.get("aliases", {}).get(coerced, coerced)


def _coerce_scalar(kind: type, value: Any) -> Any:
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ValueError
    if kind is int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError
        return int(value)
    if kind is float:
        if isinstance(value, bool):
            raise ValueError
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise ValueError
        return value
    raise TypeError(kind)


def check_value(spec: FieldSpec, value: Any) -> None:
    """Check one value against its field's range and choices; one clear error line."""
    meta = spec.meta
    name = f"--{spec.cli} ({spec.section}.{spec.name})"
    if value is None:
        return
    values = value if isinstance(value, list) else [value]
    for v in values:
        if isinstance(v, int | float) and not isinstance(v, bool):
            if isinstance(v, float) and not math.isfinite(v):
                raise VaelabError(f"{name} must be a finite number, got {v}")
            if meta["low"] is not None and (v < meta["low"] or (meta["low_open"]
                                                                and v == meta["low"])):
                relation = ">" if meta["low_open"] else ">="
                raise VaelabError(f"{name} must be {relation} {meta['low']:g}, got {v}")
            if meta["high"] is not None and (v > meta["high"] or (meta["high_open"]
                                                                  and v == meta["high"])):
                relation = "<" if meta["high_open"] else "<="
                raise VaelabError(f"{name} must be {relation} {meta['high']:g}, got {v}")
    if meta["choices"] is not None and isinstance(value, str):
        allowed = meta["choices"]()
        if value not in allowed:
            raise VaelabError(f"{name}: unknown value {value!r}{did_you_mean(value, allowed)}; "
                              f"choose one of: {', '.join(allowed)}")


def read_toml_or_json(path: str | Path, what: str) -> Any:
    """Parse a .toml or .json file; one clear error line naming ``what`` and the path."""
    path = Path(path)
    if not path.is_file():
        raise VaelabError(f"{what} {path} does not exist; give a .toml or .json file")
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        if path.suffix == ".json":
            return json.loads(text)
        if path.suffix == ".toml":
            return tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as err:
        raise VaelabError(f"{what} {path} is not valid {path.suffix[1:].upper()}: "
                          f"{err}") from None
    raise VaelabError(f"{what} {path}: unknown format {path.suffix!r}; use .toml or .json")


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Parse a TOML or JSON config file into nested sections (not yet applied)."""
    raw = read_toml_or_json(path, "config file")
    # A saved run's config.json holds the config under "config" next to provenance.
    if isinstance(raw, dict) and "config" in raw and isinstance(raw["config"], dict):
        raw = raw["config"]
    return raw


__all__ = ["Config", "FieldSpec", "SECTIONS", "coerce", "fields", "flat_options",
           "read_config_file", "section_config"]
