"""A small generic registry: entries by name, glob listing, "did you mean" errors, lazy ``module:attr`` objects."""

from __future__ import annotations

import difflib
import fnmatch
import importlib
from collections.abc import Iterator
from typing import Any, Generic, TypeVar

from bench.errors import RegistryError

__all__ = ["Registry", "import_object"]

T = TypeVar("T")


def import_object(target: str) -> Any:
    """Import ``"package.module:attribute"``."""
    module_name, _, attribute = target.partition(":")
    if not attribute:
        raise ValueError(f"expected 'module:attribute', got {target!r}")
    return getattr(importlib.import_module(module_name), attribute)


class Registry(Generic[T]):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T) -> T:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = entry
        return entry

    def unregister(self, name: str) -> T:
        return self._entries.pop(name)

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(self._entries), n=3, cutoff=0.5)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            known = ", ".join(sorted(self._entries))
            raise RegistryError(f"unknown {self.kind} {name!r}.{hint} Known: {known}") from None

    def in_order(self) -> list[str]:
        """Names in registration order (the order tables show them)."""
        return list(self._entries)

    def names(self, pattern: str = "*") -> list[str]:
        return sorted(n for n in self._entries if fnmatch.fnmatchcase(n, pattern))

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
