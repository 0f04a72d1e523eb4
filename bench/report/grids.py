"""Qualitative grids from a run's saved samples: source | driver | each model | ground truth (self-reenactment),
one row per chosen frame (best, median and worst by a metric, :mod:`bench.report.samples`), and in
self-reenactment an error map per model under its output: |output - ground truth| averaged over RGB, on a fixed
colour scale of intensities in [0, 1]. Cross-reenactment has no ground truth, so no error map.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from PIL import Image

from bench.metrics import METRICS
from bench.report.canvas import FONT_PT, PAGE_IN, RenderedFigure, new_figure, render
from bench.report.load import RunRecord
from bench.report.names import header
from bench.report.samples import ChosenFrame, chosen_frames, sample_models
from bench.report.tables import SANITY_BASELINES, model_label

__all__ = ["error_map", "qualitative_figure"]

ERROR_CMAP = "inferno"


def load_rgb(path: object) -> np.ndarray:
    """An image file as (H, W, 3) floats in [0, 1]."""
    with Image.open(path) as image:  # type: ignore[arg-type]
        return np.asarray(image.convert("RGB"), dtype=np.float64) / 255.0


def error_map(output: np.ndarray, truth: np.ndarray) -> np.ndarray | None:
    """|output - truth| averaged over the channels of two (H, W, 3) images in [0, 1]; None when sizes differ."""
    if output.shape != truth.shape:
        return None
    return np.abs(output - truth).mean(axis=2)


def _row_label(chosen: ChosenFrame, metric: str | None) -> str:
    frame = f"{chosen.frame.job}\nframe {chosen.frame.driver_frame}"
    if metric is None or math.isnan(chosen.value):
        return frame
    return f"{chosen.rank} by {header(metric)}\n= {chosen.value:.3g}\n{frame}"


def _blank(ax: Axes) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def _caption(protocol: str, models: list[str], metric: str | None, run: RunRecord, tagged: bool) -> str:
    which = "self-reenactment (the driver is the ground truth)" if protocol == "self" else "cross-reenactment"
    text = f"Qualitative results, {which}{f', run {run.tag}' if tagged else ''}; "
    text += f"images as scored ({run.space_phrase}). "
    if metric is None:
        text += "Rows: the first saved frames (no frame metric scored this protocol, so none is ranked). "
    else:
        higher = METRICS.get(metric).higher_is_better if metric in METRICS else True
        ranked = [m for m in models if m not in SANITY_BASELINES] or models
        text += (
            f"Rows: frames ranked by {header(metric)} ({metric}, {'higher' if higher else 'lower'} is better), "
            f"by its mean over {', '.join(ranked)} on the frames where every model saved a sample; each model's "
            "own value under its image. "
        )
    if protocol == "self":
        text += "Under each output: |output - ground truth| averaged over RGB (intensity in [0, 1], colour bar). "
    if any(run.weights_label(m) == "random" for m in models):
        text += "Columns marked [RANDOM WEIGHTS] (dashed frame) come from models with random weights."
    return text.strip()


def _image_cell(ax: Axes, image: np.ndarray | None, weights: str, value: float | None) -> None:
    """One image of the grid; a random-weight model's framed in dashed red, its metric value under it."""
    _blank(ax)
    if image is None:
        ax.text(0.5, 0.5, "no sample", ha="center", va="center", fontsize=FONT_PT - 1, transform=ax.transAxes)
    else:
        ax.imshow(image, vmin=0, vmax=1)
    if weights == "random":
        for spine in ax.spines.values():
            spine.set(linestyle="--", edgecolor="C3", linewidth=1.0)
    if value is not None and math.isfinite(value):
        ax.set_xlabel(f"{value:.3g}", fontsize=FONT_PT - 2, labelpad=1)


def _error_cell(ax: Axes, image: np.ndarray | None, truth: np.ndarray) -> AxesImage | None:
    """The error map of one output (None drawn: "no map")."""
    _blank(ax)
    error = error_map(image, truth) if image is not None else None
    if error is None:
        ax.text(0.5, 0.5, "no map", ha="center", va="center", fontsize=FONT_PT - 1, transform=ax.transAxes)
        return None
    return ax.imshow(error, cmap=ERROR_CMAP, vmin=0.0, vmax=1.0)


def _colorbar(figure: Figure, shown: AxesImage) -> None:
    bar = figure.colorbar(shown, cax=figure.add_axes((0.92, 0.15, 0.012, 0.7)))
    bar.set_label("|output - ground truth|, mean over RGB (intensity in [0, 1])", fontsize=FONT_PT - 2)
    bar.ax.tick_params(labelsize=FONT_PT - 2)


def qualitative_figure(
    run: RunRecord, protocol: str, *, metric: str | None = None, max_frames: int = 3, tagged: bool = False
) -> RenderedFigure | None:
    """The grid of ``protocol`` (None when the run saved no sample in the per-job layout)."""
    models = sample_models(run, protocol)
    chosen, used = chosen_frames(run, protocol, models, metric, max_frames)
    if not chosen or not models:
        return None
    with_truth = protocol == "self"
    titles = ["source", "driver"]
    titles += [model_label(m, run.weights_label(m), run.tag if tagged else "").replace(" [", "\n[") for m in models]
    titles += ["ground truth\n(= driver)"] if with_truth else []
    per_frame = 2 if with_truth else 1
    tile = min(0.95, (PAGE_IN - 1.4) / len(titles))
    figure = new_figure(tile * len(titles) + 1.4, tile * len(chosen) * per_frame + 0.6)
    grid = figure.add_gridspec(len(chosen) * per_frame, len(titles), wspace=0.1, hspace=0.12, left=0.16, right=0.9)
    shown = None
    for r, pick in enumerate(chosen):
        source, reference = load_rgb(pick.frame.source), load_rgb(pick.frame.reference)
        outputs = {m: load_rgb(p) for m, p in pick.frame.outputs.items()}
        images = [source, reference, *[outputs.get(m) for m in models], *([reference] if with_truth else [])]
        for c, image in enumerate(images):
            model = models[c - 2] if 2 <= c < 2 + len(models) else None
            ax = figure.add_subplot(grid[r * per_frame, c])
            value = pick.values.get(model, math.nan) if model is not None and used is not None else None
            _image_cell(ax, image, run.weights_label(model) if model else "none", value)
            if r == 0:
                ax.set_title(titles[c], fontsize=FONT_PT - 2)
            if c == 0:
                ax.set_ylabel(_row_label(pick, used), fontsize=FONT_PT - 2, rotation=0, ha="right", va="center")
            if with_truth and model is not None:
                ax_error = figure.add_subplot(grid[r * per_frame + 1, c])
                shown = _error_cell(ax_error, image, reference) or shown
                if c == 2:
                    ax_error.set_ylabel("|output - GT|", fontsize=FONT_PT - 2, rotation=0, ha="right", va="center")
    if shown is not None:
        _colorbar(figure, shown)
    caption = _caption(protocol, models, used, run, tagged)
    key = f"qualitative-{protocol}{f'-{run.tag}' if tagged else ''}"
    return render(key, f"Qualitative results ({protocol})", caption, figure)
