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
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


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
    # (component, its default) when the owners' defaults differ; ``default`` is then None.
    owner_defaults: tuple[tuple[str, Any], ...] = ()

    @property
    def default_text(self) -> str:
        """The default as --help shows it: one value, or each owner's."""
        def shown(value: Any) -> str:
            if value is None or value == []:
                return "none"
            return ",".join(map(str, value)) if isinstance(value, list) else str(value)

        if self.owner_defaults:
            return "; ".join(f"{owner} {shown(value)}" for owner, value in self.owner_defaults)
        return shown(self.default)

    @property
    def key(self) -> str:
        return f"{self.section}.{self.name}"


def declared_fields(options_cls: type) -> list[tuple[dataclasses.Field, Any, Any]]:
    """(field, resolved annotation, default) of every field of an options dataclass."""
    hints = typing.get_type_hints(options_cls)
    defaults = options_cls()
    return [(f, hints[f.name], getattr(defaults, f.name))
            for f in dataclasses.fields(options_cls)]


def is_flag(spec: FieldSpec) -> bool:
    return spec.annotation is bool
