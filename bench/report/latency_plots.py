"""The report's latency figures: the distribution of each stage per model, and the total time to animate one
avatar against the number of frames, T(n) = prepare + n x per-frame latency.

The bi-layer model's claim is a trade: a large ``prepare`` paid once per avatar for a cheap per-frame ``animate``;
FOMM does the opposite. The total-time figure marks where their curves cross: :func:`crossing_frames`.
Sanity baselines (copy-source, oracle) cost next to nothing and are left out of both figures, said in the caption.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import matplotlib
import numpy as np
import pandas as pd

from bench.report.canvas import FONT_PT, PAGE_IN, RANDOM_NOTE, RenderedFigure, new_figure, render, weight_mark
from bench.report.formats import format_number
from bench.report.latency import STAGE_ORDER, TIMINGS_CAVEAT, LatencyView
from bench.report.tables import SANITY_BASELINES, model_label

__all__ = ["FAMILIES", "Curve", "crossing_frames", "latency_figure", "total_time_curves", "total_time_figure"]

FAMILIES = ("bilayer", "fomm")  # the two model families whose total-time curves are compared
FRAMES_RANGE = (1.0, 1e4)
_STAGE_UNITS = {"prepare": "ms per avatar", "animate": "ms per frame", "end_to_end": "ms per frame"}
_STAGE_NAMES = {"prepare": "prepare", "animate": "animate", "end_to_end": "end-to-end"}
_MATPLOTLIB = tuple(int(p) for p in matplotlib.__version__.split(".")[:2])
_HORIZONTAL: dict[str, object] = {"orientation": "horizontal"} if _MATPLOTLIB >= (3, 10) else {"vert": False}


def _baselines_note(stages: pd.DataFrame) -> str:
    """The left-out sanity baselines with their median per stage, for a caption."""
    left = stages[stages["model"].isin(SANITY_BASELINES)]
    if left.empty:
        return ""
    parts = []
    for (run, model), group in left.groupby(["run", "model"], sort=False):
        medians = ", ".join(f"{_STAGE_NAMES.get(r.stage, r.stage)} {r.median_ms:.3g} ms" for r in group.itertuples())
        parts.append(f"{model} ({run}): {medians}")
    return " Sanity baselines are left out (medians: " + "; ".join(parts) + ")."


def latency_figure(view: LatencyView, *, tagged: bool = False) -> RenderedFigure | None:
    """One small panel per (model, stage), each on its own linear axis in ms, so that every model's spread shows
    (one shared log axis squashes them: copy-source takes microseconds)."""
    data = view.stages[view.stages["samples_ms"].map(len) > 0]
    shown = data[~data["model"].isin(SANITY_BASELINES)]
    shown = shown if not shown.empty else data  # only baselines measured: draw them rather than nothing
    stages = [s for s in STAGE_ORDER if s in set(shown["stage"])] + sorted(set(shown["stage"]) - set(STAGE_ORDER))
    if not stages:
        return None
    models = list(dict.fromkeys(zip(shown["run"], shown["model"], shown["weights"], strict=True)))
    figure = new_figure(PAGE_IN, 0.2 + 0.95 * len(models))
    rng = np.random.default_rng(0)
    for r, (run, model, weights) in enumerate(models):
        for c, stage in enumerate(stages):
            ax = figure.add_subplot(len(models), len(stages), r * len(stages) + c + 1)
            entry = shown[(shown["run"] == run) & (shown["model"] == model) & (shown["stage"] == stage)]
            ax.tick_params(labelsize=FONT_PT - 1.5)
            ax.set_yticks([])
            if c == 0:
                label = model_label(model, weights, run if tagged else "").replace(" [", "\n[").replace(" (", "\n(")
                ax.set_ylabel(label, fontsize=FONT_PT - 1, rotation=0, ha="right", va="center")
            if r == 0:
                ax.set_title(_STAGE_NAMES.get(stage, stage), fontsize=FONT_PT)
            if entry.empty:
                ax.text(
                    0.5, 0.5, "not measured", ha="center", va="center", fontsize=FONT_PT - 1, transform=ax.transAxes
                )
                ax.set_xticks([])
                continue
            samples = np.asarray(entry["samples_ms"].iloc[0], dtype=float)
            boxes = ax.boxplot([samples], **_HORIZONTAL, widths=0.6, showfliers=False, patch_artist=True)
            boxes["boxes"][0].set(facecolor="white", hatch="///" if weights == "random" else "", edgecolor="0.4")
            ax.scatter(samples, 1 + rng.uniform(-0.2, 0.2, samples.size), s=4, alpha=0.7, color=f"C{r}", zorder=3)
            ax.set_yticks([])
            median = format_number(float(entry["median_ms"].iloc[0]), -3)
            ax.set_xlabel(f"{_STAGE_UNITS.get(stage, 'ms')} (median {median})", fontsize=FONT_PT - 1.5, labelpad=1)
            ax.grid(True, axis="x", alpha=0.3)
    figure.subplots_adjust(hspace=0.9, wspace=0.25)
    what = TIMINGS_CAVEAT if view.source == "timings" else "samples of the latency record"
    caption = (
        f"Distribution of latency per model and stage ({what}), each panel on its own linear axis in ms (compare "
        "medians in the latency table, not panel widths); boxes: quartiles, whiskers: 1.5 IQR, points: samples."
    )
    caption += _baselines_note(data) if shown is not data else ""
    if (shown["weights"] == "random").any():
        caption += " Hatched boxes: random weights (the cost of the computation is real)." + RANDOM_NOTE
    return render("latency-distributions", "Latency distributions per stage", caption, figure)


@dataclass(frozen=True)
class Curve:
    """T(n) = prepare_ms + n * frame_ms of one (run, model), in ms."""

    run: str
    model: str
    weights: str
    prepare_ms: float
    frame_ms: float
    frame_stage: str

    def total_s(self, frames: np.ndarray) -> np.ndarray:
        return (self.prepare_ms + frames * self.frame_ms) / 1e3

    @property
    def family(self) -> str:
        return next((f for f in FAMILIES if self.model.startswith(f)), "")


def crossing_frames(prepare_a: float, frame_a: float, prepare_b: float, frame_b: float) -> float | None:
    """The number of frames n > 0 at which prepare_a + n frame_a = prepare_b + n frame_b (None: they never cross
    for n > 0, e.g. one is faster at both stages, or parallel)."""
    if frame_a == frame_b:
        return None
    n = (prepare_b - prepare_a) / (frame_a - frame_b)
    return n if n > 0 and math.isfinite(n) else None


def total_time_curves(view: LatencyView) -> list[Curve]:
    """Every ranked model that has both a prepare and a per-frame median (end-to-end when measured)."""
    prepared = view.stages[view.stages["stage"] == "prepare"]
    prepare = {(r.run, r.model): float(r.median_ms) for r in prepared.itertuples()}
    curves = []
    for row in view.per_frame().itertuples():
        p = prepare.get((row.run, row.model), math.nan)
        if row.model not in SANITY_BASELINES and math.isfinite(p) and math.isfinite(row.median_ms):
            curves.append(
                Curve(str(row.run), str(row.model), str(row.weights), p, float(row.median_ms), str(row.stage))
            )
    return curves


def _crossings(curves: list[Curve]) -> list[tuple[Curve, Curve, float | None]]:
    """Each (bi-layer, FOMM) pair of curves of one run with the n where they cross (None: never)."""
    a_family, b_family = FAMILIES
    return [
        (a, b, crossing_frames(a.prepare_ms, a.frame_ms, b.prepare_ms, b.frame_ms))
        for a in curves
        if a.family == a_family
        for b in curves
        if b.family == b_family and b.run == a.run
    ]


def _crossing_sentence(a: Curve, b: Curve, n: float | None, tagged: bool) -> str:
    name_a = model_label(a.model, a.weights, a.run if tagged else "")
    name_b = model_label(b.model, b.weights, b.run if tagged else "")
    if n is None:
        faster = name_a if a.prepare_ms <= b.prepare_ms else name_b
        return f"{name_a} and {name_b} never cross: {faster} is faster for every number of frames."
    early, late = (name_a, name_b) if a.prepare_ms < b.prepare_ms else (name_b, name_a)
    where = "" if FRAMES_RANGE[0] <= n <= FRAMES_RANGE[1] else " (outside the plotted range)"
    return (
        f"{name_a} and {name_b} cross at n = {n:.3g} frames{where}: below it {early} animates an avatar sooner, "
        f"above it {late}."
    )


def total_time_figure(view: LatencyView, *, tagged: bool = False) -> RenderedFigure | None:
    """T(n) in seconds against n frames (log-log), one curve per ranked model, bi-layer/FOMM crossings marked."""
    curves = total_time_curves(view)
    if not curves:
        return None
    frames = np.logspace(math.log10(FRAMES_RANGE[0]), math.log10(FRAMES_RANGE[1]), 200)
    figure = new_figure(PAGE_IN / 2, 2.6)
    ax = figure.add_subplot()
    for i, curve in enumerate(curves):
        label = model_label(curve.model, curve.weights, curve.run if tagged else "")
        ax.plot(frames, curve.total_s(frames), color=f"C{i}", lw=1.3, ls="--" if curve.weights == "random" else "-",
                label=label)  # fmt: skip
    crossings = _crossings(curves)
    for a, _b, n in crossings:
        if n is None or not FRAMES_RANGE[0] <= n <= FRAMES_RANGE[1]:
            continue
        t = float(a.total_s(np.asarray([n]))[0])
        ax.scatter([n], [t], s=30, marker="o", facecolors="none", edgecolors="k", zorder=4)
        random = " [RANDOM WEIGHTS]" if "random" in (a.weights, _b.weights) else ""
        ax.annotate(f"n = {n:.3g}{random}", (n, t), xytext=(6, -12), textcoords="offset points",
                    fontsize=FONT_PT - 1.5)  # fmt: skip
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(*FRAMES_RANGE)
    ax.set_xlabel("frames animated per avatar, n (log scale)", fontsize=FONT_PT)
    ax.set_ylabel("total time T(n) = prepare + n x per-frame\n(s, log scale)", fontsize=FONT_PT)
    ax.tick_params(labelsize=FONT_PT - 1)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=FONT_PT - 1.5, loc="upper left", frameon=False)
    stages = sorted({_STAGE_NAMES.get(c.frame_stage, c.frame_stage) for c in curves})
    source = TIMINGS_CAVEAT if view.source == "timings" else "medians of the latency record"
    caption = (
        f"Total time to animate one avatar with n frames, T(n) = prepare (ms per avatar) + n x per-frame latency "
        f"({' or '.join(stages)} stage), from {source}; sanity baselines left out. "
    )
    sentences = [_crossing_sentence(a, b, n, tagged) for a, b, n in crossings]
    caption += " ".join(sentences) if sentences else "No bi-layer/FOMM pair of curves to compare."
    if any(c.weights == "random" for c in curves):
        caption += " Dashed curves: random weights (their cost is real, their output is not)." + RANDOM_NOTE
    if any(weight_mark(c.weights) == "[unverified weights]" for c in curves):
        caption += " [unverified weights] marks weights whose sha256 is not verified."
    return render("total-time", "Total time to animate an avatar", caption, figure)
