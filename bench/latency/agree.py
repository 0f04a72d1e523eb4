"""Do two latency runs agree? ``bilayer-bench latency --agree FIRST SECOND``.

Rule, per (model, stage) present in both records: the medians agree when

    |median_first - median_second| <= max(IQR_first, IQR_second, TIMER_FLOOR_S)

that is, when the medians differ by no more than the larger of the two runs' interquartile ranges. The floor
``TIMER_FLOOR_S`` (10 microseconds) applies to stages of a few microseconds (``copy-source``), whose spread
within a run is below what a Python-level timer resolves reliably between runs (the call of the timed function
itself varies by microseconds with the interpreter's state); it is stated in every output.

The same difference is also shown in calibrated units (median times each run's calibration rate, i.e. the
matmul-equivalent work a stage takes): when the machine's speed changed between the runs, the calibrated
difference is the smaller one. The verdict uses the plain medians, as measured.

Records must have been made with the same settings (device, dtype, threads, resolution, batch, compile,
random weights); otherwise they are not comparable and the check refuses with the first difference.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.errors import ConfigError
from bench.latency.record import LatencyRecord
from bench.latency.table import format_ms
from bench.table import format_table

__all__ = ["COMPARABLE_SETTINGS", "TIMER_FLOOR_S", "Agreement", "agreement", "format_agreement"]

TIMER_FLOOR_S = 10e-6
COMPARABLE_SETTINGS = ("device", "dtype", "threads", "resolution", "batch", "compile", "random_weights")


@dataclass(frozen=True)
class Agreement:
    """One (model, stage) of two runs; times in seconds per the stage's unit."""

    model: str
    stage: str
    first_s: float
    second_s: float
    first_iqr_s: float
    second_iqr_s: float
    first_rate: float
    second_rate: float

    @property
    def difference_s(self) -> float:
        return abs(self.first_s - self.second_s)

    @property
    def tolerance_s(self) -> float:
        return max(self.first_iqr_s, self.second_iqr_s, TIMER_FLOOR_S)

    @property
    def agrees(self) -> bool:
        return self.difference_s <= self.tolerance_s

    @property
    def relative(self) -> float:
        """|difference| over the mean of the two medians."""
        mean = (self.first_s + self.second_s) / 2
        return self.difference_s / mean if mean > 0 else 0.0

    @property
    def calibrated_relative(self) -> float:
        """The same in calibrated units (median x calibration rate of its run)."""
        a, b = self.first_s * self.first_rate, self.second_s * self.second_rate
        mean = (a + b) / 2
        return abs(a - b) / mean if mean > 0 else 0.0


def _check_comparable(first: LatencyRecord, second: LatencyRecord) -> None:
    for key in COMPARABLE_SETTINGS:
        a, b = first.settings.get(key), second.settings.get(key)
        if a != b:
            raise ConfigError(
                f"the two latency records differ in {key} ({a!r} vs {b!r}): their times are not comparable; "
                f"measure both with the same settings"
            )


def agreement(first: LatencyRecord, second: LatencyRecord) -> tuple[list[Agreement], list[str]]:
    """The per-(model, stage) comparison, and the (model, stage) pairs measured in only one record."""
    _check_comparable(first, second)
    rate_a, rate_b = first.calibration["flops_per_s"], second.calibration["flops_per_s"]
    seconds = {(r.model, r.stage): r for r in second.stages}
    out, only = [], []
    for row in first.stages:
        other = seconds.pop((row.model, row.stage), None)
        if other is None or row.median_s is None or other.median_s is None:
            only.append(f"{row.model} {row.stage}: only in the first record or without samples in one")
            continue
        out.append(
            Agreement(
                row.model,
                row.stage,
                row.median_s,
                other.median_s,
                row.iqr_s or 0.0,
                other.iqr_s or 0.0,
                rate_a,
                rate_b,
            )
        )
    only += [f"{model} {stage}: only in the second record" for model, stage in seconds]
    return out, only


def format_agreement(rows: list[Agreement], only: list[str]) -> str:
    header = ["model", "stage", "first ms", "second ms", "|diff| ms", "max IQR ms", "diff %", "calibrated diff %", ""]
    lines = [
        [
            r.model,
            r.stage,
            format_ms(r.first_s),
            format_ms(r.second_s),
            format_ms(r.difference_s),
            format_ms(max(r.first_iqr_s, r.second_iqr_s)),
            f"{100 * r.relative:.1f}",
            f"{100 * r.calibrated_relative:.1f}",
            "agree" if r.agrees else "DISAGREE",
        ]
        for r in rows
    ]
    text = format_table(header, lines, "<<" + ">" * (len(header) - 2))
    agreed = sum(r.agrees for r in rows)
    text.append(
        f"rule: |median difference| <= max(IQR of either run, {TIMER_FLOOR_S * 1e6:.0f} us timer floor); "
        f"{agreed} of {len(rows)} stages agree"
    )
    if rows:
        text.append(
            f"calibration rates: first {rows[0].first_rate / 1e9:.1f}, second {rows[0].second_rate / 1e9:.1f} GFLOP/s"
            " ('calibrated diff %' compares median x rate: the difference left after the machine's speed change)"
        )
    text += [f"not compared: {line}" for line in only]
    return "\n".join(text)
