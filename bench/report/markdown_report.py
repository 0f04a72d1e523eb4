"""The report as Markdown for a code host: GitHub-flavoured tables, figures as ``figures/*.png`` beside it."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from bench.report import formats
from bench.report.formats import md_escape
from bench.report.outline import FigureBlock, Heading, Paragraph, Special, TableBlock, VideoBlock, report_blocks
from bench.report.published import TABLE_COLUMNS, metric_notes

if TYPE_CHECKING:
    from bench.report.document import Report

__all__ = ["render_markdown"]


def _provenance(report: Report) -> list[str]:
    lines = []
    for section in report.provenance:
        lines += [f"**{section.title}**", ""]
        lines += [f"- **{label}:** {md_escape(text)}" for label, text in section.facts]
        lines.append("")
    return lines


def _published(report: Report) -> list[str]:
    lines = [
        "Figures as the papers report them (their data: VoxCeleb/VoxCeleb2), for context only; `verified` says "
        "whether the figure was checked in the paper itself (primary) or read elsewhere (secondary).",
        "",
    ]
    rows = ([md_escape(c) or "–" for c in f.cells()] for f in report.published)
    lines += formats.md_table(TABLE_COLUMNS, rows, "<<<<<>")
    lines.append("")
    lines += [
        f"- {md_escape(f.paper_metric)} → {md_escape(' or '.join(f.candidates))}: {md_escape(f.note)}"
        for f in metric_notes(report.published)
    ]
    return lines


def _failures(report: Report) -> list[str]:
    lines = []
    if report.failures.empty:
        lines.append("No job failed.")
    else:
        rows = ((row.run, row.model, row.job, row.error) for row in report.failures.itertuples())
        lines += formats.md_table(["Run", "Model", "Job", "Error"], ([md_escape(str(c)) for c in r] for r in rows))
    skipped = [(run.tag, s) for run in report.inputs.runs for s in run.skipped_metrics]
    lines.append("")
    for tag, s in skipped:
        reason = md_escape(str(s.get("reason", "")))
        lines.append(f"- Skipped metric `{s.get('name', '?')}` ({md_escape(tag)}): {reason}")
    return lines


def render_markdown(report: Report) -> str:
    lines = [f"# {md_escape(report.title)}", ""]
    for block in report_blocks(report):
        if isinstance(block, Heading):
            lines += [f"## {block.text}", ""]
        elif isinstance(block, Paragraph):
            lines += [block.text, ""]
        elif isinstance(block, TableBlock):
            lines += [formats.to_markdown(block.table).replace("**Table:", f"**Table {block.number}:", 1), ""]
        elif isinstance(block, FigureBlock):
            figure = block.figure
            lines += [
                f"![Figure {block.number}: {md_escape(figure.title)}](figures/{figure.key}.png)",
                "",
                f"*Figure {block.number}: {md_escape(figure.caption)}*",
                "",
            ]
        elif isinstance(block, VideoBlock):
            video = block.video
            lines += [
                f"[{md_escape(video.title)}]({quote(video.path)}) (MP4, {video.width}x{video.height}, "
                f"{video.frames} frames). {md_escape(video.caption)}",
                "",
            ]
        elif isinstance(block, Special) and block.kind == "notices":
            lines += [line for notice in report.notices for line in (f"> **Note.** {md_escape(notice)}", ">")][:-1]
            lines.append("")
        elif isinstance(block, Special) and block.kind == "provenance":
            lines += _provenance(report)
        elif isinstance(block, Special) and block.kind == "published":
            lines += [*_published(report), ""]
        elif isinstance(block, Special) and block.kind == "failures":
            lines += [*_failures(report), ""]
    return "\n".join(lines).rstrip() + "\n"
