"""What every figure of a report shares: matplotlib's Agg canvas (no pyplot, no global backend change), sizes for
a paper's column (3.4 in) or page (7 in), and how a figure marks models whose weights say nothing about a method.

A model with random weights is drawn hollow and hatched, and its mark ``[RANDOM WEIGHTS]`` is written on the
figure itself (tick label, legend entry or annotation), not only in the caption; unverified weights likewise say
``[unverified weights]``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

from bench.report.tables import WEIGHT_MARKS

__all__ = [
    "COLUMN_IN",
    "DPI",
    "FONT_PT",
    "PAGE_IN",
    "RANDOM_NOTE",
    "UNVERIFIED_METRIC_NOTE",
    "RenderedFigure",
    "marked_style",
    "new_figure",
    "render",
    "weight_mark",
]

DPI = 200
COLUMN_IN = 3.4  # one column of a two-column paper
PAGE_IN = 7.0  # both columns
FONT_PT = 7.0

RANDOM_NOTE = " [RANDOM WEIGHTS] marks models with random weights: their numbers say nothing about the methods."
UNVERIFIED_METRIC_NOTE = " * computed with metric weights whose sha256 is not verified."


@dataclass(frozen=True)
class RenderedFigure:
    key: str  # file stem
    title: str
    caption: str
    png: bytes
    texts: tuple[str, ...] = field(default=(), repr=False)  # every text drawn on the figure (labels, legend, notes)


def new_figure(width_in: float, height_in: float) -> Figure:
    """A figure at a paper's sizes with a readable base font (7 pt at 3.4 in wide)."""
    figure = Figure(figsize=(width_in, height_in))
    FigureCanvasAgg(figure)
    return figure


def render(key: str, title: str, caption: str, figure: Figure) -> RenderedFigure:
    """The figure as PNG, with the texts it shows (for checks that a mark is on the figure, not only below it)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", facecolor="white")
    texts = tuple(t.get_text() for t in figure.findobj(Text) if t.get_visible() and t.get_text())  # once drawn
    return RenderedFigure(key, title, caption, buffer.getvalue(), texts)


def weight_mark(weights: str) -> str:
    """``[RANDOM WEIGHTS]``, ``[unverified weights]``, or "" for weights that say something about the method."""
    return WEIGHT_MARKS.get(weights, f" [{weights} weights]").strip()


def marked_style(weights: str, color: str) -> dict[str, object]:
    """Marker style: hollow and hatched for random weights, hollow for unverified, filled otherwise."""
    if weights == "random":
        return {"facecolors": "white", "edgecolors": color, "hatch": "////", "linewidths": 1.0}
    if weights == "unverified":
        return {"facecolors": "white", "edgecolors": color, "linewidths": 1.2}
    return {"facecolors": color, "edgecolors": color, "linewidths": 0.8}
