"""What a run does after its evaluation when its config asks for it: the latency of its models (``[latency]
measure``) into ``RUN/latency.json``, then its report (``report = true``) into ``RUN/report/``.

Both read only what the run wrote, so a resumed run redoes them from its records; a failure of either is said in
one line and leaves the evaluation's records as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.config import RunConfig
from bench.latency.config import LatencyConfig, StagePolicy

__all__ = [
    "REPORT_FOLDER",
    "MeasuredLatency",
    "latency_config",
    "measure_latency",
    "write_run_report",
]

REPORT_FOLDER = "report"


def latency_config(config: RunConfig) -> LatencyConfig:
    """The latency harness's settings for ``config``'s models: its device, threads, weights and data, float32,
    batch 1, the ``[latency]`` section's sampling. No discarded warm-up calls: the harness's two untimed calls per
    stage (FLOP count, peak memory) come first and warm the caches; prepare starts cold anyway, as an avatar's
    preparation does in use."""
    short = config.latency
    data_root = config.data.root if config.data.layout == "bilayer" else ""
    return LatencyConfig(
        models=config.models,
        device=config.device,
        threads=config.threads,
        random_weights=config.random_weights is True,
        weights_dir=config.weights_dir,
        accept_hash_mismatch=config.accept_hash_mismatch,
        data_root=data_root,
        split=config.data.split if data_root else "test",
        seed=config.seed,
        prepare=StagePolicy(warmup=0, min_runs=short.prepare_runs, min_time_s=0.0, max_runs=short.prepare_runs),
        frame=StagePolicy(
            warmup=0, min_runs=short.frame_runs, min_time_s=short.frame_min_time, max_runs=max(short.frame_runs, 400)
        ),
        calibration=StagePolicy(warmup=1, min_runs=4, min_time_s=0.5, max_runs=100),
        calibration_size=short.calibration_size,
        rounds=short.rounds,
        model_args=config.model_args,
        sampling_label=short.label
        + ("" if data_root or not config.data.root else "; frames of the embedded default data set"),
    )


@dataclass(frozen=True)
class MeasuredLatency:
    text: str  # the console's latency table (brief)
    columns: dict[str, dict[str, float]]  # model -> {"prepare": ms/avatar, "frame": ms/frame}: bench.table columns


def measure_latency(config: RunConfig, run_dir: Path, say: Callable[[str], None]) -> MeasuredLatency:
    """Time the run's models into ``run_dir/latency.json``; the console's table and the per-model medians."""
    from bench.latency.harness import run_latency
    from bench.latency.record import write_record
    from bench.latency.table import format_latency

    record = run_latency(latency_config(config), say=say)
    write_record(record, run_dir)
    columns: dict[str, dict[str, float]] = {}
    for row in record.stages:
        key = {"prepare": "prepare", "end_to_end": "frame"}.get(row.stage)
        if key is not None and row.median_s is not None:
            columns.setdefault(row.model, {})[key] = row.median_s * 1e3
    return MeasuredLatency(format_latency(record, brief=True), columns)


def write_run_report(run_dir: Path) -> Path:
    """``bilayer-bench report RUN --out RUN/report``; returns the HTML file."""
    from bench.report import build_report, load_inputs, write_report

    out = run_dir / REPORT_FOLDER
    write_report(build_report(load_inputs([run_dir])), out)
    return out / "report.html"
