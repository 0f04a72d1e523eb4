"""Finding and verifying weight files, offline.

Search order for a file: an explicit path given for it, ``--weights-dir``, ``$BILAYER_BENCH_WEIGHTS``, the torch
hub cache (``torch.hub.get_dir()/checkpoints``), then the installed package that ships it (if any). In each
folder both the release's own relative path (``runs/.../checkpoints/2225_identity_embedder.pth``) and the
bare file name are tried. Nothing is downloaded here (``bilayer-bench weights fetch`` does that, when asked:
:mod:`bench.weights.fetch`).

Verification: against the catalogue's sha256 or torch hub prefix where one is published; else against the sha256
recorded in the folder's lock file when ``fetch`` first downloaded it (``pinned-on-first-use``,
:mod:`bench.weights.lock`); else ``unpinned``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from bench.errors import WeightsError
from bench.weights.catalog import WEIGHTS, WeightFile
from bench.weights.lock import LockEntry, WeightsLock

__all__ = [
    "VERIFIED",
    "WEIGHTS_ENV",
    "ResolvedWeight",
    "WeightsLocations",
    "file_sha256",
    "how_to_get",
    "require",
    "resolve",
]

WEIGHTS_ENV = "BILAYER_BENCH_WEIGHTS"
Verification = Literal["verified", "verified-prefix", "pinned-on-first-use", "unpinned", "mismatch", "missing"]
VERIFIED = frozenset({"verified", "verified-prefix"})  # matched a published hash (pinned on first use is not)


@dataclass(frozen=True)
class WeightsLocations:
    """Where to look. Build with :meth:`from_environment` to include ``$BILAYER_BENCH_WEIGHTS`` and torch hub."""

    explicit: Mapping[str, Path] = field(default_factory=dict)
    weights_dir: Path | None = None
    env_dir: Path | None = None
    hub_dir: Path | None = None
    use_packages: bool = True
    accept_mismatch: bool = False  # use files whose hash differs (fine-tuned or test weights); labelled unverified

    @classmethod
    def from_environment(
        cls,
        weights_dir: Path | str | None = None,
        explicit: Mapping[str, Path] | None = None,
        accept_mismatch: bool = False,
    ) -> WeightsLocations:
        import torch.hub

        env = os.environ.get(WEIGHTS_ENV)
        return cls(
            explicit=dict(explicit or {}),
            weights_dir=Path(weights_dir).expanduser() if weights_dir else None,
            env_dir=Path(env).expanduser() if env else None,
            hub_dir=Path(torch.hub.get_dir()) / "checkpoints",
            accept_mismatch=accept_mismatch,
        )

    def folders(self) -> list[tuple[str, Path]]:
        named = [
            ("--weights-dir", self.weights_dir),
            (f"${WEIGHTS_ENV}", self.env_dir),
            ("torch hub", self.hub_dir),
        ]
        return [(label, path) for label, path in named if path is not None]

    def describe(self) -> str:
        return ", ".join(f"{label} ({path})" for label, path in self.folders()) or "no folder configured"

    def download_folder(self) -> tuple[str, Path]:
        """Where ``weights fetch`` writes: the first folder searched (``--weights-dir``, else the environment
        variable, else the torch hub cache)."""
        folders = self.folders()
        if not folders:
            raise WeightsError(f"no weights folder to download into: pass --weights-dir DIR or set ${WEIGHTS_ENV}")
        return folders[0]


@dataclass(frozen=True)
class ResolvedWeight:
    entry: WeightFile
    path: Path | None
    source: str
    verification: Verification
    sha256: str | None
    expected: str | None = None  # what it was checked against: the published sha256 or prefix, or the pin
    pin: LockEntry | None = None  # the lock file's record, for files pinned on first use
    lock_file: Path | None = None

    @property
    def present(self) -> bool:
        return self.path is not None

    def provenance(self) -> dict[str, object]:
        """What a run record stores about this file."""
        record: dict[str, object] = {
            "name": self.entry.name,
            "file": self.entry.filename,
            "path": str(self.path) if self.path else None,
            "found_in": self.source,
            "verification": self.verification,
            "sha256": self.sha256,
            "expected_sha256": self.expected,
            "url": self.entry.url,
            "licence": self.entry.licence,
        }
        if self.pin is not None:
            record["pinned_on_first_use"] = {
                "lock_file": str(self.lock_file),
                "sha256": self.pin.sha256,
                "pinned_at": self.pin.pinned_at,
                "downloaded_from": self.pin.url,
                "note": "no published hash: sha256 recorded at the first download and checked since",
            }
        return record


_hash_cache: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _hash_cache:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        _hash_cache[key] = digest.hexdigest()
    return _hash_cache[key]


def _package_file(spec: str) -> Path | None:
    package, _, relative = spec.partition(":")
    found = importlib.util.find_spec(package)
    if found is None or not found.submodule_search_locations:
        return None
    path = Path(next(iter(found.submodule_search_locations))) / relative
    return path if path.is_file() else None


def _candidates(entry: WeightFile, where: WeightsLocations) -> list[tuple[str, Path, Path | None]]:
    """(label, path, weights folder holding its lock file or None) in search order."""
    found: list[tuple[str, Path, Path | None]] = []
    if entry.name in where.explicit:
        found.append(("explicit path", Path(where.explicit[entry.name]).expanduser(), None))
    for label, folder in where.folders():
        for relative in dict.fromkeys((entry.layout_path, entry.filename)):
            found.append((label, folder / relative, folder))
    if where.use_packages and entry.package_path:
        shipped = _package_file(entry.package_path)
        if shipped is not None:
            found.append((f"package {entry.package_path.split(':')[0]}", shipped, None))
    return found


def _verify(entry: WeightFile, path: Path, source: str, folder: Path | None) -> ResolvedWeight:
    digest = file_sha256(path)
    if entry.sha256:
        verification = "verified" if digest == entry.sha256 else "mismatch"
        return ResolvedWeight(entry, path, source, verification, digest, entry.sha256)
    if entry.sha256_prefix:
        verification = "verified-prefix" if digest.startswith(entry.sha256_prefix) else "mismatch"
        return ResolvedWeight(entry, path, source, verification, digest, entry.sha256_prefix)
    lock = WeightsLock.read(folder) if folder is not None else None
    pin = lock.get(entry.name, entry.filename) if lock is not None else None
    if lock is None or pin is None:
        return ResolvedWeight(entry, path, source, "unpinned", digest)
    verification = "pinned-on-first-use" if digest == pin.sha256 else "mismatch"
    return ResolvedWeight(entry, path, source, verification, digest, pin.sha256, pin, lock.path)


def resolve(name: str | WeightFile, where: WeightsLocations, *, verify: bool = True) -> ResolvedWeight:
    """Locate one file (the first existing candidate) and verify its hash; never raises for a missing file."""
    entry = WEIGHTS.get(name) if isinstance(name, str) else name
    for source, path, folder in _candidates(entry, where):
        if path.is_file():
            if not verify:
                return ResolvedWeight(entry, path, source, "unpinned", None)
            return _verify(entry, path, source, folder)
    return ResolvedWeight(entry, None, "", "missing", None)


def how_to_get(entry: WeightFile) -> str:
    """The fix for a missing or bad file: fetch it, or (no direct download) where a person gets it."""
    if entry.urls:
        return f"run `bilayer-bench weights fetch {entry.name}`, or download it from {entry.url}"
    return f"download it from {entry.url} (no direct download link exists, so `weights fetch` cannot)"


def _mismatch_message(resolved: ResolvedWeight) -> str:
    entry, path = resolved.entry, resolved.path
    accept = "or pass --accept-hash-mismatch to use it anyway (results are labelled unverified)"
    if resolved.pin is not None:
        return (
            f"{path}: sha256 {resolved.sha256} differs from {resolved.pin.sha256}, recorded for {entry.filename} when "
            f"it was first downloaded ({resolved.pin.pinned_at}, from {resolved.pin.url}; {resolved.lock_file}): the "
            f"file changed since (corrupt, truncated or replaced); delete it and run `bilayer-bench weights fetch "
            f"{entry.name}`; if the new file is the one you want, delete its entry {entry.name!r} from the lock file "
            f"(it is then used unpinned, labelled unverified); {accept}"
        )
    expected = entry.sha256 or f"{entry.sha256_prefix}..."
    return (
        f"{path}: sha256 {resolved.sha256} does not match the released {entry.filename} (expected {expected}); the "
        f"file is corrupt, truncated or a different release: download it again ({how_to_get(entry)}), {accept}"
    )


def require(name: str | WeightFile, where: WeightsLocations) -> ResolvedWeight:
    """Like :func:`resolve`, but a missing file or a hash mismatch is a :class:`WeightsError` naming the fix."""
    resolved = resolve(name, where)
    entry = resolved.entry
    if resolved.path is None:
        by_hand = f"download it from {entry.url} and put it at WEIGHTS_DIR/{entry.layout_path}"
        get = f"`bilayer-bench weights fetch {entry.name}` downloads it, or {by_hand}" if entry.urls else by_hand
        raise WeightsError(
            f"weight file {entry.filename} ({entry.name}: {entry.purpose}) not found; searched "
            f"{where.describe()}; {get}, then pass --weights-dir WEIGHTS_DIR or set ${WEIGHTS_ENV}; or run with "
            "--random-weights for an uncalibrated, clearly labelled run"
        )
    from bench.weights.load import reject_html_page

    reject_html_page(resolved.path, f"{entry.filename} ({entry.name})", f"delete it, then {how_to_get(entry)}")
    if resolved.verification == "mismatch" and not where.accept_mismatch:
        raise WeightsError(_mismatch_message(resolved))
    return resolved
