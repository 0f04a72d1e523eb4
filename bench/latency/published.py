"""Per-frame inference times that the papers report, copied with their sources for "reported in paper" rows.

Read from the ``inference_time`` rows of ``bench/report/published.csv``, the shipped copy of the project's shared
``reference/published.csv``. ``verified``: ``primary`` when read in the paper itself, ``secondary`` when taken
from another source.
They are other hardware and other model sizes: shown next to our measurements, never mixed with them.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass
from importlib import resources
from typing import Any

__all__ = ["PUBLISHED_LATENCY", "PublishedLatency", "published_ratio"]


@dataclass(frozen=True)
class PublishedLatency:
    paper: str
    method: str
    model_size: str
    value_ms: float
    device: str
    source: str
    verified: str
    dataset: str = ""
    where: str = ""  # the device as our tables name it: "reported in paper (WHERE)"

    @property
    def label(self) -> str:
        return f"reported in paper ({self.where or self.device})"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "metric": "inference_time", "unit": "ms/frame", "label": self.label}


def _load() -> tuple[PublishedLatency, ...]:
    """The ``inference_time`` rows of the shipped copy of the reference table (``bench/report/published.csv``)."""
    text = resources.files("bench.report").joinpath("published.csv").read_text(encoding="utf-8")
    return tuple(
        PublishedLatency(
            row["paper"],
            row["method"],
            row["model_size"],
            float(row["value"]),
            row["device"],
            row["source"],
            row["verified"],
            row["dataset"],
            row["device"].replace(" (unstated)", ", unstated"),
        )
        for row in csv.DictReader(io.StringIO(text))
        if row["metric"] == "inference_time"
    )


PUBLISHED_LATENCY: tuple[PublishedLatency, ...] = _load()


def published_ratio(numerator: str, denominator: str) -> dict[str, Any] | None:
    """``numerator / denominator`` of two methods' published times on one device and model size, or None."""
    for a in PUBLISHED_LATENCY:
        for b in PUBLISHED_LATENCY:
            if (a.method, b.method) == (numerator, denominator) and (a.device, a.model_size) == (
                b.device,
                b.model_size,
            ):
                return {
                    "numerator": f"{a.method} ({a.model_size})",
                    "denominator": f"{b.method} ({b.model_size})",
                    "stage": "inference_time",
                    "ratio": a.value_ms / b.value_ms,
                    "numerator_median_s": a.value_ms / 1e3,
                    "denominator_median_s": b.value_ms / 1e3,
                    "measured": False,
                    "label": a.label,
                    "source": f"{a.source} ({a.verified})",
                    "text": f"{a.method} / {b.method} = {a.value_ms / b.value_ms:.2f}x ({a.value_ms:g} ms vs "
                    f"{b.value_ms:g} ms per frame, {a.model_size} models), {a.label}; source: {a.source}, "
                    f"{a.verified}",
                }
    return None
