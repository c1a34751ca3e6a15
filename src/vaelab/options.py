"""Options: the fields a config section or a registered component declares, each with
its default, help, range and CLI name, and the one parser and validator every source of
values (command line, TOML/JSON files, the Python API, stored runs) goes through.

A component declares its own options as a small dataclass beside its class:

    @dataclass
    class Options:
        df: float = option(3.0, "Degrees of freedom ν.", low=0.0, low_open=True)

and the config, the CLI flags (``--prior-df``), file keys (``[prior] df = 3``) and the
unknown-key errors are generated from it (vaelab/config.py).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vaelab.errors import VaelabError


def option(
    default: Any,
    help: str,
    *,
    cli: str | None = None,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    choices: Callable[[], list[str]] | None = None,
    aliases: dict[str, str] | None = None,
    check: Callable[[Any], str | None] | None = None,
) -> Any:
    """A declared field. ``low``/``high`` bound numbers (open or closed), ``choices``
    lazily lists allowed strings (usually a registry's names), ``aliases`` maps old
    spellings to current values, ``check(value)`` returns a problem text or None,
    ``cli`` overrides the option name (default: the field
    name with dashes, after the section's prefix)."""
    meta = dict(help=help, cli=cli, low=low, high=high, low_open=low_open,
                high_open=high_open, choices=choices, aliases=aliases or {}, check=check)
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class NoOptions:
    """The options of a component that has none."""


@dataclass(frozen=True)
class FieldSpec:
    """One field, addressed as ``section.name`` in files and ``--cli`` on the command line.
    ``owners`` names the components of the section that declare it (None: every choice of
    the section has it)."""

    section: str
    name: str
    cli: str
    annotation: Any
    default: Any
    help: str
    meta: dict[str, Any]
    owners: tuple[str, ...] | None = None

    @property
    def key(self) -> str:
        return f"{self.section}.{self.name}"


def declared_fields(options_cls: type) -> list[tuple[dataclasses.Field, Any, Any]]:
    """(field, resolved annotation, default) of every field of an options dataclass."""
    hints = typing.get_type_hints(options_cls)
    defaults = options_cls()
    return [(f, hints[f.name], getattr(defaults, f.name))
            for f in dataclasses.fields(options_cls)]


def _base_type(annotation: Any) -> tuple[Any, bool]:
    """(type without Optional, whether None is allowed)."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return rest[0], True
    return annotation, False


def is_flag(spec: FieldSpec) -> bool:
    return spec.annotation is bool


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
        raise VaelabError(f"{key} may not be empty; give a value (default {spec.default!r})")
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
    from vaelab.registry import did_you_mean

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
