"""Trust on first use: the sha256 of files that nobody publishes a hash for, recorded at their first download.

``bilayer-bench weights fetch`` writes ``WEIGHTS_DIR/bilayer-bench.lock.json`` (atomically: a temporary file in
the same folder, then a rename) when it downloads a file whose catalogue entry pins no hash; every later
resolution of that file in that folder compares its sha256 with the recorded one (:mod:`bench.weights.resolve`).
The schema::

    {"schema": "bilayer-bench.weights-lock/1",
     "files": {"fomm.vox-cpk": {"file": "vox-cpk.pth.tar", "sha256": "...", "size": 728260000,
                                "pinned_at": "2026-11-22T10:15:00+00:00", "url": "https://..."}}}
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.atomic import atomic_write
from bench.errors import WeightsError

__all__ = ["LOCK_NAME", "LOCK_SCHEMA", "LockEntry", "WeightsLock", "record_pin"]

LOCK_NAME = "bilayer-bench.lock.json"
LOCK_SCHEMA = "bilayer-bench.weights-lock/1"
_FIELDS = ("file", "sha256", "size", "pinned_at", "url")


@dataclass(frozen=True)
class LockEntry:
    """One file pinned on first use: its catalogue name, file name, sha256, size, when and from where."""

    name: str
    file: str
    sha256: str
    size: int
    pinned_at: str
    url: str

    @classmethod
    def now(cls, name: str, file: str, sha256: str, size: int, url: str) -> LockEntry:
        stamp = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
        return cls(name, file, sha256, size, stamp, url)


@dataclass(frozen=True)
class WeightsLock:
    """The lock file of one weights folder (empty when the file does not exist)."""

    path: Path
    entries: Mapping[str, LockEntry]

    @classmethod
    def read(cls, folder: Path) -> WeightsLock:
        path = Path(folder) / LOCK_NAME
        if not path.is_file():
            return cls(path, {})
        fix = f"delete {path} and run `bilayer-bench weights fetch` again (files are pinned anew)"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise WeightsError(f"{path}: the weights lock file cannot be read ({error}); {fix}") from error
        if not isinstance(data, dict) or data.get("schema") != LOCK_SCHEMA or not isinstance(data.get("files"), dict):
            raise WeightsError(f"{path}: not a weights lock file of schema {LOCK_SCHEMA}; {fix}")
        entries: dict[str, LockEntry] = {}
        for name, item in data["files"].items():
            if not isinstance(item, dict) or any(key not in item for key in _FIELDS):
                raise WeightsError(f"{path}: entry {name!r} lacks one of {', '.join(_FIELDS)}; {fix}")
            entries[name] = LockEntry(name, *(item[key] for key in _FIELDS))
        return cls(path, entries)

    def get(self, name: str, file: str) -> LockEntry | None:
        """The pin of ``name`` if it was recorded for this same file name."""
        found = self.entries.get(name)
        return found if found is not None and found.file == file else None

    def with_entry(self, entry: LockEntry) -> WeightsLock:
        return WeightsLock(self.path, {**self.entries, entry.name: entry})

    def write(self) -> None:
        """Atomically replace the lock file with this content."""
        files = {name: {k: v for k, v in asdict(e).items() if k != "name"} for name, e in sorted(self.entries.items())}
        text = json.dumps({"schema": LOCK_SCHEMA, "files": files}, indent=2) + "\n"
        atomic_write(self.path, text)


def record_pin(folder: Path, entry: LockEntry) -> Path:
    """Add (or replace) one pin in ``folder``'s lock file, re-reading it first; returns the lock file's path."""
    lock = WeightsLock.read(folder).with_entry(entry)
    lock.write()
    return lock.path
