"""One tiny registry class, used once per concept (dataset, likelihood, prior, ...).

Adding a component = one class + one ``@REGISTRY.register("name")`` line; config
validation, CLI choices and the contract tests all read the registry.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from vaelab.errors import VaelabError, shown

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, concept: str):
        self.concept = concept  # e.g. "likelihood"; used in error messages
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def add(entry: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.concept} {name!r} is registered twice")
            self._entries[name] = entry
            return entry

        return add

    def get(self, name: str) -> T:
        if name not in self._entries:
            raise VaelabError(self.unknown_message(name))
        return self._entries[name]

    def unknown_message(self, name: str) -> str:
        hint = did_you_mean(name, self.names())
        return (f"unknown {self.concept} {shown(name)!r}{hint}; choose one of: "
                f"{', '.join(self.names())}")

    def names(self) -> list[str]:
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def items(self) -> list[tuple[str, T]]:
        return list(self._entries.items())


def did_you_mean(name: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(name, candidates, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
