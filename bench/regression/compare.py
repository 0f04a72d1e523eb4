"""Compare fresh values with the reference: what moved, by how much, against which tolerance.

Quality values are deterministic on CPU for a fixed thread count, so their tolerance is tight:
``|now - ref| <= atol + rtol * |ref|``, with NaN equal to NaN and an infinity equal to the same infinity.
Frame counts must match exactly. Latency is compared in calibrated work units (median seconds times the same
record's calibration FLOP/s) as a ratio ``now / ref`` within ``[1 / factor, factor]``; stages faster than a floor
(1 ms: timer and interpreter overhead, e.g. the sanity baselines) only have to stay under it. A row present on
one side only is a drift too.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench.regression.reference import LatencyValue, QualityValue
from bench.table import format_table

__all__ = [
    "Drift",
    "LatencyTolerance",
    "QualityTolerance",
    "compare_latency",
    "compare_quality",
    "compare_settings",
    "format_drifts",
    "within",
]


@dataclass(frozen=True)
class QualityTolerance:
    atol: float = 1e-6
    rtol: float = 1e-5

    def describe(self) -> str:
        return f"atol {self.atol:g} + rtol {self.rtol:g}"


@dataclass(frozen=True)
class LatencyTolerance:
    factor: float = 2.0  # now / ref within [1 / factor, factor]
    floor_s: float = 1e-3  # medians under this on both sides (timer and Python overhead) only have to stay under it

    def describe(self) -> str:
        return f"ratio in [{1 / self.factor:.2g}, {self.factor:g}]"

    def accepts(self, reference: LatencyValue, now: LatencyValue) -> bool:
        if max(reference.median_s, now.median_s) < self.floor_s:
            return True
        ratio = now.work_units / reference.work_units if reference.work_units > 0 else math.inf
        return 1.0 / self.factor <= ratio <= self.factor


@dataclass(frozen=True)
class Drift:
    """One row of the drift table."""

    metric: str
    model: str
    protocol: str  # quality: self/cross; latency: the stage and what it is per
    reference: str
    now: str
    difference: str
    tolerance: str


def within(reference: float, now: float, tolerance: QualityTolerance) -> bool:
    if math.isnan(reference) or math.isnan(now):
        return math.isnan(reference) and math.isnan(now)
    if math.isinf(reference) or math.isinf(now):
        return reference == now
    return abs(now - reference) <= tolerance.atol + tolerance.rtol * abs(reference)


def _text(value: float) -> str:
    return f"{value:.8g}"


def _pairs(reference: Iterable[Any], now: Iterable[Any], models: Sequence[str] | None) -> list[tuple[Any, Any, Any]]:
    """(key, reference value or None, current value or None) for every key of either side, sorted."""
    ref = {v.key: v for v in reference if models is None or v.model in models}
    new = {v.key: v for v in now if models is None or v.model in models}
    return [(key, ref.get(key), new.get(key)) for key in sorted(ref.keys() | new.keys())]


def _presence(metric: str, model: str, where: str, ref: str | None, now: str | None) -> Drift:
    """A row present on one side only."""
    return Drift(
        metric,
        model,
        where,
        "missing" if ref is None else ref,
        "missing" if now is None else now,
        "extra row" if ref is None else "row gone",
        "present in both",
    )


def compare_quality(
    reference: Iterable[QualityValue],
    now: Iterable[QualityValue],
    tolerance: QualityTolerance = QualityTolerance(),
    *,
    models: Sequence[str] | None = None,
) -> list[Drift]:
    """Drifts of ``now`` against ``reference``; with ``models``, only those models' rows are compared."""
    drifts = []
    for key, r, n in _pairs(reference, now, models):
        metric, model, protocol = key
        if r is None or n is None:
            drifts.append(_presence(metric, model, protocol, r and _text(r.value), n and _text(n.value)))
            continue
        if r.n_frames != n.n_frames:
            name = metric if metric == "frames" else f"{metric} (frames scored)"
            difference = f"{n.n_frames - r.n_frames:+d}"
            drifts.append(Drift(name, model, protocol, str(r.n_frames), str(n.n_frames), difference, "exact"))
        if metric == "frames":  # one row per (model, protocol): where a change of weights label shows
            if r.weights != n.weights:
                drifts.append(Drift("weights label", model, protocol, r.weights, n.weights, "changed", "same"))
            continue
        if not within(r.value, n.value, tolerance):
            difference = n.value - r.value if math.isfinite(n.value - r.value) else math.nan
            drifts.append(
                Drift(
                    metric, model, protocol, _text(r.value), _text(n.value), f"{difference:+.3g}", tolerance.describe()
                )
            )
    return drifts


def compare_latency(
    reference: Iterable[LatencyValue],
    now: Iterable[LatencyValue],
    tolerance: LatencyTolerance = LatencyTolerance(),
    *,
    models: Sequence[str] | None = None,
) -> list[Drift]:
    """Drifts of calibrated work units, as ratios now / reference."""
    drifts = []
    for key, r, n in _pairs(reference, now, models):
        model, stage, per = key
        where = f"{stage} per {per}"
        if r is None or n is None:
            units = (None if v is None else f"{v.work_units:.4g}" for v in (r, n))
            drifts.append(_presence("latency (work units)", model, where, *units))
            continue
        if not tolerance.accepts(r, n):
            ratio = n.work_units / r.work_units if r.work_units > 0 else math.inf
            drifts.append(
                Drift(
                    "latency (work units)",
                    model,
                    where,
                    f"{r.work_units:.4g}",
                    f"{n.work_units:.4g}",
                    f"x{ratio:.3g}",
                    tolerance.describe(),
                )
            )
    return drifts


def compare_settings(reference: Mapping[str, Any], now: Mapping[str, Any]) -> list[Drift]:
    """Latency settings that differ (device, dtype, threads, resolution, batch): the numbers are not comparable."""
    keys = ("device", "dtype", "threads", "resolution", "batch", "compile")
    return [
        Drift(f"setting {k}", "-", "latency", str(reference.get(k)), str(now.get(k)), "changed", "same setting")
        for k in keys
        if k in reference and reference.get(k) != now.get(k)
    ]


def format_drifts(drifts: Sequence[Drift]) -> str:
    """A fixed-width table: metric, model, protocol, reference, now, difference, tolerance."""
    header = ("metric", "model", "protocol", "reference", "now", "difference", "tolerance")
    rows = [(d.metric, d.model, d.protocol, d.reference, d.now, d.difference, d.tolerance) for d in drifts]
    return "\n".join(format_table(header, rows))
