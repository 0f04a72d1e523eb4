"""Machine-specific paths written so that records and committed reports read the same on every machine.

A path in a run's records (every JSON record, part file and CSV table of a run directory) is written
- relative to the run folder when it lies inside it (``samples/...``, ``.`` for the folder itself);
- else from a named machine folder when it lies inside one: ``$BILAYER_BENCH_CACHE`` (the suite's cache: data
  sets, masks), ``$BILAYER_BENCH_WEIGHTS`` (when set), ``$TORCH_HUB`` (``torch.hub.get_dir()``: hub weights),
  ``$SITE_PACKAGES`` (the Python environment's package folders: weights shipped in packages), ``~`` (the home
  folder); the most specific folder wins;
- else absolute, which is then machine-specific by nature.
``environment.json`` records what each name stood for on the machine that ran (``machine_paths``): that record is
the one that describes the machine. ``bilayer-bench report --portable`` writes the pages and its copies of the
records the same way, with each run's parent folder as ``bench-runs``.

Prefixes are replaced only where a whole path starts (not inside another path) and ends at a folder boundary.
"""

from __future__ import annotations

import os
import re
import site
import sysconfig
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

__all__ = ["MACHINE_PATHS", "PathStyle", "machine_folders"]

MACHINE_PATHS = "machine_paths"  # environment.json's key: each machine folder's name -> its forms on this machine

_START = r"(?<![\w.~$/-])"  # a path starts here: not inside a name or another path
_END = r"(?=/|$|[\s)\]'\",;:])"  # and the prefix is a whole folder


def machine_folders() -> dict[str, list[str]]:
    """Each machine folder's name and the absolute forms (as given and resolved) it has here."""
    import torch.hub

    from bench.data.default import cache_dir

    def where(folder: Callable[[], Path | str]) -> list[Path]:
        try:
            return [Path(folder())]
        except (RuntimeError, KeyError, OSError):  # no home folder to expand (HOME unset, no passwd entry)
            return []

    weights = os.environ.get("BILAYER_BENCH_WEIGHTS")
    packages = {sysconfig.get_paths()[key] for key in ("purelib", "platlib")} | set(site.getsitepackages())
    folders: dict[str, list[Path]] = {
        "$BILAYER_BENCH_CACHE": where(cache_dir),
        "$BILAYER_BENCH_WEIGHTS": where(lambda: Path(weights).expanduser()) if weights else [],
        "$TORCH_HUB": where(torch.hub.get_dir),
        "$SITE_PACKAGES": [Path(p) for p in sorted(packages)],
        "~": where(Path.home),
    }
    out: dict[str, list[str]] = {}
    for name, paths in folders.items():
        forms = [str(form) for path in paths for form in (path.absolute(), path.resolve())]
        if kept := list(dict.fromkeys(form for form in forms if len(form) > 1)):
            out[name] = kept
    return out


@dataclass(frozen=True)
class PathStyle:
    """(absolute prefix, what it is written as) pairs, longest prefix first; "" means relative to the prefix."""

    pairs: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, named: Mapping[str, Iterable[str | Path]]) -> PathStyle:
        pairs: dict[str, str] = {}
        for name, forms in named.items():
            for form in forms:
                pairs.setdefault(str(form).rstrip("/") or "/", name)
        return cls(tuple(sorted(pairs.items(), key=lambda pair: len(pair[0]), reverse=True)))

    @classmethod
    def for_run(cls, run: Path) -> PathStyle:
        """A run's records: inside the run relative to it, else the machine folders."""
        return cls.of({"": [run.absolute(), run.resolve()], **machine_folders()})

    @classmethod
    def for_report(cls, runs: Iterable[Path]) -> PathStyle:
        """A committed report: each run's parent folder as ``bench-runs``, else the machine folders."""
        parents = [form for run in runs for form in (Path(run).absolute().parent, Path(run).resolve().parent)]
        parents += [Path(run).parent for run in runs if not Path(run).is_absolute() and str(Path(run).parent) != "."]
        return cls.of({"bench-runs": parents, **machine_folders()})

    @cached_property
    def _patterns(self) -> tuple[tuple[str, re.Pattern[str], str], ...]:
        """Each prefix, its pattern (compiled once: every record string goes through :meth:`text`), what it becomes."""
        out = []
        for prefix, name in self.pairs:
            if len(prefix) > 1:
                tail = "" if name else "/?"  # relative: "RUN/x" -> "x", "RUN" alone -> "."
                out.append((prefix, re.compile(_START + re.escape(prefix) + _END + tail), name))
        return tuple(out)

    def text(self, text: str) -> str:
        for prefix, pattern, name in self._patterns:
            if prefix in text:
                text = pattern.sub(lambda m, name=name: name or ("" if m.group(0).endswith("/") else "."), text)
        return text

    def value(self, value: Any) -> Any:
        """``value`` (JSON-like: dicts, lists, strings) with every string written in this style."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):  # MACHINE_PATHS is what the names stand for here: kept as it is
            return {key: item if key == MACHINE_PATHS else self.value(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.value(item) for item in value]
        return value
