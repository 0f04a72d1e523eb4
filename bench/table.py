"""Console tables: the suite's one fixed-width printer (:func:`format_table`: the results table, the latency
table, the conformance verdicts and the regression drifts all go through it) and the run's summary table
(models x metrics, with direction arrows and weight labels)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import pandas as pd

from bench.metrics import METRICS

__all__ = ["column_sides", "format_differences", "format_summary", "format_table"]


def column_sides(align: str, columns: int) -> str:
    """``align`` for ``columns`` columns: a character per column, ``<`` (text: left-aligned) or ``>`` (numbers:
    right-aligned); columns past its end are left-aligned. The rule of :func:`format_table` and of the report's
    Markdown tables (:func:`bench.report.formats.md_table`)."""
    if len(align) > columns or set(align) - {"<", ">"}:
        raise ValueError(f"align must be '<' or '>' per column, at most {columns} of them, got {align!r}")
    return align.ljust(columns, "<")


def format_table(header: Sequence[str], rows: Iterable[Sequence[str]], align: str = "") -> list[str]:
    """The lines of a fixed-width table: ``header``, a rule of dashes under it, then a line per row, columns two
    spaces apart and no line ending in blanks; ``align`` as :func:`column_sides` reads it."""
    table = [list(header), *(list(row) for row in rows)]
    sides = column_sides(align, len(header))
    for number, row in enumerate(table[1:], start=1):
        if len(row) != len(header):
            raise ValueError(f"row {number} has {len(row)} cells, the header {len(header)}: {row!r}")
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.rjust(w) if side == ">" else cell.ljust(w) for cell, w, side in zip(row, widths, sides, strict=True)
        )
        for row in table
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return [line.rstrip() for line in lines]


def _number(value: float) -> str:
    if math.isnan(value):
        return "-"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{0.0 if abs(value) < 5e-5 else value:.4f}"  # no "-0.0000" for a rounding-level negative


LATENCY_COLUMNS = {"prepare": "prepare ms/avatar", "frame": "end-to-end ms/frame"}
"""The results table's latency columns, keys of ``format_summary``'s ``latency`` (bench.followup fills them)."""


def _ms(value: float) -> str:
    return "-" if math.isnan(value) else (f"{value:.1f}" if value >= 10 else f"{value:.3g}")


def _unscored_lines(summary: pd.DataFrame) -> list[str]:
    """A line per (model, protocol, metric) with frames the metric could not score (no face found)."""
    if summary.empty or "n_unscored" not in summary:
        return []
    lines = []
    for row in summary[summary["n_unscored"].fillna(0) > 0].itertuples():
        scored = int(getattr(row, "n_scored", row.n_frames))
        lines.append(
            f"  {row.model} {row.protocol} {row.metric}: {int(row.n_unscored)} of {scored + int(row.n_unscored)} "
            f"frames unscored; value over the {int(row.n_frames)} frames every model scored"
        )
    if lines:
        lines.insert(0, "frames a metric could not score (no face found); each value is over the common frames:")
    return lines


def format_summary(
    summary: pd.DataFrame,
    counts: pd.DataFrame,
    caption: str = "",
    latency: Mapping[str, Mapping[str, float]] | None = None,
) -> str:
    """A fixed-width table: one row per (model, protocol) that produced frames (``counts``: model, weights,
    protocol, frames), one column per metric of ``summary`` with the better direction marked; "-" where a metric
    does not apply (distance metrics on cross-reenactment, which has no ground truth). ``caption`` (the
    evaluation space and masks) heads it; frames a metric could not score are listed under it. ``latency``
    (model -> :data:`LATENCY_COLUMNS` key -> median ms) adds the latency columns, per model."""
    timed = {
        key: title for key, title in LATENCY_COLUMNS.items() if latency and any(key in v for v in latency.values())
    }
    if counts.empty:
        return "(no results)"
    metrics = list(dict.fromkeys(summary["metric"])) if not summary.empty else []
    rank = {name: i for i, name in enumerate(METRICS.in_order())}
    metrics.sort(key=lambda name: rank.get(name, len(rank)))
    better = dict(zip(summary.get("metric", []), summary.get("higher_is_better", []), strict=True))
    unverified = (
        set(summary.loc[summary.get("metric_weights", pd.Series(dtype=str)) == "unverified", "metric"])
        if metrics
        else set()
    )
    header = [
        "model",
        "protocol",
        "frames",
        *[f"{m} {'↑' if better[m] else '↓'}{'*' if m in unverified else ''}" for m in metrics],
        *[f"{title} ↓" for title in timed.values()],
    ]
    from bench.models.zoo import WEIGHT_MARKS  # imports torch: here, so that format_table's users need not

    values = {(r.model, r.protocol, r.metric): r.value for r in summary.itertuples()}
    lines = [
        [
            f"{row.model}{WEIGHT_MARKS.get(row.weights, '')}",
            row.protocol,
            str(row.frames),
            *[_number(values.get((row.model, row.protocol, m), math.nan)) for m in metrics],
            *[_ms((latency or {}).get(row.model, {}).get(key, math.nan)) for key in timed],
        ]
        for row in counts.itertuples()
    ]
    render = format_table(header, lines, "<<" + ">" * (len(header) - 2))
    if unverified:
        render.append("* computed with weights whose sha256 is not verified against a release")
    if timed:
        render.append(
            "latency: medians of this job's latency record (short settings; CPU/GPU, threads and the table with "
            "spread below), per model: the same on both protocol rows"
        )
    render.extend(_unscored_lines(summary))
    return "\n".join([caption, *render] if caption else render)


def format_differences(differences: pd.DataFrame) -> str:
    """Paired differences against the reference model, a line per (model, protocol, metric); "" when none."""
    if differences is None or differences.empty:
        return ""
    reference = differences["reference"].iloc[0]
    lines = [f"paired differences against {reference} (same frames; 95% BCa interval over identities):"]
    for row in differences[differences["model"] != reference].itertuples():
        lines.append(
            f"  {row.model} {row.protocol} {row.metric}: {_number(row.difference)} "
            f"[{_number(row.ci95_low)}, {_number(row.ci95_high)}] over {row.n_frames} frames, "
            f"{row.n_identities} identities"
        )
    return "\n".join(lines)
