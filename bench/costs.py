"""Where a run's time goes: each model's own time against the metrics' time, per generated frame.

Both come from the wall clock inside the run (``timings.csv`` for the models' ``prepare``, ``begin_sequence`` and
``animate`` calls; ``metric_timings.csv`` for every metric call), on the same machine in the same minutes, so
their ratio is meaningful even where each alone is noisy. They are not latency measurements (no warm-up, one call
each): ``bilayer-bench latency`` is.

Accounting, per model:

* ``model_ms_per_frame``: all of the model's calls (prepare per job, begin_sequence, animate) over the frames it
  generated: the model's own cost of this run's protocol, its per-avatar work amortised over the job's frames;
* ``animate_ms_per_frame``: its animate calls only;
* ``metrics_ms_per_frame``: every metric call on its frames: frame metrics (generated against reference, which
  includes the reference side the first time a frame is seen: later models reuse the cached landmarks and
  descriptors) and the generated side of set metrics (FID features), over the same frames;
* ``metrics_over_model``: the ratio of the two;
* the real frames' set-metric features (once per job, shared by every model) are a row of their own, ``_real``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from bench.aggregate import part_rows

__all__ = ["COST_COLUMNS", "cost_table", "format_costs", "metric_timings_table"]

COST_COLUMNS = [
    "model",
    "frames",
    "model_ms_per_frame",
    "animate_ms_per_frame",
    "metrics_ms_per_frame",
    "metrics_over_model",
]
REAL = "_real"


def metric_timings_table(parts: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """One row per metric call of every finished part (parts written before metric timings existed have none)."""
    return part_rows(parts, "metric_timings", ["metric", "side", "frames", "ms"])


def cost_table(timings: pd.DataFrame, metric_timings: pd.DataFrame) -> pd.DataFrame:
    """Per model (in the order of ``timings``) the columns of :data:`COST_COLUMNS`, then ``ms_per_frame:<metric>``
    per metric; a last ``_real`` row holds the real frames' set-metric features per real frame."""
    metrics = list(dict.fromkeys(metric_timings["metric"]))
    rows = []
    for model in dict.fromkeys(timings["model"]):
        own = timings[timings["model"] == model]
        frames = int(own.loc[own["stage"] == "animate", "frames"].sum())
        if frames == 0:
            continue
        scored = metric_timings[(metric_timings["model"] == model) & (metric_timings["side"] != "real")]
        per_metric = scored.groupby("metric", sort=False)["ms"].sum() / frames
        model_ms = own["ms"].sum() / frames
        metrics_ms = float(per_metric.sum())
        rows.append(
            {
                "model": model,
                "frames": frames,
                "model_ms_per_frame": model_ms,
                "animate_ms_per_frame": own.loc[own["stage"] == "animate", "ms"].sum() / frames,
                "metrics_ms_per_frame": metrics_ms,
                "metrics_over_model": metrics_ms / model_ms if model_ms > 0 else float("inf"),
                **{f"ms_per_frame:{name}": float(per_metric.get(name, 0.0)) for name in metrics},
            }
        )
    real = metric_timings[metric_timings["side"] == "real"]
    if not real.empty:
        frames = int(real.groupby("metric")["frames"].sum().max())
        per_metric = real.groupby("metric", sort=False)["ms"].sum() / frames
        rows.append(
            {
                "model": REAL,
                "frames": frames,
                "metrics_ms_per_frame": float(per_metric.sum()),
                **{f"ms_per_frame:{name}": float(per_metric.get(name, 0.0)) for name in metrics},
            }
        )
    columns = COST_COLUMNS + [f"ms_per_frame:{name}" for name in metrics]
    return pd.DataFrame(rows, columns=columns)


def _short(value: float) -> str:
    return f"{value:.1f}" if value >= 1 else f"{value:.2f}"


def _ratio(value: float) -> str:
    """``0.45x``; a model that costs next to nothing (a sanity baseline) makes any ratio huge: ``>100x``."""
    return f"{value:.2f}x" if value < 100 else ">100x"


def format_costs(costs: pd.DataFrame) -> str:
    """Lines for the console: per model, its ms per frame against the metrics' (largest metrics first)."""
    if costs.empty:
        return ""
    metric_columns = [c for c in costs.columns if c.startswith("ms_per_frame:")]
    lines = ["cost per generated frame, wall clock of this run (ms; the metrics' over the model's own):"]
    for row in costs.to_dict(orient="records"):
        parts = sorted(((row[c], c.split(":", 1)[1]) for c in metric_columns if row[c] > 0), reverse=True)
        detail = ", ".join(f"{name} {_short(ms)}" for ms, name in parts)
        if row["model"] == REAL:
            lines.append(
                f"  real frames' set-metric features, once per job for all models: "
                f"{_short(row['metrics_ms_per_frame'])} per real frame ({detail})"
            )
            continue
        lines.append(
            f"  {row['model']}: model {_short(row['model_ms_per_frame'])} (animate "
            f"{_short(row['animate_ms_per_frame'])}), metrics {_short(row['metrics_ms_per_frame'])} "
            f"= {_ratio(row['metrics_over_model'])} the model ({detail})"
        )
    return "\n".join(lines)
