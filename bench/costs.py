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
* ``data_ms_per_frame``: the time the job loop waited for the job's data (decoding, masks, the cut into the
  evaluation space), its share of each job; the next job's data is loaded on a worker thread while a job computes
  (:mod:`bench.prefetch`), so this is the part that did not overlap; ``data_work_ms_per_frame`` is what loading
  took on the worker;
* ``other_ms_per_frame``: the rest of the job outside the model's and the metrics' calls (output checks, 8-bit
  rounding, mapping outputs into the space, sample and output PNGs); the part file's own write is not in it;
* ``rest_share``: ``data + other`` over ``model + metrics + data + other``: the share of the loop spent outside
  model and metric compute;
* the real frames' set-metric features (once per job, shared by every model) are a row of their own, ``_real``;
* a last row ``_run``: all models and the real side together, per generated frame (its ``rest_share`` is the run's).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from bench.aggregate import part_rows

__all__ = ["COST_COLUMNS", "cost_table", "format_costs", "metric_timings_table", "overhead_table"]

COST_COLUMNS = [
    "model",
    "frames",
    "model_ms_per_frame",
    "animate_ms_per_frame",
    "metrics_ms_per_frame",
    "metrics_over_model",
    "data_ms_per_frame",
    "data_work_ms_per_frame",
    "other_ms_per_frame",
    "rest_share",
]
REAL = "_real"
RUN = "_run"
OVERHEAD = ("data_wait_ms", "data_work_ms", "other_ms")


def metric_timings_table(parts: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """One row per metric call of every finished part (parts written before metric timings existed have none)."""
    return part_rows(parts, "metric_timings", ["metric", "side", "frames", "ms"])


def overhead_table(parts: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """One row per finished part with its share of the job's time outside model and metric calls (parts written
    before it was recorded have none)."""
    rows = [{"model": p["model"], "job": p["job"], **p["overhead"]} for p in parts if p["status"] == "ok" and
            "overhead" in p]  # fmt: skip
    return pd.DataFrame(rows, columns=["model", "job", *OVERHEAD])


def _rest_share(model_ms: float, metrics_ms: float, data_ms: float, other_ms: float) -> float:
    total = model_ms + metrics_ms + data_ms + other_ms
    return (data_ms + other_ms) / total if total > 0 else float("nan")


def cost_table(
    timings: pd.DataFrame, metric_timings: pd.DataFrame, overhead: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Per model (in the order of ``timings``) the columns of :data:`COST_COLUMNS`, then ``ms_per_frame:<metric>``
    per metric; a ``_real`` row holds the real frames' set-metric features per real frame, a last ``_run`` row all
    of it per generated frame."""
    metrics = list(dict.fromkeys(metric_timings["metric"]))
    overhead = overhead if overhead is not None else pd.DataFrame(columns=["model", "job", *OVERHEAD])
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
        spent = overhead.loc[overhead["model"] == model, list(OVERHEAD)].astype(float).sum() / frames
        rows.append(
            {
                "model": model,
                "frames": frames,
                "model_ms_per_frame": model_ms,
                "animate_ms_per_frame": own.loc[own["stage"] == "animate", "ms"].sum() / frames,
                "metrics_ms_per_frame": metrics_ms,
                "metrics_over_model": metrics_ms / model_ms if model_ms > 0 else float("inf"),
                "data_ms_per_frame": float(spent["data_wait_ms"]),
                "data_work_ms_per_frame": float(spent["data_work_ms"]),
                "other_ms_per_frame": float(spent["other_ms"]),
                "rest_share": _rest_share(model_ms, metrics_ms, spent["data_wait_ms"], spent["other_ms"]),
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
    if rows:
        rows.append(_run_row(rows, metrics))
    columns = COST_COLUMNS + [f"ms_per_frame:{name}" for name in metrics]
    return pd.DataFrame(rows, columns=columns)


def _run_row(rows: list[dict[str, Any]], metrics: list[str]) -> dict[str, Any]:
    """Every model and the real side together, per generated frame."""
    models = [r for r in rows if r["model"] != REAL]
    frames = sum(r["frames"] for r in models)

    def total(column: str, among: list[dict[str, Any]]) -> float:
        return sum(r[column] * r["frames"] for r in among if column in r and pd.notna(r[column])) / frames

    model_ms, metrics_ms = total("model_ms_per_frame", models), total("metrics_ms_per_frame", rows)
    data_ms, other_ms = total("data_ms_per_frame", models), total("other_ms_per_frame", models)
    return {
        "model": RUN,
        "frames": frames,
        "model_ms_per_frame": model_ms,
        "animate_ms_per_frame": total("animate_ms_per_frame", models),
        "metrics_ms_per_frame": metrics_ms,
        "metrics_over_model": metrics_ms / model_ms if model_ms > 0 else float("inf"),
        "data_ms_per_frame": data_ms,
        "data_work_ms_per_frame": total("data_work_ms_per_frame", models),
        "other_ms_per_frame": other_ms,
        "rest_share": _rest_share(model_ms, metrics_ms, data_ms, other_ms),
        **{f"ms_per_frame:{name}": total(f"ms_per_frame:{name}", rows) for name in metrics},
    }


def _short(value: float) -> str:
    return f"{value:.1f}" if value >= 1 else f"{value:.2f}"


def _ratio(value: float) -> str:
    """``0.45x``; a model that costs next to nothing (a sanity baseline) makes any ratio huge: ``>100x``."""
    return f"{value:.2f}x" if value < 100 else ">100x"


def _percent(share: float) -> str:
    return f"{100 * share:.1f}%" if pd.notna(share) else "?"


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
        if row["model"] == RUN:
            lines.append(
                f"  the run, per generated frame: models {_short(row['model_ms_per_frame'])}, metrics "
                f"{_short(row['metrics_ms_per_frame'])} ({detail}), waiting for data "
                f"{_short(row['data_ms_per_frame'])} "
                f"(loading took {_short(row['data_work_ms_per_frame'])} on the prefetch thread), rest of the jobs "
                f"{_short(row['other_ms_per_frame'])}: {_percent(row['rest_share'])} outside model and metric compute"
            )
            continue
        lines.append(
            f"  {row['model']}: model {_short(row['model_ms_per_frame'])} (animate "
            f"{_short(row['animate_ms_per_frame'])}), metrics {_short(row['metrics_ms_per_frame'])} "
            f"= {_ratio(row['metrics_over_model'])} the model ({detail}); data and the rest "
            f"{_short(row['data_ms_per_frame'] + row['other_ms_per_frame'])}"
        )
    return "\n".join(lines)
