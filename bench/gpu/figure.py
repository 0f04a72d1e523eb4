"""The matrix's figure: per-frame ``animate`` latency by configuration, one panel per model (Agg canvas of the
report, :mod:`bench.report.canvas`; no pyplot, no global backend change).

A bar is the median (ms per frame), its whisker the 25th to 75th percentile of the record's per-frame samples;
a configuration that did not give a number says why (skipped, failed, not run) where its bar would be. A model
with random weights carries ``[RANDOM WEIGHTS]`` in its panel's title.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bench.gpu.tables import MatrixRow
from bench.report.canvas import FONT_PT, PAGE_IN, RenderedFigure, new_figure, render

__all__ = ["matrix_figure"]

COLORS = {"float32": "#4477aa", "float16": "#ee6677", "bfloat16": "#228833"}


def _config_label(row: MatrixRow) -> str:
    cell = row.result.planned.cell
    return f"{cell.dtype}, {'compile' if cell.compile else 'eager'}, batch {cell.batch}"


def _why(row: MatrixRow) -> str:
    return row.status.split(":", 1)[0]  # skipped / failed / not run


def matrix_figure(rows: Sequence[MatrixRow], models: Sequence[str], caption: str) -> RenderedFigure:
    """One horizontal bar chart per model, configurations in the matrix's order, top to bottom."""
    per_model = [[r for r in rows if r.model == model] for model in models]
    height = 0.9 + 0.16 * max((len(group) for group in per_model), default=1)
    figure = new_figure(PAGE_IN, height)
    axes = figure.subplots(1, len(models), squeeze=False)[0]
    for axis, model, group in zip(axes, models, per_model, strict=True):
        y = np.arange(len(group))[::-1]
        widest = max((r.animate.median_s * 1e3 for r in group if r.animate and r.animate.median_s), default=1.0)
        for position, row in zip(y, group, strict=True):
            cell = row.result.planned.cell
            if row.animate is None or not row.animate.median_s:
                axis.text(0.01 * widest, position, f"({_why(row)})", va="center", fontsize=FONT_PT - 1, color="0.4")
                continue
            samples = np.asarray(row.animate.samples_s) * 1e3
            low, high = np.percentile(samples, [25, 75]) if samples.size else (np.nan, np.nan)
            median = row.animate.median_s * 1e3
            hatch = "////" if row.weights == "random" else None
            axis.barh(position, median, color=COLORS[cell.dtype], alpha=0.55 if cell.compile else 0.95, hatch=hatch)
            axis.errorbar(
                median,
                position,
                xerr=[[median - low], [high - median]],
                fmt="none",
                ecolor="black",
                capsize=1.5,
                lw=0.6,
            )
            axis.text(high + 0.02 * widest, position, f"{median:.3g}", va="center", fontsize=FONT_PT - 1.5)
        axis.set_yticks(y, [_config_label(r) for r in group], fontsize=FONT_PT - 1)
        axis.set_xlabel("animate, ms per frame (median; whisker: 25th-75th pct.)", fontsize=FONT_PT)
        axis.set_xlim(0, widest * 1.25)
        axis.set_ylim(-0.7, len(group) - 0.3)
        axis.tick_params(axis="x", labelsize=FONT_PT - 1)
        labels = {r.label for r in group if r.weights}
        axis.set_title(next(iter(labels)) if len(labels) == 1 else model, fontsize=FONT_PT + 0.5)
        axis.grid(axis="x", lw=0.3, alpha=0.5)
    figure.tight_layout()
    return render("latency_by_configuration", "Per-frame latency by configuration", caption, figure)
