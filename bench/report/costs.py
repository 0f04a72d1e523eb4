"""Where a run's time went, and what the full VoxCeleb2 test split would take: two tables from each run's
``cost.csv`` and ``timings.csv`` (:mod:`bench.costs`, :mod:`bench.estimate`).

``cost`` has a row per model: ``animate`` per frame, its avatar (``prepare`` and ``begin_sequence``) per clip, the
metrics per frame (its own frames and the real frames' side, which a run of this model alone would pay too), the
data and the rest per frame, the share of the job loop outside model and metric compute, and the hours the
VoxCeleb2 test split would take at these costs on the run's device with 1 and with 8 ranks (one device each).
A last row per run holds all its models together (every model on each driving frame, the real side once).
``cost-metrics`` has each metric's time per frame.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from bench.estimate import VOXCELEB2_TEST, ClipCost, split_hours
from bench.report.load import RunRecord
from bench.report.names import header, metric_variant
from bench.report.tables import SANITY_BASELINES, Cell, Column, ComparisonTable, Row, model_label

__all__ = ["RANKS", "cost_tables"]

RANKS = (1, 8)
REAL, RUN = "_real", "_run"  # bench.costs' rows: the real side, the run as a whole
_COLUMNS = (
    Column("animate", "animate (ms/frame)", higher_is_better=False),
    Column("prepare", "avatar (ms/clip)", higher_is_better=False, description="prepare + begin_sequence per job"),
    Column("metrics", "metrics (ms/frame)", higher_is_better=False, description="its frames and the real side"),
    Column("rest", "data + rest (ms/frame)", higher_is_better=False),
    Column("outside", "outside compute (%)", higher_is_better=False),
    *(Column(f"hours_{r}", f"test split, {r} rank{'s' if r > 1 else ''} (h)", higher_is_better=False) for r in RANKS),
)


_NEEDED = {"model", "frames", "animate_ms_per_frame", "metrics_ms_per_frame", "data_ms_per_frame",
           "other_ms_per_frame", "rest_share"}  # fmt: skip


def _float(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number if math.isfinite(number) else math.nan


def _avatar_ms(timings: pd.DataFrame, model: str | None) -> float:
    """Mean ``prepare`` + ``begin_sequence`` per job (of ``model``, or summed over models for the run)."""
    if timings.empty or not {"model", "stage", "job", "ms"} <= set(timings.columns):
        return math.nan
    own = timings if model is None else timings[timings["model"] == model]
    avatar = own[own["stage"].isin(["prepare", "begin_sequence"])]
    jobs = own.loc[own["stage"] == "prepare", "job"].nunique()
    return float(avatar["ms"].sum()) / jobs if jobs else math.nan


def _device(run: RunRecord) -> str:
    env = run.environment
    where = env.get("cuda_device") if str(env.get("device", "")).startswith("cuda") else env.get("cpu")
    threads = f", {env['torch_threads']} threads" if env.get("torch_threads") else ""
    return f"{env.get('device', '?')} ({where or 'unknown'}{threads})"


def _own_frame_ms(row: Mapping[str, Any]) -> float:
    """A model's cost per driving frame without the real side: animate, its metrics, data and the rest."""
    names = ("animate_ms_per_frame", "metrics_ms_per_frame", "data_ms_per_frame", "other_ms_per_frame")
    return sum(_float(row.get(name)) for name in names)


def _row_cells(row: Mapping[str, Any], metrics_ms: float, clip: ClipCost | None, avatar_ms: float) -> dict[str, Cell]:
    rest = _float(row.get("data_ms_per_frame")) + _float(row.get("other_ms_per_frame"))
    cells = {
        "animate": Cell(_float(row.get("animate_ms_per_frame"))),
        "prepare": Cell(avatar_ms),
        "metrics": Cell(metrics_ms),
        "rest": Cell(rest),
        "outside": Cell(100 * _float(row.get("rest_share"))),
    }
    if clip is not None:
        cells.update({f"hours_{r}": Cell(split_hours(clip, VOXCELEB2_TEST, r)) for r in RANKS})
    return cells


def _clip(avatar_ms: float, frame_ms: float) -> ClipCost | None:
    return ClipCost(avatar_ms, frame_ms) if math.isfinite(avatar_ms) and math.isfinite(frame_ms) else None


