"""The latency record (a contract): ``latency.json`` and ``latency_samples.csv`` in one folder.

``latency.json``, strict JSON (non-finite numbers are written as null)::

    schema          "bilayer-bench/latency"
    schema_version  1
    environment     bench.environment.collect_environment(device): versions, machine, threads, git revision
    settings        device, dtype (+ dtype_method), threads, resolution, batch, compile, warmup, min_runs,
                    min_time_s, max_runs (per stage kind: prepare / frame), ...
    calibration     dtype, size, flops_per_s (median), iqr, samples (FLOP/s), samples_s, before/after medians
    stages          one row per (model, stage): model, label, weights_label, stage, per ("avatar" | "frame"),
                    includes, batch, n, median_s, p90_s, p99_s, iqr_s, min_s, mean_s, flops (per avatar or per
                    frame), flops_convention, flops_counted, achieved_fraction, peak_memory_bytes (one call),
                    memory_method, params {network: count}, samples_s (seconds per avatar or per frame), same_as,
                    landmarks, landmarks_missed, notes
    comparisons     ratios of per-frame medians between model families (measured) and the papers' own ratio
    published       the papers' per-frame times, labelled "reported in paper (device)"
    models          weights provenance per model; inputs: data set and frames used; notes; failures
    machine_load    the system's 1/5/15-minute load averages before and after the run, and the CPU count
                    (other processes competing for the CPU make timings noisy)

``latency_samples.csv``: model, weights_label, stage, per, batch, index, seconds (every timed sample, per avatar
or per frame: the call's time divided by the batch), same_as.

A record is written with :func:`write_record` into ``--out DIR`` or into a ``bilayer-bench run`` directory, where
the report finds it; :func:`read_record` checks the schema name and version.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from bench.errors import DataError
from bench.portable import PathStyle
from bench.records import atomic_write

__all__ = [
    "LATENCY_FILE",
    "LATENCY_SCHEMA",
    "LATENCY_SCHEMA_VERSION",
    "SAMPLES_FILE",
    "LatencyRecord",
    "StageRow",
    "finite_json",
    "read_record",
    "write_record",
]

LATENCY_SCHEMA = "bilayer-bench/latency"
LATENCY_SCHEMA_VERSION = 1
LATENCY_FILE = "latency.json"
SAMPLES_FILE = "latency_samples.csv"


def finite_json(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by None (JSON null); tuples become lists."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(v) for v in value]
    return value


@dataclass(frozen=True)
class StageRow:
    """One (model, stage) measurement; times in seconds per ``per`` (avatar or frame)."""

    model: str
    label: str
    weights_label: str
    stage: str
    per: str
    includes: str
    batch: int
    n: int
    median_s: float | None
    p90_s: float | None
    p99_s: float | None
    iqr_s: float | None
    min_s: float | None
    mean_s: float | None
    flops: int | None
    flops_convention: str
    flops_counted: str
    achieved_fraction: float | None
    peak_memory_bytes: int | None
    memory_method: str
    params: dict[str, int]
    samples_s: tuple[float, ...]
    same_as: str | None = None
    landmarks: str | None = None
    landmarks_missed: int | None = None
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return finite_json(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StageRow:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["samples_s"] = tuple(values.get("samples_s", ()))
        values["notes"] = tuple(values.get("notes", ()))
        return cls(**values)


@dataclass(frozen=True)
class LatencyRecord:
    environment: dict[str, Any]
    settings: dict[str, Any]
    calibration: dict[str, Any]
    stages: tuple[StageRow, ...]
    comparisons: tuple[dict[str, Any], ...] = ()
    published: tuple[dict[str, Any], ...] = ()
    models: tuple[dict[str, Any], ...] = ()
    inputs: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    failures: tuple[dict[str, Any], ...] = ()
    machine_load: dict[str, Any] = field(default_factory=dict)
    schema: str = LATENCY_SCHEMA
    schema_version: int = LATENCY_SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return finite_json(
            {
                "schema": self.schema,
                "schema_version": self.schema_version,
                "environment": self.environment,
                "settings": self.settings,
                "calibration": self.calibration,
                "stages": [row.to_dict() for row in self.stages],
                "comparisons": list(self.comparisons),
                "published": list(self.published),
                "models": list(self.models),
                "inputs": self.inputs,
                "notes": list(self.notes),
                "failures": list(self.failures),
                "machine_load": self.machine_load,
            }
        )

    def row(self, model: str, stage: str) -> StageRow:
        for row in self.stages:
            if (row.model, row.stage) == (model, stage):
                return row
        raise KeyError(f"no {stage} row for {model} in this record")


def samples_csv(record: LatencyRecord) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["model", "weights_label", "stage", "per", "batch", "index", "seconds", "same_as"])
    for row in record.stages:
        for index, seconds in enumerate(row.samples_s):
            line = [row.model, row.weights_label, row.stage, row.per, row.batch, index, repr(seconds)]
            writer.writerow([*line, row.same_as or ""])
    return buffer.getvalue()


def write_record(record: LatencyRecord, folder: Path) -> Path:
    """Write ``latency.json`` and ``latency_samples.csv`` into ``folder`` (created), atomically; returns the json."""
    path = folder / LATENCY_FILE
    style = PathStyle.for_run(folder)  # paths as a run's records write them (bench.portable)
    atomic_write(path, json.dumps(style.value(record.to_dict()), indent=2, allow_nan=False) + "\n")
    atomic_write(folder / SAMPLES_FILE, style.text(samples_csv(record)))
    return path


def read_record(path: Path) -> LatencyRecord:
    """Read a record from ``latency.json`` or the folder holding it; the schema name and version are checked."""
    file = path / LATENCY_FILE if path.is_dir() else path
    if not file.is_file():
        raise DataError(file, "latency record not found", "run `bilayer-bench latency --out DIR` to make one")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataError(file, f"not valid JSON ({error})", "write it again with `bilayer-bench latency`") from error
    if not isinstance(data, dict) or data.get("schema") != LATENCY_SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise DataError(file, f"schema is {found!r}, expected {LATENCY_SCHEMA!r}", "pass a latency.json")
    if data.get("schema_version") != LATENCY_SCHEMA_VERSION:
        raise DataError(
            file,
            f"schema_version {data.get('schema_version')!r} is not {LATENCY_SCHEMA_VERSION}",
            "read it with the bilayer-bench version that wrote it, or measure again",
        )
    return LatencyRecord(
        environment=data["environment"],
        settings=data["settings"],
        calibration=data["calibration"],
        stages=tuple(StageRow.from_dict(row) for row in data["stages"]),
        comparisons=tuple(data.get("comparisons", ())),
        published=tuple(data.get("published", ())),
        models=tuple(data.get("models", ())),
        inputs=data.get("inputs", {}),
        notes=tuple(data.get("notes", ())),
        failures=tuple(data.get("failures", ())),
        machine_load=data.get("machine_load", {}),
    )
