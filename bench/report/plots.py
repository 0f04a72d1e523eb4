"""The report's quantitative figures of quality: quality against per-frame latency with the Pareto front, and the
per-sequence distribution of every metric. (Latency figures: :mod:`bench.report.latency_plots`; qualitative
grids: :mod:`bench.report.grids`.)

Every model name carries its weights mark ("[RANDOM WEIGHTS]") in legends, tick labels and annotations, as in the
tables; random-weight points are hollow and hatched.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from bench.metrics import METRICS
from bench.report.canvas import (
    COLUMN_IN,
    FONT_PT,
    PAGE_IN,
    RANDOM_NOTE,
    UNVERIFIED_METRIC_NOTE,
    RenderedFigure,
    marked_style,
    new_figure,
    render,
    weight_mark,
)
from bench.report.latency import TIMINGS_CAVEAT, LatencyView
from bench.report.load import RunRecord
from bench.report.names import PRIMARY_METRICS, axis_label, header
from bench.report.tables import SANITY_BASELINES, model_label, quartiles

__all__ = [
    "arrow",
    "pareto_figure",
    "pareto_front",
    "pareto_points",
    "primary_metric",
    "sequence_figure",
    "unverified_metrics",
]

_STAGE_NAMES = {"animate": "animate", "end_to_end": "end-to-end"}


def arrow(metric: str) -> str:
    return ("↑" if METRICS.get(metric).higher_is_better else "↓") if metric in METRICS else ""


def unverified_metrics(runs: Sequence[RunRecord]) -> set[str]:
    """Metrics computed with weights whose sha256 is not verified: marked "*" as in the tables."""
    return {
        name
        for run in runs
        if not run.summary.empty and "metric_weights" in run.summary
        for name in run.summary.loc[run.summary["metric_weights"] == "unverified", "metric"]
    }


def _metric_axis(metric: str, unverified: set[str]) -> str:
    return axis_label(metric, arrow=arrow(metric) + ("*" if metric in unverified else ""))


def pareto_front(points: Sequence[tuple[float, float]], higher_is_better: bool) -> list[int]:
    """Indices of the points (latency, quality) that no other point beats on both (lower latency, better
    quality), sorted by latency. Ties on both coordinates keep every tied point."""
    sign = 1.0 if higher_is_better else -1.0
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -sign * points[i][1]))
    front: list[int] = []
    best = -math.inf
    for i in order:
        quality = sign * points[i][1]
        if quality > best or (front and points[front[-1]] == points[i]):
            front.append(i)
            best = max(best, quality)
    return front


def primary_metric(summary: pd.DataFrame, protocol: str = "self") -> str | None:
    """The metric of the quality-latency plot: the paper's first (LPIPS), else SSIM, PSNR, L1, else any."""
    present = list(dict.fromkeys(summary.loc[summary["protocol"] == protocol, "metric"])) if not summary.empty else []
    return next((m for m in PRIMARY_METRICS if m in present), present[0] if present else None)


def _error(centre: float, low: float, high: float) -> list[list[float]] | None:
    """matplotlib's asymmetric error of an interval around ``centre`` (None when not finite)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return None
    return [[max(centre - low, 0.0)], [max(high - centre, 0.0)]]


def pareto_points(runs: Sequence[RunRecord], view: LatencyView, metric: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(quality rows of the metric, the same merged with each model's per-frame latency and its quartiles)."""
    summary = pd.concat([r.summary.assign(run=r.tag) for r in runs if not r.summary.empty], ignore_index=True)
    quality = summary[(summary["protocol"] == "self") & (summary["metric"] == metric)]
    latency = view.per_frame()[["run", "model", "stage", "median_ms", "samples_ms"]]
    merged = quality.merge(latency, on=["model"], suffixes=("", "_lat"))
    if view.source == "timings":  # timings belong to their own run
        merged = merged[merged["run"] == merged["run_lat"]]
    merged = merged[np.isfinite(merged["value"]) & (merged["median_ms"] > 0)].reset_index(drop=True)
    iqr = [quartiles(s) for s in merged["samples_ms"]]
    merged = merged.assign(lat_low=[q[1] for q in iqr], lat_high=[q[2] for q in iqr])
    for column in ("ci95_low", "ci95_high"):
        if column not in merged:
            merged[column] = math.nan
    return quality, merged


