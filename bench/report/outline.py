"""The order of a report's content, shared by the HTML and Markdown renderers so that both say the same thing.

Provenance first (after the notices), then quality tables, quality against latency, latency (with the total
time to animate an avatar), where the runs' time went (with the full test split's estimate), qualitative results
and their side-by-side videos, the published figures with their sources, and what failed or was skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.report.canvas import RenderedFigure
from bench.report.tables import ComparisonTable
from bench.report.video import RenderedVideo

if TYPE_CHECKING:
    from bench.report.document import Report

__all__ = ["Block", "FigureBlock", "Heading", "Paragraph", "Special", "TableBlock", "VideoBlock", "report_blocks"]


@dataclass(frozen=True)
class Heading:
    text: str
    anchor: str


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class TableBlock:
    table: ComparisonTable
    number: int


@dataclass(frozen=True)
class FigureBlock:
    figure: RenderedFigure
    number: int


@dataclass(frozen=True)
class VideoBlock:
    video: RenderedVideo  # linked (a file beside the report), never embedded


@dataclass(frozen=True)
class Special:
    kind: str  # "notices", "provenance", "published", "failures"


Block = Heading | Paragraph | TableBlock | FigureBlock | VideoBlock | Special


def report_blocks(report: Report) -> list[Block]:
    blocks: list[Block] = [Special("notices"), Heading("Provenance", "provenance"), Special("provenance")]
    tables, figures = iter(range(1, 100)), iter(range(1, 100))

    blocks.append(Heading("Quality", "quality"))
    if not report.quality:
        blocks.append(Paragraph("No quality metric was computed by these runs."))
    for table in report.quality:
        blocks.append(TableBlock(table, next(tables)))
    if not any(t.key == "quality-cross" for t in report.quality):
        blocks.append(
            Paragraph(
                "No metric scored cross-reenactment in these runs: it has no ground truth, so only identity metrics "
                "(CSIM, against the source) apply."
            )
        )
    blocks += [FigureBlock(f, next(figures)) for f in report.figure("sequences-")]

    blocks.append(Heading("Quality against latency", "pareto"))
    pareto = report.figure("quality-vs-latency")
    blocks += [FigureBlock(f, next(figures)) for f in pareto]
    if not pareto:
        blocks.append(Paragraph("Not drawn: no model has both a finite quality value and a latency figure."))

    blocks.append(Heading("Latency", "latency"))
    if report.latency is None:
        blocks.append(Paragraph("No latency record and no timings in these runs."))
    else:
        blocks.append(TableBlock(report.latency, next(tables)))
    blocks += [FigureBlock(f, next(figures)) for f in report.figure("latency-")]
    blocks += [FigureBlock(f, next(figures)) for f in report.figure("total-time")]

    blocks.append(Heading("Where the time goes", "cost"))
    if not report.costs:
        blocks.append(Paragraph("These runs did not record where their time went (runs from before cost.csv had it)."))
    blocks += [TableBlock(table, next(tables)) for table in report.costs]

    blocks.append(Heading("Qualitative results", "qualitative"))
    grids = report.figure("qualitative-")
    blocks += [FigureBlock(f, next(figures)) for f in grids]
    if not grids:
        blocks.append(
            Paragraph(
                "No samples in these runs (samples_per_job = 0, no samples/ folder, or samples in the flat layout "
                "of runs from before per-job sample folders, which are not drawn)."
            )
        )
    blocks += [VideoBlock(v) for v in report.videos]

    if report.published:
        blocks += [Heading("Figures reported in the papers", "published"), Special("published")]
    blocks += [Heading("Failures and skipped metrics", "failures"), Special("failures")]
    return blocks