def _run_rows(run: RunRecord, tagged: bool) -> tuple[list[Row], list[Row], list[str]]:
    cost = run.cost
    if cost.empty or not set(cost.columns) >= _NEEDED:  # a run from before cost.csv had them, or a damaged file
        return [], [], []
    records = cost.to_dict(orient="records")
    real = next((r for r in records if r["model"] == REAL), None)
    real_ms = _float(real.get("metrics_ms_per_frame")) if real else 0.0
    real_ms = 0.0 if math.isnan(real_ms) else real_ms
    metrics = [c.split(":", 1)[1] for c in cost.columns if c.startswith("ms_per_frame:")]
    rows, metric_rows = [], []
    tag = run.tag if tagged else ""
    for record in records:
        model = str(record["model"])
        if model == REAL:
            label = f"real frames, once per job ({tag})" if tag else "real frames, once per job"
            spent = {m: _float(record[f"ms_per_frame:{m}"]) for m in metrics}  # set metrics only: the others blank
            metric_rows.append(Row(label, "baseline", REAL, run=run.tag,
                                   cells={m: Cell(v) for m, v in spent.items() if v > 0}))  # fmt: skip
            continue
        if model == RUN:  # every model on each driving frame, the real side once
            avatar = _avatar_ms(run.timings, None)
            per_frame = sum(_own_frame_ms(r) for r in records if r["model"] not in (REAL, RUN)) + real_ms
            label = f"all models together ({tag})" if tag else "all models together"
            cells = _row_cells(record, _float(record.get("metrics_ms_per_frame")), _clip(avatar, per_frame), avatar)
            weights, kind = "none", "baseline"
        else:  # this model alone: its frames and the real side
            avatar = _avatar_ms(run.timings, model)
            metrics_ms = _float(record.get("metrics_ms_per_frame")) + real_ms
            cells = _row_cells(record, metrics_ms, _clip(avatar, _own_frame_ms(record) + real_ms), avatar)
            weights = run.weights_label(model)
            label, kind = model_label(model, weights, tag), "baseline" if model in SANITY_BASELINES else "ranked"
        frames = _float(record.get("frames"))
        rows.append(Row(label, kind, model, weights, run.tag, cells, frames=int(frames) if frames >= 0 else 0))
        metric_rows.append(Row(label, kind, model, weights, run.tag,
                               cells={m: Cell(_float(record[f"ms_per_frame:{m}"])) for m in metrics}))  # fmt: skip
    return rows, metric_rows, metrics


def cost_tables(runs: Sequence[RunRecord], *, tagged: bool = False) -> list[ComparisonTable]:
    """The ``cost`` and ``cost-metrics`` tables of the runs that recorded where their time went (none else)."""
    rows, metric_rows, metrics, devices = [], [], [], []
    for run in runs:
        own, own_metrics, names = _run_rows(run, tagged)
        if own:
            rows += own
            metric_rows += own_metrics
            metrics += [m for m in names if m not in metrics]
            devices.append(f"{run.tag}: {_device(run)}" if tagged else _device(run))
    if not rows:
        return []
    split = VOXCELEB2_TEST
    notes = [
        f"Measured on {'; '.join(devices)}: the wall clock inside the run, not latency measurements "
        "(`bilayer-bench latency` is); every number is per generated frame unless it says per clip.",
        f"Test split: {split.name}, {split.clips:,} clips, {split.frames:,} frames of which {split.driving_frames:,} "
        f"drive ({split.source}); each clip prepares one avatar and scores every other frame with this run's metrics. "
        f"Hours with R ranks under torchrun: the rank with the most clips, each rank on its own device; ranks "
        "sharing one CPU share its cores and are not faster.",
        "The first model of a run carries the reference side of the frame metrics (the real frames' landmarks and "
        "descriptors are computed once, then reused): a model evaluated alone pays it too, as the first row does.",
        "data + rest: waiting for the data (decoded on a prefetch thread while the job before computes) and the rest "
        "of each job outside model and metric calls; outside compute: its share of the job loop.",
    ]
    if any(r.weights == "random" for r in rows):
        notes.append("Rows marked [RANDOM WEIGHTS] have random weights (the cost of the computation is real).")
    cost = ComparisonTable(
        key="cost",
        title="Where the time goes, and the full test split",
        caption="Milliseconds per generated frame (avatar: per clip), the share outside model and metric compute, and "
        f"the estimated hours for the {split.name} split at these costs; ↓: lower is better; nothing is ranked.",
        columns=_COLUMNS,
        rows=tuple(rows),
        notes=tuple(notes),
        show_frames=True,
        interval="",
        significant=3,
    )
    columns = tuple(Column(m, header(m), higher_is_better=False, variant=metric_variant(m)) for m in metrics)
    per_metric = ComparisonTable(
        key="cost-metrics",
        title="Metric time per frame",
        caption="Milliseconds per generated frame of each metric call (both sides the first time a real frame is "
        "seen; the real frames' set-metric features once per job, their own row); ↓: lower is better.",
        columns=columns,
        rows=tuple(metric_rows),
        notes=(notes[0],),
        show_frames=False,
        interval="",
        significant=3,
    )
    return [cost, per_metric]