def pareto_figure(
    runs: Sequence[RunRecord], view: LatencyView, metric: str, *, tagged: bool = False
) -> RenderedFigure | None:
    """Self-reenactment quality against per-frame latency (log), with 95% intervals, latency IQRs and the front."""
    quality, merged = pareto_points(runs, view, metric)
    if merged.empty:
        return None
    higher = METRICS.get(metric).higher_is_better if metric in METRICS else True
    figure = new_figure(COLUMN_IN, 2.6)
    ax = figure.add_subplot()
    markers = "osD^vP*X"
    for i, row in enumerate(merged.itertuples()):
        baseline = row.model in SANITY_BASELINES
        color = "0.45" if baseline else f"C{i}"
        style = {"facecolors": "none", "edgecolors": color} if baseline else marked_style(str(row.weights), color)
        label = model_label(row.model, row.weights, row.run if tagged else "") + (" (sanity)" if baseline else "")
        ax.errorbar(
            row.median_ms,
            row.value,
            xerr=_error(row.median_ms, row.lat_low, row.lat_high),
            yerr=_error(row.value, row.ci95_low, row.ci95_high),
            fmt="none",
            ecolor=color,
            elinewidth=0.8,
            capsize=2,
            zorder=2,
        )
        ax.scatter(row.median_ms, row.value, s=50, marker=markers[i % len(markers)], label=label, zorder=3, **style)
        if row.weights == "random" and not baseline:  # crossed out as well: hatching is faint at this size
            ax.scatter(row.median_ms, row.value, s=14, marker="x", color=color, linewidths=0.8, zorder=4)
        mark = weight_mark(str(row.weights))
        if mark:
            ax.annotate(mark, (row.median_ms, row.value), xytext=(5, -9), textcoords="offset points",
                        fontsize=FONT_PT - 1.5, color=color)  # fmt: skip
    ranked = merged[~merged["model"].isin(SANITY_BASELINES)].reset_index(drop=True)
    if len(ranked) >= 1:
        front = ranked.iloc[pareto_front(list(zip(ranked["median_ms"], ranked["value"], strict=True)), higher)]
        random_front = (front["weights"] == "random").any()
        ax.step(front["median_ms"], front["value"], where="post", color="0.2", lw=1.0, ls="--",
                label="Pareto front" + (" (of [RANDOM WEIGHTS] points)" if random_front else ""))  # fmt: skip
    stages = sorted({_STAGE_NAMES.get(str(s), str(s)) for s in merged["stage"]})
    ax.set_xscale("log")
    ax.margins(x=0.12, y=0.08)
    ax.set_xlabel(f"{' or '.join(stages)} latency (ms per frame, median; log scale)", fontsize=FONT_PT)
    unverified = unverified_metrics(runs)
    ax.set_ylabel(_metric_axis(metric, unverified), fontsize=FONT_PT)
    ax.tick_params(labelsize=FONT_PT - 1)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=FONT_PT - 1.5, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
    source = TIMINGS_CAVEAT if view.source == "timings" else "latency record"
    skipped = sorted(set(quality["model"]) - set(merged["model"]))
    caption = (
        f"Self-reenactment {header(metric)} ({metric}; {'higher' if higher else 'lower'} is better) against "
        f"per-frame latency ({source}; {' or '.join(stages)} stage). Vertical bars: 95% BCa bootstrap interval "
        "over identities; horizontal bars: interquartile range of the latency samples. Dashed: Pareto front of "
        "the ranked models (sanity baselines, hollow grey, are not ranked)."
    )
    if skipped:
        caption += f" Not drawn (no finite value or no latency): {', '.join(skipped)}."
    if (merged["weights"] == "random").any():
        caption += " Hollow crossed points have random weights." + RANDOM_NOTE
    if metric in unverified:
        caption += UNVERIFIED_METRIC_NOTE
    return render("quality-vs-latency", f"Quality against latency ({header(metric)})", caption, figure)


