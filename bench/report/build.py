"""Assemble a report from records and write its folder.

``DIR/report.html``  self-contained (figures as base64 PNG, no external resource), opens with the provenance
``DIR/report.md``    the same for a code host, figures as ``figures/*.png`` beside it
``DIR/tables/``      every table as ``.md``, ``.tex`` (booktabs) and ``.csv`` (long format)
``DIR/figures/``     the PNG figures
``DIR/videos/``      side-by-side MP4 of one self-reenactment sequence per run (when the run saved its frames)
``DIR/records/``     copies of the small files of each run directory and latency record it was made from
"""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from bench.portable import PathStyle
from bench.records import atomic_write
from bench.report import formats
from bench.report.canvas import RenderedFigure
from bench.report.costs import cost_tables
from bench.report.document import Report
from bench.report.grids import qualitative_figure
from bench.report.html_report import render_html
from bench.report.latency import LatencyView, latency_table, latency_view
from bench.report.latency_plots import latency_figure, total_time_figure
from bench.report.load import LATENCY_FILE, RECORD_FILES, ReportInputs
from bench.report.markdown_report import render_markdown
from bench.report.plots import pareto_figure, primary_metric, sequence_figure
from bench.report.provenance import provenance_sections
from bench.report.published import PublishedFigure, published_figures
from bench.report.tables import difference_tables, quality_tables
from bench.report.video import side_by_side_video

__all__ = ["Report", "build_report", "published_csv", "write_report"]


def _notices(inputs: ReportInputs) -> list[str]:
    runs = inputs.runs
    notices = []
    if any(r.data.get("embedded_default") for r in runs):
        notices.append(
            "Data: the embedded default data set is synthetic (generated offline, not VoxCeleb2). It checks the "
            "pipeline end to end; its numbers are not comparable with the papers' figures."
        )
    random = sorted({m for r in runs for m, info in r.weights.items() if info.get("weights_label") == "random"})
    if random:
        notices.append(
            f"[RANDOM WEIGHTS]: {', '.join(random)} ran with random weights; their quality numbers say nothing about "
            "the methods."
        )
    unverified = sorted({m for r in runs for m, info in r.weights.items() if info.get("weights_label") == "unverified"})
    if unverified:
        notices.append(f"Unverified weights (sha256 not matching a release): {', '.join(unverified)}.")
    for run in runs:
        if run.status != "complete":
            notices.append(
                f"Run {run.tag} ({run.path.name}) is {run.status.upper()}: numbers cover finished jobs only."
            )
    if len(runs) > 1:
        notices.append(
            "Merged runs: " + "; ".join(f"{r.tag} = {r.path.name}" for r in runs) + ". Every row names its run."
        )
    return notices


def _figures(
    inputs: ReportInputs, view: LatencyView | None, max_frames: int, metric: str | None
) -> list[RenderedFigure]:
    tagged = len(inputs.runs) > 1
    figures: list[RenderedFigure | None] = []
    summary = pd.concat([r.summary for r in inputs.runs if not r.summary.empty] or [pd.DataFrame()])
    primary = primary_metric(summary) if not summary.empty else None
    if view is not None and primary is not None:
        figures.append(pareto_figure(inputs.runs, view, primary, tagged=tagged))
    if view is not None:
        figures += [latency_figure(view, tagged=tagged), total_time_figure(view, tagged=tagged)]
    for protocol in ("self", "cross"):
        figures.append(sequence_figure(inputs.runs, protocol, tagged=tagged))
    for run in inputs.runs:
        for protocol in ("self", "cross"):
            figures.append(qualitative_figure(run, protocol, metric=metric or primary, max_frames=max_frames,
                                              tagged=tagged))  # fmt: skip
    return [f for f in figures if f is not None]


