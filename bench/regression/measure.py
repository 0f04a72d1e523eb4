"""Fresh values for the regression check: rerun the regression configuration, read a latency record."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from bench.config import RunConfig, load_config, with_overrides
from bench.errors import DataError
from bench.regression.reference import LatencyValue, QualityValue, quality_from_summary
from bench.report.load import LatencyRecord, read_latency

__all__ = ["QualityRun", "find_latency_record", "latency_values", "measure_quality", "regression_config"]


def regression_config(path: Path | None = None) -> RunConfig:
    """``bench/configs/regression.toml`` (or the config at ``path``)."""
    if path is not None:
        return load_config(path)
    with resources.as_file(resources.files("bench").joinpath("configs/regression.toml")) as shipped:
        return load_config(shipped)


@dataclass(frozen=True)
class QualityRun:
    run_dir: Path
    status: str
    values: tuple[QualityValue, ...]
    data_manifest_sha256: str | None
    failures: tuple[str, ...]


def measure_quality(config: RunConfig, out_root: Path, *, models: Sequence[str] | None = None) -> QualityRun:
    """Run ``config`` (only ``models`` when given) into a new run directory under ``out_root``."""
    import json

    from bench.runner import run_benchmark

    if models:
        config = with_overrides(config, models=tuple(models))
    result = run_benchmark(config, out_root=out_root, progress=False)
    summary = result.summary.to_dict(orient="records")
    values = quality_from_summary(summary, result.counts.to_dict(orient="records"))
    data = json.loads((result.run_dir / "data.json").read_text(encoding="utf-8"))
    failures = tuple(f"{r.model} {r.job}: {r.error}" for r in result.failures.itertuples())
    return QualityRun(result.run_dir, result.status, tuple(values), data.get("manifest_sha256"), failures)


def find_latency_record(path: Path) -> LatencyRecord:
    """``path``/latency.json, or the newest latency.json one level below ``path`` (a parent of latency runs)."""
    if path.is_file() or (path / "latency.json").is_file():
        return read_latency(path)
    found = sorted(path.glob("*/latency.json"), key=lambda p: p.stat().st_mtime) if path.is_dir() else []
    if not found:
        raise DataError(
            path, "no latency.json here or one folder below", "pass the --out folder of `bilayer-bench latency`"
        )
    return read_latency(found[-1])


def latency_values(record: LatencyRecord) -> list[LatencyValue]:
    """Every (model, stage) median of the record in calibrated work units (median_s x calibration FLOP/s)."""
    flops = record.flops_per_s
    if not (math.isfinite(flops) and flops > 0):
        raise DataError(
            record.path, "no calibration flops_per_s in this latency record", "rerun `bilayer-bench latency`"
        )
    values = [
        LatencyValue(
            str(e["model"]), str(e["stage"]), str(e.get("per", "")), float(e["median_s"]), float(e["median_s"]) * flops
        )
        for e in record.stages.to_dict(orient="records")
    ]
    return sorted(values, key=lambda v: v.key)
