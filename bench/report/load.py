"""Read what a report is made from: run directories (``bilayer-bench run``) and latency records (``latency.json``).

A report never runs a model: everything comes from these records. Each ``RUN_DIR`` argument is either a run
directory (``results.json``; an optional ``latency.json`` beside it is read too) or a folder that holds only a
latency record. A run killed before it wrote ``results.json`` is read from its finished parts and reported as
unfinished. Readers are tolerant of extra keys, so newer records still render.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from bench.errors import DataError

__all__ = [
    "LATENCY_SCHEMA",
    "LatencyRecord",
    "ReportInputs",
    "RunRecord",
    "load_inputs",
    "read_latency",
    "read_run",
]

RESULTS_FILE = "results.json"
LATENCY_FILE = "latency.json"
LATENCY_SCHEMA = "bilayer-bench/latency"
RECORD_FILES = (
    "config.toml",
    "environment.json",
    "data.json",
    "weights.json",
    "metrics.json",
    RESULTS_FILE,
    "frames.csv",
    "sequences.csv",
    "timings.csv",
    "cost.csv",
    "failures.csv",
    LATENCY_FILE,
)
"""The small files of a run directory that a report folder keeps a copy of (not parts/ nor samples/)."""


def _number(value: Any) -> float:
    """JSON numbers, or the strings "nan"/"inf"/"-inf" that run records write for non-finite values."""
    if value is None:
        return math.nan
    return float(value)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(path, f"unreadable record ({error})", "rerun the command that wrote it") from error
    if not isinstance(data, dict):
        raise DataError(path, "expected a JSON object", "rerun the command that wrote it")
    return data


def _read_csv(path: Path, **options: Any) -> pd.DataFrame:
    if not path.is_file() or path.stat().st_size == 0:
        return pd.DataFrame()
    try:
        return pd.read_csv(path, **options)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


_FRAME_NAMES = ("model", "weights", "protocol", "job", "source_sequence", "source_frame", "driver_sequence",
                "driver_frame")  # fmt: skip


def _read_frames(path: Path) -> pd.DataFrame:
    """frames.csv with its names kept as text (a driver frame ``00001`` stays ``00001``) and metrics as floats."""
    frames = _read_csv(path, dtype=str, keep_default_na=False)
    for column in frames.columns:
        if column == "frame_index":
            frames[column] = pd.to_numeric(frames[column], errors="coerce").fillna(-1).astype(int)
        elif column not in _FRAME_NAMES:
            frames[column] = pd.to_numeric(frames[column], errors="coerce")  # "inf", "-inf"; "" and "nan": NaN
    return frames


@dataclass(frozen=True)
class LatencyRecord:
    """A ``latency.json`` of ``bilayer-bench latency``: per (model, stage) timing statistics on one machine."""

    path: Path
    environment: Mapping[str, Any]
    settings: Mapping[str, Any]
    calibration: Mapping[str, Any]
    stages: pd.DataFrame  # one row per stage entry; samples_s kept as a list column
    published: tuple[Mapping[str, Any], ...] = ()

    @property
    def flops_per_s(self) -> float:
        return _number(self.calibration.get("flops_per_s"))


def read_latency(path: Path) -> LatencyRecord:
    """Read ``path`` (a latency.json file, or a folder holding one)."""
    file = path / LATENCY_FILE if path.is_dir() else path
    if not file.is_file():
        raise DataError(path, f"no {LATENCY_FILE} here", "pass a folder written by `bilayer-bench latency`")
    data = _read_json(file)
    if data.get("schema") != LATENCY_SCHEMA:
        raise DataError(file, f"schema is {data.get('schema')!r}, expected {LATENCY_SCHEMA!r}", "pass a latency record")
    stages = pd.DataFrame([dict(s) for s in data.get("stages", [])])
    if not stages.empty:
        missing = {"model", "stage", "median_s"} - set(stages.columns)
        if missing:
            raise DataError(file, f"stage entries lack {', '.join(sorted(missing))}", "rerun `bilayer-bench latency`")
        for column in ("median_s", "p90_s", "p99_s", "iqr_s", "min_s", "mean_s"):
            if column in stages:
                stages[column] = stages[column].map(_number)
    return LatencyRecord(
        path=file,
        environment=data.get("environment", {}),
        settings=data.get("settings", {}),
        calibration=data.get("calibration", {}),
        stages=stages,
        published=tuple(data.get("published", [])),
    )


@dataclass(frozen=True)
class RunRecord:
    """One run directory, as read back for a report."""

    path: Path
    tag: str  # short name in tables when several runs are merged: R1, R2, ...
    status: str  # "complete", "partial", or "unfinished" (no results.json: read from its parts)
    jobs: Mapping[str, int]
    config: Mapping[str, Any]
    environment: Mapping[str, Any]
    data: Mapping[str, Any]
    weights: Mapping[str, Mapping[str, Any]]
    metrics: Mapping[str, Mapping[str, Any]]
    skipped_metrics: tuple[Mapping[str, str], ...]
    summary: pd.DataFrame
    sequences: pd.DataFrame
    timings: pd.DataFrame
    failures: pd.DataFrame
    frames: pd.DataFrame = field(default_factory=pd.DataFrame)  # frames.csv: per-frame metrics, names as text
    latency: LatencyRecord | None = None
    space: Mapping[str, Any] | None = None  # results.json "space" (bench.space.describe_space)
    masks: Mapping[str, Any] | None = None  # results.json "masks" (bench.masks.provider.describe_masks)
    differences: Sequence[Mapping[str, Any]] = ()  # results.json "differences" (bench.stats.paired_differences)
    cost: pd.DataFrame = field(default_factory=pd.DataFrame)  # cost.csv: where the run's time went (bench.costs)

    @property
    def space_phrase(self) -> str:
        """Where this run compared outputs with the ground truth, and where its masks came from."""
        if not self.space:
            return (
                "evaluation space not recorded (a run from before evaluation spaces: outputs compared as whole frames, "
                "crop models pasted into black frames)"
            )
        masks = f"; {self.masks['description']}" if self.masks else ""
        return f"evaluation space {self.space.get('name')}: {self.space.get('description')}{masks}"

    @property
    def name(self) -> str:
        return self.path.name

    def samples_dir(self) -> Path | None:
        folder = self.path / "samples"
        return folder if folder.is_dir() else None

    def weights_label(self, model: str) -> str:
        return str(self.weights.get(model, {}).get("weights_label", "unknown"))


def _summary_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    summary = pd.DataFrame([dict(r) for r in rows])
    if summary.empty:
        return summary
    if "value" not in summary and "mean" in summary:
        summary = summary.rename(columns={"mean": "value"})
    for column in ("value", "ci95_low", "ci95_high", "sequence_std"):
        if column in summary:
            summary[column] = summary[column].map(_number)
    return summary


@dataclass(frozen=True)
class _Tables:
    summary: pd.DataFrame
    sequences: pd.DataFrame
    timings: pd.DataFrame
    failures: pd.DataFrame
    jobs: dict[str, int]
    frames: pd.DataFrame


def _tables_from_parts(path: Path, metrics: Mapping[str, Mapping[str, Any]]) -> _Tables:
    """The tables of a run that never wrote results.json, from the parts it finished (frame metrics only)."""
    from bench.aggregate import failures_table, frames_table, sequences_table, summary_table, timings_table
    from bench.records import RunDirectory

    parts = RunDirectory(path).read_parts()  # a corrupt part is skipped with a warning, as --resume redoes it
    names = [name for name, info in metrics.items() if info.get("kind", "frame") == "frame"]
    frames = frames_table(parts, names)
    summary = summary_table(frames, names) if not frames.empty else pd.DataFrame()
    if not summary.empty:
        summary["metric_weights"] = summary["metric"].map(lambda m: metrics[m].get("weights_label", "none"))
    ok = sum(p.get("status") == "ok" for p in parts)
    return _Tables(
        summary,
        sequences_table(frames, names) if not frames.empty else pd.DataFrame(),
        timings_table(parts),
        failures_table(parts),
        {"ok": ok, "failed": len(parts) - ok},
        frames,
    )


def _finished(path: Path) -> tuple[dict[str, Any], str, _Tables]:
    results = _read_json(path / RESULTS_FILE)
    if results.get("schema") != "bilayer-bench/results":
        raise DataError(path / RESULTS_FILE, f"schema is {results.get('schema')!r}", "pass a run directory")
    tables = _Tables(
        _summary_frame(results.get("summary", [])),
        _read_csv(path / "sequences.csv"),
        _read_csv(path / "timings.csv"),
        _read_csv(path / "failures.csv"),
        dict(results.get("jobs", {})),
        _read_frames(path / "frames.csv"),
    )
    return results, str(results.get("status", "?")), tables


def _unfinished(path: Path) -> tuple[dict[str, Any], str, _Tables]:
    metrics_record = _read_json(path / "metrics.json")
    results = {
        "metrics": metrics_record.get("metrics", {}),
        "skipped_metrics": metrics_record.get("skipped", []),
        **{key: _read_json(path / f"{key}.json") for key in ("environment", "data", "weights")},
    }
    tables = _tables_from_parts(path, results["metrics"])
    jobs_per_model = sum((results["data"].get("jobs") or {}).values())
    tables.jobs["expected"] = jobs_per_model * len(results["weights"])  # weights.json: one entry per model
    return results, "unfinished", tables


def read_run(path: Path, tag: str = "R1") -> RunRecord:
    """Read a run directory written by ``bilayer-bench run`` (finished, partial or interrupted)."""
    if (path / RESULTS_FILE).is_file():
        results, status, tables = _finished(path)
    elif (path / "metrics.json").is_file() and (path / "parts").is_dir():
        results, status, tables = _unfinished(path)
    else:
        raise DataError(
            path,
            f"not a run directory (no {RESULTS_FILE}, no parts/)",
            "pass folders written by `bilayer-bench run` or `bilayer-bench latency`",
        )
    config = results.get("config") or _config_from_toml(path)
    latency = read_latency(path) if (path / LATENCY_FILE).is_file() else None
    return RunRecord(
        path=path,
        tag=tag,
        status=status,
        jobs=tables.jobs,
        config=config,
        environment=results.get("environment", {}),
        data=results.get("data", {}),
        weights=results.get("weights", {}),
        metrics=results.get("metrics", {}),
        skipped_metrics=tuple(results.get("skipped_metrics", [])),
        summary=tables.summary,
        sequences=tables.sequences,
        timings=tables.timings,
        failures=tables.failures,
        frames=tables.frames,
        latency=latency,
        space=results.get("space"),
        masks=results.get("masks"),
        differences=tuple(results.get("differences") or ()),
        cost=_read_csv(path / "cost.csv"),
    )


def _config_from_toml(path: Path) -> dict[str, Any]:
    from bench.config import config_to_dict, load_config

    return config_to_dict(load_config(path / "config.toml")) if (path / "config.toml").is_file() else {}


@dataclass(frozen=True)
class ReportInputs:
    runs: tuple[RunRecord, ...]
    latency: tuple[LatencyRecord, ...] = field(default=())  # records given as their own folders (L1, L2, ...)


def load_inputs(paths: Sequence[Path]) -> ReportInputs:
    """Sort ``paths`` into run directories and latency records (a folder with only latency.json, or the file)."""
    runs: list[RunRecord] = []
    latency: list[LatencyRecord] = []
    for path in paths:
        if not path.exists():
            raise DataError(path, "not found", "pass run directories of `bilayer-bench run` or latency records")
        is_run = path.is_dir() and ((path / RESULTS_FILE).is_file() or (path / "parts").is_dir())
        if is_run:
            runs.append(read_run(path, tag=f"R{len(runs) + 1}"))
        elif path.name == LATENCY_FILE or (path / LATENCY_FILE).is_file():
            latency.append(read_latency(path))
        else:
            raise DataError(
                path,
                f"neither a run directory ({RESULTS_FILE}) nor a latency record ({LATENCY_FILE})",
                "pass folders written by `bilayer-bench run` or `bilayer-bench latency`",
            )
    if not runs:
        raise DataError(paths[0] if paths else Path("."), "no run directory given", "pass at least one RUN_DIR")
    return ReportInputs(tuple(runs), tuple(latency))