def build_report(
    inputs: ReportInputs,
    *,
    title: str = "",
    published: bool = True,
    max_frames: int = 3,
    draw: bool = True,
    metric: str | None = None,
) -> Report:
    """Everything a report shows, from the records alone (``draw=False``: no figures nor videos, tables only).
    ``metric``: the frame metric that picks the qualitative rows (default: the quality-latency figure's)."""
    figures = published_figures() if published else ()
    view = latency_view(inputs)
    tagged = len(inputs.runs) > 1
    names = ", ".join(sorted({str(r.config.get("name", r.path.name)) for r in inputs.runs}))
    failures = [r.failures.assign(run=r.tag) for r in inputs.runs if not r.failures.empty]
    return Report(
        title=title or f"bilayer-bench report: {names}",
        notices=tuple(_notices(inputs)),
        provenance=tuple(provenance_sections(inputs, view)),
        quality=tuple(quality_tables(inputs.runs, figures, published=published) + difference_tables(inputs.runs)),
        latency=latency_table(view, figures, tagged=tagged) if view is not None else None,
        latency_source=view.source if view is not None else "none",
        costs=tuple(cost_tables(inputs.runs, tagged=tagged)),
        figures=tuple(_figures(inputs, view, max_frames, metric)) if draw else (),
        videos=tuple(v for r in inputs.runs if (v := side_by_side_video(r, tagged=tagged))) if draw else (),
        published=tuple(figures),
        failures=pd.concat(failures, ignore_index=True) if failures else pd.DataFrame(),
        inputs=inputs,
    )


def published_csv(figures: Sequence[PublishedFigure]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        [
            "paper",
            "method",
            "model_size",
            "dataset",
            "protocol",
            "paper_metric",
            "published_value",
            "unit",
            "device",
            "our_metric",
            "value_in_our_unit",
            "note",
            "source",
            "verified",
        ]
    )
    for f in figures:
        writer.writerow(
            [
                f.paper,
                f.method,
                f.model_size,
                f.dataset,
                f.protocol,
                f.paper_metric,
                f.published_value,
                f.unit,
                f.device,
                " or ".join(f.candidates),
                f.value,
                f.note,
                f.source,
                f.verified,
            ]
        )
    return buffer.getvalue()


def _copy_records(inputs: ReportInputs, out: Path, style: PathStyle | None) -> None:
    """The small record files, byte for byte, or with machine paths written in ``style`` when given."""

    def copy(source: Path, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        if style is not None:
            atomic_write(target, style.text(source.read_text(encoding="utf-8")))
        else:
            shutil.copyfile(source, target)

    for run in inputs.runs:
        for name in RECORD_FILES:
            if (run.path / name).is_file():
                copy(run.path / name, out / "records" / f"{run.tag}-{run.path.name}" / name)
    for i, record in enumerate(inputs.latency, start=1):
        copy(record.path, out / "records" / f"L{i}-{record.path.parent.name}" / LATENCY_FILE)


def write_report(report: Report, out: Path, *, portable: bool = False) -> list[Path]:
    """Write the report folder ``out``; returns the files written (records copies aside). ``portable``: machine
    paths in the pages and tables written machine-independently (:mod:`bench.portable`)."""

    written: list[Path] = []
    style = PathStyle.for_report([run.path for run in report.inputs.runs]) if portable else None

    def put(relative: str, data: str | bytes) -> None:
        path = out / relative
        atomic_write(path, style.text(data) if style is not None and isinstance(data, str) else data)
        written.append(path)

    for figure in report.figures:
        put(f"figures/{figure.key}.png", figure.png)
    for video in report.videos:
        put(video.path, video.mp4)
    tables = [*report.quality, *([report.latency] if report.latency is not None else []), *report.costs]
    for table in tables:
        put(f"tables/{table.key}.md", formats.to_markdown(table))
        put(f"tables/{table.key}.tex", formats.to_latex(table))
        put(f"tables/{table.key}.csv", formats.to_csv(table))
    if report.published:
        put("tables/published.csv", published_csv(report.published))
    put("report.md", render_markdown(report))
    put("report.html", render_html(report))
    _copy_records(report.inputs, out, style)
    return written
