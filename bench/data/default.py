"""The embedded default data set: generated deterministically and offline into a cache folder on first use.

Location: ``$BILAYER_BENCH_CACHE/data/`` if that variable is set, else ``$XDG_CACHE_HOME/bilayer-bench/data/``
(``~/.cache/bilayer-bench/data/``). The folder name carries the generator version and a digest of its spec,
so a new generator never reuses stale frames. Generation writes to a temporary sibling folder and renames it
into place, so an interrupted generation leaves nothing half-written behind.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from bench.data.synth import GENERATOR_VERSION, SynthSpec, generate_dataset

__all__ = ["DEFAULT_SPEC", "cache_dir", "default_dataset_root", "ensure_default_dataset"]

DEFAULT_SPEC = SynthSpec()
CACHE_ENV = "BILAYER_BENCH_CACHE"


def cache_dir() -> Path:
    """Root of bilayer-bench's caches."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bilayer-bench"


def spec_digest(spec: SynthSpec) -> str:
    payload = json.dumps({"version": GENERATOR_VERSION, **dataclasses.asdict(spec)}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:10]


def default_dataset_root(spec: SynthSpec = DEFAULT_SPEC) -> Path:
    return cache_dir() / "data" / f"default-v{GENERATOR_VERSION}-{spec_digest(spec)}"


def ensure_default_dataset(spec: SynthSpec = DEFAULT_SPEC, *, progress: bool = False) -> Path:
    """Return the root of the generated data set, generating it first when it is not complete."""
    root = default_dataset_root(spec)
    if (root / "MANIFEST.json").is_file():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
    try:
        generate_dataset(staging / "data", spec, progress=progress)
        if root.exists():  # a half-written folder from an older layout; the manifest is written last
            shutil.rmtree(root)
        try:
            (staging / "data").rename(root)
        except OSError:
            if not (root / "MANIFEST.json").is_file():  # not a concurrent generator that won the race
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return root
