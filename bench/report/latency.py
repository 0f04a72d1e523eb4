"""Per-stage latency for a report: from latency records when given, else from the runs' wall-clock timings.

A latency record (``bilayer-bench latency``) is a measurement: warm-up, fixed threads, synchronised device,
medians of many runs. The run's ``timings.csv`` is not: it is the wall-clock of each prepare/animate call inside
the evaluation loop (first calls included, metrics running beside it), divided by the frames of the call. It is
shown only when no latency record is given, and labelled so everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bench.report.load import LatencyRecord, ReportInputs
from bench.report.published import LATENCY, PublishedFigure
from bench.report.tables import (
    SANITY_BASELINES,
    Cell,
    Column,
    ComparisonTable,
    Row,
    mark_best,
    model_label,
    published_rows,
    quartiles,
)

__all__ = ["TIMINGS_CAVEAT", "LatencyView", "latency_table", "latency_view"]

TIMINGS_CAVEAT = "wall-clock inside the evaluation run, not a latency measurement"
STAGE_ORDER = ("prepare", "animate", "end_to_end")
STAGE_TITLES = {
    "prepare": "prepare (ms/avatar)",
    "animate": "animate (ms/frame)",
    "end_to_end": "end-to-end (ms/frame)",
}
COLUMNS = ("model", "weights", "run", "stage", "per", "n", "median_ms", "p90_ms", "samples_ms", "includes")


@dataclass(frozen=True)
class LatencyView:
    source: str  # "record" or "timings"
    description: str
    stages: pd.DataFrame  # COLUMNS, one row per (run, model, stage)

    def per_frame(self) -> pd.DataFrame:
        """The per-frame stage of every model: end-to-end when measured, else animate."""
        frame = self.stages[self.stages["per"] == "frame"]
        if frame.empty:
            return frame
        preference = {"end_to_end": 0, "animate": 1}
        frame = frame.assign(_rank=frame["stage"].map(preference).fillna(9))
        best = frame.sort_values("_rank", kind="stable").groupby(["run", "model"], sort=False).head(1)
        return best.drop(columns="_rank")


def _record_rows(record: LatencyRecord, tag: str) -> list[dict[str, object]]:
    rows = []
    for entry in record.stages.to_dict(orient="records"):
        samples = entry.get("samples_s")
        samples_ms = [float(s) * 1e3 for s in samples] if isinstance(samples, list) else []
        rows.append(
            {
                "model": entry["model"],
                "weights": entry.get("weights_label", "unknown"),
                "run": tag,
                "stage": entry["stage"],
                "per": entry.get("per", "frame" if entry["stage"] != "prepare" else "avatar"),
                "n": int(entry.get("n", len(samples_ms)) or 0),
                "median_ms": float(entry["median_s"]) * 1e3,
                "p90_ms": float(entry.get("p90_s", math.nan)) * 1e3,
                "samples_ms": samples_ms,
                "includes": str(entry.get("includes", "")),
            }
        )
    return rows


def _describe_record(record: LatencyRecord) -> str:
    s, env = record.settings, record.environment
    device = env.get("cuda_device") or env.get("cpu") or s.get("device", "?")
    parts = [
        f"device {s.get('device', '?')} ({device})",
        f"dtype {s.get('dtype', '?')}",
        f"{s.get('threads', '?')} threads",
        f"resolution {s.get('resolution', '?')}",
        f"batch {s.get('batch', '?')}",
        f"compile {s.get('compile', '?')}",
    ]
    if s.get("sampling_label"):  # e.g. the main job's short settings
        parts.append(str(s["sampling_label"]))
    return f"latency record {record.path}: " + ", ".join(parts)


def _timings_rows(inputs: ReportInputs) -> list[dict[str, object]]:
    rows = []
    for run in inputs.runs:
        timings = run.timings
        if timings.empty or not {"model", "stage", "frames", "ms"} <= set(timings.columns):
            continue
        order = {m: i for i, m in enumerate(run.config.get("models", []))}
        groups = sorted(timings.groupby(["model", "stage"], sort=False), key=lambda g: order.get(g[0][0], len(order)))
        for (model, stage), group in groups:
            if stage not in ("prepare", "animate"):
                continue
            per_call = group["ms"].to_numpy(float) / np.maximum(group["frames"].to_numpy(float), 1.0)
            samples = group["ms"].to_numpy(float) if stage == "prepare" else per_call
            rows.append(
                {
                    "model": model,
                    "weights": run.weights_label(str(model)),
                    "run": run.tag,
                    "stage": stage,
                    "per": "avatar" if stage == "prepare" else "frame",
                    "n": len(samples),
                    "median_ms": float(np.median(samples)),
                    "p90_ms": float(np.percentile(samples, 90)),
                    "samples_ms": samples.tolist(),
                    "includes": TIMINGS_CAVEAT,
                }
            )
    return rows


def latency_view(inputs: ReportInputs) -> LatencyView | None:
    """Latency records when there are any (records given on their own are tagged L1, L2, ...), else timings."""
    records = [(f"L{i}", r) for i, r in enumerate(inputs.latency, start=1)]
    records += [(run.tag, run.latency) for run in inputs.runs if run.latency is not None]
    if records:
        rows = [row for tag, record in records for row in _record_rows(record, tag)]
        description = "; ".join(f"{tag}: {_describe_record(record)}" for tag, record in records)
        return LatencyView("record", description, pd.DataFrame(rows, columns=list(COLUMNS)))
    rows = _timings_rows(inputs)
    if not rows:
        return None
    return LatencyView("timings", TIMINGS_CAVEAT, pd.DataFrame(rows, columns=list(COLUMNS)))


def latency_table(
    view: LatencyView, figures: Sequence[PublishedFigure] = (), *, tagged: bool = False
) -> ComparisonTable:
    """Models as rows, stages as columns (median ms, interquartile range in brackets); published per-frame
    times after a rule, in the per-frame column."""
    stages = [s for s in STAGE_ORDER if s in set(view.stages["stage"])]
    stages += sorted(set(view.stages["stage"]) - set(stages))
    columns = tuple(Column(s, STAGE_TITLES.get(s, s), higher_is_better=False) for s in stages)
    rows = []
    for (run, model, weights), group in view.stages.groupby(["run", "model", "weights"], sort=False):
        cells = {}
        for entry in group.itertuples():
            median, low, high = quartiles(entry.samples_ms)
            cells[entry.stage] = Cell(entry.median_ms if math.isnan(median) else median, low, high, frames=entry.n)
        rows.append(
            Row(
                model_label(str(model), str(weights), str(run) if tagged else ""),
                "baseline" if model in SANITY_BASELINES else "ranked",
                str(model),
                str(weights),
                str(run),
                cells,
                frames=int(group["n"].max()),
            )
        )
    per_frame = "end_to_end" if "end_to_end" in stages else "animate"
    pub_figures = [f for f in figures if f.candidates == (LATENCY,)]
    pub_rows, sources, _ = published_rows(_as_column(pub_figures, per_frame), [per_frame], "self")
    if view.source == "timings":
        notes = [f"Source: the runs' timings.csv, {TIMINGS_CAVEAT}; use `bilayer-bench latency` for latency figures."]
    else:
        notes = [f"Source: {view.description}."]
    if any(r.weights == "random" for r in rows):
        notes.append("Rows marked [RANDOM WEIGHTS] have random weights (the cost of the computation is real).")
    if pub_rows:
        notes.append("Rows below the rule are reported in the papers on other hardware: context only, never ranked.")
    return ComparisonTable(
        key="latency",
        title="Latency per stage",
        caption=(
            "Median latency per stage in ms, interquartile range in brackets; ↓: lower is better; bold: fastest "
            "ranked row (sanity baselines are not ranked)."
        ),
        columns=columns,
        rows=mark_best(rows, columns),
        published=pub_rows,
        sources=sources,
        notes=tuple(notes),
        show_frames=False,
        interval="IQR",
        significant=3,
    )


def _as_column(figures: Sequence[PublishedFigure], column: str) -> list[PublishedFigure]:
    """Published per-frame times placed in ``column`` (their metric is "latency", ours is the stage name)."""
    from dataclasses import replace

    return [replace(f, candidates=(column,), model_size=f"{f.model_size}, {f.device}".strip(", ")) for f in figures]
