"""The report's figures, drawn with matplotlib's Agg canvas (no pyplot, no global backend change).

- quality against per-frame latency, with the Pareto front of the ranked models;
- latency distributions per stage;
- per-sequence distributions of each metric;
- qualitative grids from the run's saved samples: source | driver | each model | ground truth.

Every model name carries its weights mark ("[RANDOM WEIGHTS]") in legends and tick labels, as in the tables.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from bench.metrics import METRICS
from bench.report.latency import STAGE_ORDER, STAGE_TITLES, TIMINGS_CAVEAT, LatencyView
from bench.report.load import RunRecord
from bench.report.tables import SANITY_BASELINES, model_label

__all__ = [
    "RenderedFigure",
    "latency_figure",
    "pareto_figure",
    "pareto_front",
    "qualitative_figure",
    "sequence_figure",
]

DPI = 110
PRIMARY_METRICS = ("lpips.vgg.v0.1", "lpips.alex.v0.1", "ssim", "psnr", "l1")


@dataclass(frozen=True)
class RenderedFigure:
    key: str  # file stem
    title: str
    caption: str
    png: bytes


def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", facecolor="white")
    return buffer.getvalue()


def _arrow(metric: str) -> str:
    return ("↑" if METRICS.get(metric).higher_is_better else "↓") if metric in METRICS else ""


def _unverified_metrics(runs: Sequence[RunRecord]) -> set[str]:
    """Metrics computed with weights whose sha256 is not verified: marked "*" as in the tables."""
    return {
        name
        for run in runs
        if not run.summary.empty and "metric_weights" in run.summary
        for name in run.summary.loc[run.summary["metric_weights"] == "unverified", "metric"]
    }


def _metric_title(metric: str, unverified: set[str]) -> str:
    return f"{metric} {_arrow(metric)}{'*' if metric in unverified else ''}"


_RANDOM_NOTE = " [RANDOM WEIGHTS] marks models with random weights: their numbers say nothing about the methods."
_UNVERIFIED_NOTE = " * computed with metric weights whose sha256 is not verified."


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


def pareto_figure(
    runs: Sequence[RunRecord], view: LatencyView, metric: str, *, tagged: bool = False
) -> RenderedFigure | None:
    summary = pd.concat([r.summary.assign(run=r.tag) for r in runs if not r.summary.empty], ignore_index=True)
    quality = summary[(summary["protocol"] == "self") & (summary["metric"] == metric)]
    latency = view.per_frame()
    merged = quality.merge(latency[["run", "model", "stage", "median_ms"]], on=["model"], suffixes=("", "_lat"))
    if view.source == "timings":  # timings belong to their own run
        merged = merged[merged["run"] == merged["run_lat"]]
    merged = merged[np.isfinite(merged["value"]) & (merged["median_ms"] > 0)]
    if merged.empty:
        return None
    higher = METRICS.get(metric).higher_is_better if metric in METRICS else True
    figure = Figure(figsize=(7.0, 4.6))
    ax = figure.add_subplot()
    ranked = merged[~merged["model"].isin(SANITY_BASELINES)].reset_index(drop=True)
    markers = "osD^vP*X"
    for i, row in enumerate(merged.itertuples()):
        label = model_label(row.model, row.weights, row.run if tagged else "")
        baseline = row.model in SANITY_BASELINES
        ax.scatter(
            row.median_ms,
            row.value,
            s=60,
            marker=markers[i % len(markers)],
            facecolors="none" if baseline else f"C{i}",
            edgecolors="0.4" if baseline else f"C{i}",
            label=label + (" (sanity baseline)" if baseline else ""),
            zorder=3,
        )
    if len(ranked) >= 1:
        front = ranked.iloc[pareto_front(list(zip(ranked["median_ms"], ranked["value"], strict=True)), higher)]
        ax.step(front["median_ms"], front["value"], where="post", color="0.2", lw=1.2, ls="--", label="Pareto front")
    ax.set_xscale("log")
    ax.set_xlabel(f"{STAGE_TITLES.get(str(latency['stage'].iloc[0]), 'per frame')}, median (log scale)")
    unverified = _unverified_metrics(runs)
    ax.set_ylabel(_metric_title(metric, unverified))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    source = TIMINGS_CAVEAT if view.source == "timings" else "latency record"
    skipped = sorted(set(quality["model"]) - set(merged["model"]))
    caption = (
        f"Self-reenactment {metric} ({'higher' if higher else 'lower'} is better) against per-frame latency "
        f"({source}). Dashed: Pareto front of the ranked models (sanity baselines, hollow, are not ranked)."
    )
    if skipped:
        caption += f" Not drawn (no finite value or no latency): {', '.join(skipped)}."
    if (merged["weights"] == "random").any():
        caption += _RANDOM_NOTE
    if metric in unverified:
        caption += _UNVERIFIED_NOTE
    return RenderedFigure("quality-vs-latency", f"Quality against latency ({metric})", caption, _png(figure))


def latency_figure(view: LatencyView, *, tagged: bool = False) -> RenderedFigure | None:
    stages = [s for s in STAGE_ORDER if s in set(view.stages["stage"])]
    data = view.stages[view.stages["samples_ms"].map(len) > 0]
    stages = [s for s in stages if s in set(data["stage"])]
    if not stages:
        return None
    figure = Figure(figsize=(4.2 * len(stages), 4.2))
    for k, stage in enumerate(stages):
        ax = figure.add_subplot(1, len(stages), k + 1)
        part = data[data["stage"] == stage]
        samples = [np.asarray(s, dtype=float) for s in part["samples_ms"]]
        labels = [model_label(r.model, r.weights, r.run if tagged else "") for r in part.itertuples()]
        ax.boxplot(samples, positions=range(1, len(samples) + 1), widths=0.6, showfliers=True)
        ax.set_xticks(range(1, len(samples) + 1))
        ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=7)
        if all((s > 0).all() for s in samples):
            ax.set_yscale("log")
        ax.set_title(STAGE_TITLES.get(stage, stage), fontsize=9)
        ax.set_ylabel("ms")
        ax.grid(True, axis="y", alpha=0.3)
    figure.subplots_adjust(wspace=0.35)
    what = TIMINGS_CAVEAT if view.source == "timings" else "samples of the latency record"
    caption = f"Distribution of latency per stage and model ({what}); boxes: quartiles, whiskers: 1.5 IQR."
    if (data["weights"] == "random").any():
        caption += _RANDOM_NOTE
    return RenderedFigure("latency-distributions", "Latency distributions per stage", caption, _png(figure))


def sequence_figure(
    runs: Sequence[RunRecord], protocol: str = "self", *, tagged: bool = False
) -> RenderedFigure | None:
    """Per-sequence means of every metric, one panel per metric, one box (and its points) per model."""
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
    figure = Figure(figsize=(4.4 * columns, 3.9 * grid_rows))
    unverified = _unverified_metrics(runs)
    rng = np.random.default_rng(0)  # jitter of the points: fixed, so that a report is reproducible
    order = {(r.tag, m): i for r in runs for i, m in enumerate(r.config.get("models", []))}
    groups = sorted(sequences.groupby(["run", "model"], sort=False), key=lambda g: order.get(g[0], len(order)))
    for k, metric in enumerate(metrics):
        ax = figure.add_subplot(grid_rows, columns, k + 1)
        values = [g[metric].to_numpy(float) for _, g in groups]
        finite = [v[np.isfinite(v)] for v in values]
        positions = [i + 1 for i, v in enumerate(finite) if v.size]
        if positions:
            ax.boxplot([finite[p - 1] for p in positions], positions=positions, widths=0.6, showfliers=False)
        for i, v in enumerate(finite):
            ax.scatter(i + 1 + rng.uniform(-0.15, 0.15, v.size), v, s=9, alpha=0.6, color=f"C{i}", zorder=3)
        labels = [model_label(m, weights.get((run, m), "unknown"), run if tagged else "") for (run, m), _ in groups]
        ax.set_xticks(range(1, len(groups) + 1))
        ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=7)
        infinite = sum(int(np.isinf(v).sum()) for v in values)
        infinite_note = f" ({infinite} infinite not drawn)" if infinite else ""
        ax.set_title(_metric_title(metric, unverified) + infinite_note, fontsize=9)
        ax.grid(True, axis="y", alpha=0.3)
    figure.subplots_adjust(hspace=0.7, wspace=0.3)
    caption = (
        f"{protocol}-reenactment: distribution of per-sequence means of each metric (one point per sequence); "
        "boxes: quartiles."
    )
    if any(weights.get(key) == "random" for key, _ in groups):
        caption += _RANDOM_NOTE
    if unverified & set(metrics):
        caption += _UNVERIFIED_NOTE
    return RenderedFigure(f"sequences-{protocol}", f"Per-sequence metrics ({protocol})", caption, _png(figure))


def _slug(text: str) -> str:
    """The folder name of ``text`` under samples/ (as bench.records names it)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")


