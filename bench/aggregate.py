"""From per-job parts to the run's tables: frames, sequences, summary, timings, failures."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from bench.metrics import METRICS

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


def summary_table(frames: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """Per (model, protocol, metric): mean over frames, count of frames and sequences, std of sequence means."""
    rows = []
    for (model, weights, protocol), group in frames.groupby(["model", "weights", "protocol"], sort=True):
        for name in metrics:
            values = group[name].dropna()
            if values.empty:
                continue
            per_sequence = group.dropna(subset=[name]).groupby("job")[name].mean()
            spec = METRICS.get(name)
            with np.errstate(invalid="ignore"):
                spread = float(per_sequence.std(ddof=1)) if len(per_sequence) > 1 else float("nan")
            rows.append(
                {
                    "model": model,
                    "weights": weights,
                    "protocol": protocol,
                    "metric": name,
                    "variant": spec.variant,
                    "higher_is_better": spec.higher_is_better,
                    "value": float(values.mean()),
                    "sequence_std": spread,
                    "n_frames": len(values),
                    "n_sequences": len(per_sequence),
                }
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
