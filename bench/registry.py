"""A small generic registry: entries by name, glob listing, "did you mean" errors, lazy ``module:attr`` objects.

A registry may *discover* names it does not hold (a model of the user's given as ``module:callable``, an installed
entry point): ``discover(name)`` returns the entry, which is registered, or None for a name that stays unknown.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
from collections.abc import Callable, Iterator
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
    def __init__(self, kind: str, discover: Callable[[str], T | None] | None = None, unknown_hint: str = "") -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._discover = discover
        self._unknown_hint = unknown_hint  # said after "Known: ..." for a name that is neither held nor discovered

    def register(self, name: str, entry: T) -> T:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = entry
        return entry

    def unregister(self, name: str) -> T:
        return self._entries.pop(name)

    def get(self, name: str) -> T:
        if name in self._entries:
            return self._entries[name]
        found = self._discover(name) if self._discover is not None else None
        if found is not None:
            return self._entries.setdefault(name, found)
        close = difflib.get_close_matches(name, list(self._entries), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        known = ", ".join(sorted(self._entries))
        raise RegistryError(f"unknown {self.kind} {name!r}.{hint} Known: {known}{self._unknown_hint}")

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