def sequence_figure(
    runs: Sequence[RunRecord], protocol: str = "self", *, tagged: bool = False
) -> RenderedFigure | None:
    """Per-sequence means of every metric, one panel per metric (its unit on the axis), one box per model."""
    tables = [r.sequences.assign(run=r.tag) for r in runs if not r.sequences.empty]
    if not tables:
        return None
    sequences = pd.concat(tables, ignore_index=True)
    sequences = sequences[sequences["protocol"] == protocol]
    weights = {(r.tag, m): r.weights_label(m) for r in runs for m in r.weights}
    metrics = [m for m in METRICS.in_order() if m in sequences and sequences[m].notna().any()]
    if sequences.empty or not metrics:
        return None
    columns = min(3, len(metrics))
    grid_rows = math.ceil(len(metrics) / columns)
    figure = new_figure(PAGE_IN * columns / 3, 2.4 * grid_rows)
    unverified = unverified_metrics(runs)
    rng = np.random.default_rng(0)  # jitter of the points: fixed, so that a report is reproducible
    order = {(r.tag, m): i for r in runs for i, m in enumerate(r.config.get("models", []))}
    groups = sorted(sequences.groupby(["run", "model"], sort=False), key=lambda g: order.get(g[0], len(order)))
    labels = [model_label(m, weights.get((run, m), "unknown"), run if tagged else "") for (run, m), _ in groups]
    for k, metric in enumerate(metrics):
        ax = figure.add_subplot(grid_rows, columns, k + 1)
        values = [g[metric].to_numpy(float) for _, g in groups]
        finite = [v[np.isfinite(v)] for v in values]
        positions = [i + 1 for i, v in enumerate(finite) if v.size]
        if positions:
            boxes = ax.boxplot([finite[p - 1] for p in positions], positions=positions, widths=0.6,
                               showfliers=False, patch_artist=True)  # fmt: skip
            for box, p in zip(boxes["boxes"], positions, strict=True):
                random = weights.get(groups[p - 1][0]) == "random"
                box.set(facecolor="white", hatch="///" if random else "", edgecolor="0.4")
        for i, v in enumerate(finite):
            ax.scatter(i + 1 + rng.uniform(-0.15, 0.15, v.size), v, s=6, alpha=0.7, color=f"C{i}", zorder=3)
        ax.set_xticks(range(1, len(groups) + 1))
        ax.set_xticklabels(labels, rotation=40, ha="right", rotation_mode="anchor", fontsize=FONT_PT - 1.5)
        infinite = sum(int(np.isinf(v).sum()) for v in values)
        ax.set_ylabel(_metric_axis(metric, unverified), fontsize=FONT_PT - 0.5)
        ax.tick_params(axis="y", labelsize=FONT_PT - 1)
        if infinite:
            ax.set_title(f"{infinite} infinite value(s) not drawn", fontsize=FONT_PT - 1.5)
        ax.grid(True, axis="y", alpha=0.3)
    figure.subplots_adjust(hspace=0.9, wspace=0.65)
    caption = (
        f"{protocol}-reenactment: distribution of per-sequence means of each metric (one point per sequence, unit "
        "on each axis); boxes: quartiles, whiskers: 1.5 IQR."
    )
    if any(weights.get(key) == "random" for key, _ in groups):
        caption += " Hatched boxes have random weights." + RANDOM_NOTE
    if unverified & set(metrics):
        caption += UNVERIFIED_METRIC_NOTE
    return render(f"sequences-{protocol}", f"Per-sequence metrics ({protocol})", caption, figure)