def _inputs_dir(samples: Path, protocol: str) -> Path | None:
    for name in ("_inputs", "inputs"):
        folder = samples / name / protocol
        if (folder / "source.png").is_file():
            return folder
    return None


def qualitative_figure(
    run: RunRecord, protocol: str, *, max_frames: int = 3, tagged: bool = False
) -> RenderedFigure | None:
    """Source | driver | each model | ground truth (self-reenactment: the driver itself), one row per frame."""
    samples = run.samples_dir()
    inputs = _inputs_dir(samples, protocol) if samples else None
    if samples is None or inputs is None:
        return None
    frames = sorted(p.name for p in inputs.glob("[0-9]*.png"))[:max_frames]
    models = [m for m in run.config.get("models", list(run.weights)) if (samples / _slug(m) / protocol).is_dir()]
    if not frames:
        return None
    titles = ["source", "driver"]
    titles += [model_label(m, run.weights_label(m), run.tag if tagged else "").replace(" [", "\n[") for m in models]
    titles += ["ground truth (= driver)"] if protocol == "self" else []
    source = Image.open(inputs / "source.png").convert("RGB")
    figure = Figure(figsize=(1.9 * len(titles), 1.85 * len(frames) + 0.5))
    for r, frame in enumerate(frames):
        driver = Image.open(inputs / frame).convert("RGB")
        images: list[Image.Image | None] = [source, driver]
        for m in models:
            path = samples / _slug(m) / protocol / frame
            images.append(Image.open(path).convert("RGB") if path.is_file() else None)
        images += [driver] if protocol == "self" else []
        for c, image in enumerate(images):
            ax = figure.add_subplot(len(frames), len(titles), r * len(titles) + c + 1)
            ax.set_xticks([])
            ax.set_yticks([])
            if image is None:
                ax.text(0.5, 0.5, "no sample", ha="center", va="center", fontsize=7, transform=ax.transAxes)
            else:
                ax.imshow(np.asarray(image))
            if r == 0:
                ax.set_title(titles[c], fontsize=7)
            if c == 0:
                ax.set_ylabel(f"frame {frame.split('_', 1)[-1].removesuffix('.png')}", fontsize=7)
    figure.subplots_adjust(wspace=0.05, hspace=0.05)
    which = "self-reenactment (the driver is the ground truth)" if protocol == "self" else "cross-reenactment"
    caption = (
        f"Qualitative results, {which}, first job of the run{f' {run.tag}' if tagged else ''}: "
        f"{len(frames)} frame(s) saved by the run."
    )
    if any(run.weights_label(m) == "random" for m in models):
        caption += " Columns marked [RANDOM WEIGHTS] come from models with random weights."
    return RenderedFigure(
        f"qualitative-{protocol}{f'-{run.tag}' if tagged else ''}",
        f"Qualitative results ({protocol})",
        caption,
        _png(figure),
    )
