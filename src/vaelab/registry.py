"""One tiny registry class, used once per concept (dataset, likelihood, prior, ...).

Adding a component = one class (with its ``Options`` dataclass, if it has options) + one
``@REGISTRY.register("name")`` line; config sections, CLI flags, the contract tests and
every description read the registry. A registry created with ``package`` imports that
package the first time it is asked for its entries, so that the config layer can list
the choices without importing any component module itself (vaelab/concepts.py).
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from vaelab.errors import VaelabError, shown

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, concept: str, *, package: str | None = None):
        self.concept = concept  # e.g. "likelihood"; used in error messages
        self.package = package  # imported on first use: its modules register themselves
        self._entries: dict[str, T] = {}
        self._loaded = package is None

    def register(self, name: str) -> Callable[[T], T]:
        def add(entry: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.concept} {name!r} is registered twice")
            self._entries[name] = entry
            return entry

        return add

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True  # first, so that a lookup during the import cannot recurse
            importlib.import_module(self.package)

    def get(self, name: str) -> T:
        self._load()
        if name not in self._entries:
            raise VaelabError(self.unknown_message(name))
        return self._entries[name]

    def unknown_message(self, name: str) -> str:
        hint = did_you_mean(name, self.names())
        return (f"unknown {self.concept} {shown(name)!r}{hint}; choose one of: "
                f"{', '.join(self.names())}")

    def names(self) -> list[str]:
        self._load()
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        self._load()
        return iter(list(self._entries))

    def items(self) -> list[tuple[str, T]]:
        self._load()
        return list(self._entries.items())

    def unregister(self, name: str) -> None:
        """Remove an entry (tests that register a throwaway component)."""
        self._entries.pop(name, None)


def did_you_mean(name: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(name, candidates, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
