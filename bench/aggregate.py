"""From per-job parts to the run's tables: frames, sequences, summary, timings, failures."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from bench.metrics import METRICS
from bench.registry import import_object

__all__ = [
    "FRAME_KEYS",
    "failures_table",
    "frames_table",
    "sequences_table",
    "summary_table",
    "timings_table",
]

FRAME_KEYS = [
    "model",
    "weights",
    "protocol",
    "job",
    "source_sequence",
    "source_frame",
    "driver_sequence",
    "driver_frame",
    "frame_index",
]
_SEQUENCE_KEYS = ["model", "weights", "protocol", "job"]


def frames_table(parts: Sequence[dict[str, Any]], metrics: Sequence[str]) -> pd.DataFrame:
    rows = [row for part in parts if part["status"] == "ok" for row in part["rows"]]
    columns = FRAME_KEYS + list(metrics)
    frame = pd.DataFrame(rows, columns=columns)
    for name in metrics:
        frame[name] = pd.to_numeric(frame[name].replace({"inf": np.inf, "-inf": -np.inf, "nan": np.nan}))
    return frame.sort_values(["model", "protocol", "job", "frame_index"], kind="stable").reset_index(drop=True)


def sequences_table(frames: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    grouped = frames.groupby(_SEQUENCE_KEYS, sort=True, dropna=False)
    table = grouped[list(metrics)].mean()
    table.insert(0, "n_frames", grouped.size())
    return table.reset_index()


def bootstrap_interval(
    sums: np.ndarray, counts: np.ndarray, seed: int, resamples: int = 1000, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap over sequences of the frame-weighted mean ``sum(sums) / sum(counts)``."""
    if len(sums) < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(sums), size=(resamples, len(sums)))
    means = sums[picks].sum(1) / counts[picks].sum(1)
    if not np.isfinite(means).all():  # e.g. PSNR of identical frames: +inf
        return float(means.min()), float(means.max())
    low, high = np.percentile(means, [50 * (1 - level), 50 * (1 + level)])
    return float(low), float(high)


def summary_row(
    model: str,
    weights: str,
    protocol: str,
    metric: str,
    value: float,
    frames: int,
    sequences: int,
    *,
    ci95: tuple[float, float] = (float("nan"), float("nan")),
    sequence_std: float = float("nan"),
    unscored: int = 0,
) -> dict[str, Any]:
    """One row of the summary (results.json "summary", the tables), for frame and set metrics alike."""
    spec = METRICS.get(metric)
    return {
        "model": model,
        "weights": weights,
        "protocol": protocol,
        "metric": metric,
        "variant": spec.variant,
        "higher_is_better": spec.higher_is_better,
        "value": value,
        "ci95_low": ci95[0],
        "ci95_high": ci95[1],
        "sequence_std": sequence_std,
        "n_frames": frames,
        "n_unscored": unscored,
        "n_sequences": sequences,
    }


def set_metric_table(
    parts: Sequence[dict[str, Any]], metrics: Sequence[str], features: Callable[[str, str, str], np.ndarray]
) -> pd.DataFrame:
    """Per (model, protocol) and set metric (FID), from per-job features: ``features(model, job, metric)``, with
    model "_real" for the real frames of a job."""
    groups: dict[tuple[str, str, str], list[str]] = {}
    for part in parts:
        if part["status"] == "ok" and part["rows"]:
            groups.setdefault((part["model"], part["rows"][0]["weights"], part["protocol"]), []).append(part["job"])
    rows = []
    for name in metrics:
        distance = import_object(METRICS.get(name).distance)
        for (model, weights, protocol), jobs in sorted(groups.items()):
            fake = np.concatenate([features(model, job, name) for job in jobs])
            real = np.concatenate([features("_real", job, name) for job in jobs])
            if min(len(fake), len(real)) >= 2:
                rows.append(
                    summary_row(model, weights, protocol, name, float(distance(real, fake)), len(fake), len(jobs))
                )
    return pd.DataFrame(rows)


def summary_table(frames: pd.DataFrame, metrics: Sequence[str], seed: int = 0) -> pd.DataFrame:
    """Per (model, protocol, metric): mean over frames, count of frames and sequences, std of sequence means,
    and a 95% bootstrap interval over sequences (seeded, 1000 resamples)."""
    rows = []
    for (model, weights, protocol), group in frames.groupby(["model", "weights", "protocol"], sort=True):
        for name in metrics:
            values = group[name].dropna()
            if values.empty:
                continue
            missing = int(group[name].isna().sum())  # frames the metric could not score (e.g. no face found)
            by_job = group.dropna(subset=[name]).groupby("job")[name]
            per_sequence = by_job.mean()
            low, high = bootstrap_interval(by_job.sum().to_numpy(), by_job.count().to_numpy(), seed)
            with np.errstate(invalid="ignore"):
                spread = float(per_sequence.std(ddof=1)) if len(per_sequence) > 1 else float("nan")
            rows.append(
                summary_row(
                    model,
                    weights,
                    protocol,
                    name,
                    float(values.mean()),
                    len(values),
                    len(per_sequence),
                    ci95=(low, high),
                    sequence_std=spread,
                    unscored=missing,
                )
            )
    return pd.DataFrame(rows)


def timings_table(parts: Sequence[dict[str, Any]]) -> pd.DataFrame:
    rows = [
        {"model": p["model"], "protocol": p["protocol"], "job": p["job"], **t}
        for p in parts
        if p["status"] == "ok"
        for t in p["timings"]
    ]
    return pd.DataFrame(rows, columns=["model", "protocol", "job", "stage", "frames", "ms"])


def failures_table(parts: Sequence[dict[str, Any]]) -> pd.DataFrame:
    rows = [
        {
            "model": p["model"],
            "protocol": p["protocol"],
            "job": p["job"],
            "file": p.get("file"),
            "error": p["error"],
        }
        for p in parts
        if p["status"] != "ok"
    ]
    return pd.DataFrame(rows, columns=["model", "protocol", "job", "file", "error"])
