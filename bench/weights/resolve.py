"""Finding and verifying weight files, offline.

Search order for a file: an explicit path given for it, ``--weights-dir``, ``$BILAYER_BENCH_WEIGHTS``, the torch
hub cache (``torch.hub.get_dir()/checkpoints``), then the installed package that ships it (if any). In each
folder both the release's own relative path (``runs/.../checkpoints/2225_identity_embedder.pth``) and the
bare file name are tried. Nothing is ever downloaded.
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

__all__ = ["WEIGHTS_ENV", "ResolvedWeight", "WeightsLocations", "file_sha256", "require", "resolve"]

WEIGHTS_ENV = "BILAYER_BENCH_WEIGHTS"
Verification = Literal["verified", "verified-prefix", "unpinned", "mismatch", "missing"]


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


@dataclass(frozen=True)
class ResolvedWeight:
    entry: WeightFile
    path: Path | None
    source: str
    verification: Verification
    sha256: str | None

    @property
    def present(self) -> bool:
        return self.path is not None

    def provenance(self) -> dict[str, object]:
        """What a run record stores about this file."""
        return {
            "name": self.entry.name,
            "file": self.entry.filename,
            "path": str(self.path) if self.path else None,
            "found_in": self.source,
            "verification": self.verification,
            "sha256": self.sha256,
            "url": self.entry.url,
            "licence": self.entry.licence,
        }


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


def _candidates(entry: WeightFile, where: WeightsLocations) -> list[tuple[str, Path]]:
    found: list[tuple[str, Path]] = []
    if entry.name in where.explicit:
        found.append(("explicit path", Path(where.explicit[entry.name]).expanduser()))
    for label, folder in where.folders():
        for relative in dict.fromkeys((entry.layout_path, entry.filename)):
            found.append((label, folder / relative))
    if where.use_packages and entry.package_path:
        shipped = _package_file(entry.package_path)
        if shipped is not None:
            found.append((f"package {entry.package_path.split(':')[0]}", shipped))
    return found


def _verify(entry: WeightFile, path: Path) -> tuple[Verification, str]:
    digest = file_sha256(path)
    if entry.sha256:
        return ("verified" if digest == entry.sha256 else "mismatch"), digest
    if entry.sha256_prefix:
        return ("verified-prefix" if digest.startswith(entry.sha256_prefix) else "mismatch"), digest
    return "unpinned", digest


def resolve(name: str | WeightFile, where: WeightsLocations, *, verify: bool = True) -> ResolvedWeight:
    """Locate one file (the first existing candidate) and verify its hash; never raises for a missing file."""
    entry = WEIGHTS.get(name) if isinstance(name, str) else name
    for source, path in _candidates(entry, where):
        if path.is_file():
            if not verify:
                return ResolvedWeight(entry, path, source, "unpinned", None)
            verification, digest = _verify(entry, path)
            return ResolvedWeight(entry, path, source, verification, digest)
    return ResolvedWeight(entry, None, "", "missing", None)


def require(name: str | WeightFile, where: WeightsLocations) -> ResolvedWeight:
    """Like :func:`resolve`, but a missing file or a hash mismatch is a :class:`WeightsError` naming the fix."""
    resolved = resolve(name, where)
    entry = resolved.entry
    if resolved.path is None:
        raise WeightsError(
            f"weight file {entry.filename} ({entry.name}: {entry.purpose}) not found; searched "
            f"{where.describe()}. Download it from {entry.url} and put it at WEIGHTS_DIR/{entry.layout_path}, "
            f"then pass --weights-dir WEIGHTS_DIR or set ${WEIGHTS_ENV}; or run with --random-weights for an "
            "uncalibrated, clearly labelled run"
        )
    if resolved.verification == "mismatch" and not where.accept_mismatch:
        expected = entry.sha256 or f"{entry.sha256_prefix}..."
        raise WeightsError(
            f"{resolved.path}: sha256 {resolved.sha256} does not match the released {entry.filename} "
            f"(expected {expected}); the file is corrupt, truncated or a different release: download it again "
            f"from {entry.url}, or pass --accept-hash-mismatch to use it anyway (results are labelled unverified)"
        )
    return resolved
