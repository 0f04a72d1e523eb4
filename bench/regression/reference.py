"""The committed reference record of the regression check (``reports/regression/reference.json``).

It keeps, for the regression configuration, every summary value (model, protocol, metric -> mean and frame
count) and the frames generated per (model, protocol); and, when a latency record was given, every (model,
stage) median in *calibrated work units*: ``median_s * flops_per_s`` of the same record's calibration, so that a
faster or slower machine moves both and the ratio stays.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import ConfigError
from bench.records import atomic_write, json_safe

__all__ = [
    "REFERENCE_SCHEMA",
    "LatencyValue",
    "QualityValue",
    "ReferenceRecord",
    "default_reference_path",
    "quality_from_summary",
    "read_reference",
    "write_reference",
]

REFERENCE_SCHEMA = "bilayer-bench/regression-reference"
REFERENCE_VERSION = 1


@dataclass(frozen=True)
class QualityValue:
    model: str
    weights: str
    protocol: str
    metric: str  # a metric name, or "frames" for the count of frames generated per (model, protocol)
    value: float
    n_frames: int

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.metric, self.model, self.protocol)


@dataclass(frozen=True)
class LatencyValue:
    model: str
    stage: str
    per: str
    median_s: float
    work_units: float  # median_s * calibration flops_per_s

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.model, self.stage, self.per)


@dataclass(frozen=True)
class ReferenceRecord:
    config_name: str
    quality: tuple[QualityValue, ...]
    latency: tuple[LatencyValue, ...] = ()
    calibration: Mapping[str, Any] = field(default_factory=dict)
    latency_settings: Mapping[str, Any] = field(default_factory=dict)
    data_manifest_sha256: str | None = None
    environment: Mapping[str, Any] = field(default_factory=dict)
    created: str = ""


def default_reference_path() -> Path:
    """``reports/regression/reference.json`` of the checkout the code runs from (else of the current folder)."""
    checkout = Path(__file__).resolve().parents[2] / "reports" / "regression" / "reference.json"
    return checkout if checkout.parent.is_dir() else Path("reports/regression/reference.json")


def _float(value: Any) -> float:
    return float(value)  # float("nan"), float("inf") read the strings json_safe writes


def write_reference(path: Path, record: ReferenceRecord) -> None:
    payload = {
        "schema": REFERENCE_SCHEMA,
        "schema_version": REFERENCE_VERSION,
        "created": record.created,
        "config_name": record.config_name,
        "data_manifest_sha256": record.data_manifest_sha256,
        "environment": dict(record.environment),
        "quality": [asdict(v) for v in record.quality],
        "calibration": dict(record.calibration),
        "latency_settings": dict(record.latency_settings),
        "latency": [asdict(v) for v in record.latency],
    }
    atomic_write(path, json.dumps(json_safe(payload), indent=1) + "\n")


def read_reference(path: Path) -> ReferenceRecord:
    if not path.is_file():
        raise ConfigError(
            f"{path}: no regression reference; record one with `bilayer-bench regression --update` (and commit it)"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("schema") != REFERENCE_SCHEMA:
            raise ValueError(f"schema is {data.get('schema')!r}, expected {REFERENCE_SCHEMA!r}")
        quality = tuple(
            QualityValue(q["model"], q["weights"], q["protocol"], q["metric"], _float(q["value"]), int(q["n_frames"]))
            for q in data["quality"]
        )
        latency = tuple(
            LatencyValue(v["model"], v["stage"], v["per"], _float(v["median_s"]), _float(v["work_units"]))
            for v in data.get("latency", [])
        )
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ConfigError(
            f"{path}: not a readable regression reference ({error}); rewrite it with `bilayer-bench regression "
            "--update`"
        ) from error
    return ReferenceRecord(
        config_name=str(data.get("config_name", "")),
        quality=quality,
        latency=latency,
        calibration=data.get("calibration", {}),
        latency_settings=data.get("latency_settings", {}),
        data_manifest_sha256=data.get("data_manifest_sha256"),
        environment=data.get("environment", {}),
        created=str(data.get("created", "")),
    )


def quality_from_summary(
    summary_rows: Sequence[Mapping[str, Any]], counts: Sequence[Mapping[str, Any]]
) -> list[QualityValue]:
    """Summary rows of a run (model, weights, protocol, metric, value, n_frames) and its frame counts (model,
    weights, protocol, frames) as reference values."""
    values = [
        QualityValue(
            str(r["model"]),
            str(r["weights"]),
            str(r["protocol"]),
            str(r["metric"]),
            float(r["value"]),
            int(r["n_frames"]),
        )
        for r in summary_rows
    ]
    values += [
        QualityValue(
            str(c["model"]), str(c["weights"]), str(c["protocol"]), "frames", float(c["frames"]), int(c["frames"])
        )
        for c in counts
    ]
    return sorted(values, key=lambda v: (v.model, v.protocol, v.metric))
