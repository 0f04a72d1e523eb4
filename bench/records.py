"""Run records (a contract): one directory per run, written incrementally and atomically.

Layout of ``RUN_DIR``::

    config.toml        resolved config (rerun with `bilayer-bench run RUN_DIR/config.toml`)
    environment.json   versions, machine, threads, device, git revision
    data.json          data set root, layout, split, sequences, skipped sequences
    weights.json       per model: weights label (none/verified/unverified/random) and every file's provenance
    parts/MODEL/*.json one file per (model, job), written atomically when the job ends: the resume state
    frames.csv         per-frame metrics (deterministic: no timings)
    sequences.csv      per-sequence means
    timings.csv        wall-clock of every prepare/animate call (ms)
    metric_timings.csv wall-clock of every metric call (ms; side: pair, generated or real)
    cost.csv           per model: its own ms per generated frame against the metrics' (bench.costs)
    failures.csv       jobs that failed: model, job, file, error
    results.json       schema "bilayer-bench/results" version RESULTS_SCHEMA_VERSION: summary rows + all of the above
    samples/           a few generated frames (PNG) for qualitative figures
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from bench.config import RunConfig, config_to_toml, load_config
from bench.errors import ConfigError

__all__ = ["RESULTS_SCHEMA", "RESULTS_SCHEMA_VERSION", "RunDirectory", "atomic_write", "json_safe"]

RESULTS_SCHEMA = "bilayer-bench/results"
RESULTS_SCHEMA_VERSION = 1


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def atomic_write(path: Path, data: bytes | str) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the file the permissions open() would
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def json_safe(value: Any) -> Any:
    """Replace non-finite floats by the strings "inf", "-inf", "nan" so the file is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")


class RunDirectory:
    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def create(cls, out_root: Path, config: RunConfig, run_id: str) -> RunDirectory:
        path = out_root / _slug(f"{run_id}-{config.name}")
        suffix = 1
        while path.exists():
            suffix += 1
            path = out_root / _slug(f"{run_id}-{config.name}-{suffix}")
        path.mkdir(parents=True)
        record = cls(path)
        atomic_write(path / "config.toml", config_to_toml(config))
        return record

    @classmethod
    def open(cls, path: Path) -> RunDirectory:
        if not (path / "config.toml").is_file():
            raise ConfigError(
                f"{path}: not a run directory (no config.toml); pass a folder made by `bilayer-bench run`"
            )
        return cls(path)

    def config(self) -> RunConfig:
        return load_config(self.path / "config.toml")

    def write_json(self, name: str, payload: Any) -> None:
        atomic_write(self.path / name, json.dumps(json_safe(payload), indent=2, sort_keys=False) + "\n")

    def read_json(self, name: str) -> Any:
        return json.loads((self.path / name).read_text(encoding="utf-8"))

    def _part(self, model: str, job_id: str) -> Path:
        return self.path / "parts" / _slug(model) / f"{_slug(job_id)}.json"

    def job_done(self, model: str, job_id: str) -> bool:
        part = self._part(model, job_id)
        if not part.is_file():
            return False
        return json.loads(part.read_text(encoding="utf-8")).get("status") == "ok"

    def write_part(self, model: str, job_id: str, payload: dict[str, Any]) -> None:
        atomic_write(self._part(model, job_id), json.dumps(json_safe(payload), indent=1) + "\n")

    def read_parts(self) -> list[dict[str, Any]]:
        return [json.loads(p.read_text(encoding="utf-8")) for p in sorted((self.path / "parts").glob("*/*.json"))]

    def read_part(self, model: str, job_id: str) -> dict[str, Any] | None:
        """The part of (model, job), or None when that job has not ended yet."""
        part = self._part(model, job_id)
        return json.loads(part.read_text(encoding="utf-8")) if part.is_file() else None

    def sort_parts(self, parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Parts (e.g. gathered from several processes) in the order :meth:`read_parts` gives them."""
        return sorted(parts, key=lambda part: self._part(part["model"], part["job"]))

    def array_path(self, model: str, job_id: str, name: str) -> Path:
        """Per-job arrays beside the parts (set metrics' features); ``model`` "_real" for the real frames."""
        return self.path / "parts" / _slug(model) / f"{_slug(job_id)}.{_slug(name)}.npy"

    def write_array(self, model: str, job_id: str, name: str, array: np.ndarray) -> None:
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(array), allow_pickle=False)
        atomic_write(self.array_path(model, job_id, name), buffer.getvalue())

    def read_array(self, model: str, job_id: str, name: str) -> np.ndarray:
        return np.load(self.array_path(model, job_id, name), allow_pickle=False)

    def sample_path(self, *parts: str) -> Path:
        path = self.path / "samples" / Path(*(_slug(p) for p in parts[:-1])) / parts[-1]
        path.parent.mkdir(parents=True, exist_ok=True)
        return path
