"""The report as one self-contained HTML page: inline CSS, figures as base64 PNG data URIs, no external resource.

A small inline script marks ``<body data-figures-ok="LOADED/TOTAL">`` once the window has loaded, counting the
images that decoded (``complete`` and ``naturalWidth > 0``), and ``data-tables-ok="WHOLE/TOTAL"``, counting the
tables no column of which is cut: each fits the page or sits in a horizontally scrolling container, and no cell's
content overflows its cell. A headless browser's dumped DOM then says whether every figure rendered and every
table can be read. Videos are files beside the page (``videos/*.mp4``), linked, not embedded.
"""

from __future__ import annotations

import base64
import html
from typing import TYPE_CHECKING
from urllib.parse import quote

from bench.report import formats
from bench.report.outline import FigureBlock, Heading, Paragraph, Special, TableBlock, VideoBlock, report_blocks
from bench.report.published import TABLE_COLUMNS, metric_notes

if TYPE_CHECKING:
    from bench.report.document import Report

__all__ = ["render_html"]

_STYLE = """
body { font-family: "Times New Roman", Georgia, serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       color: #111; line-height: 1.45; }
h1 { font-size: 1.7em; margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #999; margin-top: 1.6em; }
.notice { background: #fff4d6; border-left: 4px solid #d19a00; padding: 0.4em 0.8em; margin: 0.4em 0; }
.provenance { background: #f4f6f8; border: 1px solid #ccd; padding: 0.6em 1em; font-family: sans-serif;
              font-size: 0.85em; }
.provenance h3 { font-size: 1em; margin: 0.6em 0 0.3em; }
.provenance dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.1em 1em; margin: 0; }
.provenance dt { font-weight: bold; } .provenance dd { margin: 0; overflow-wrap: anywhere; }
table { border-collapse: collapse; margin: 1em 0 0.3em; font-size: 0.9em; }
table.comparison { border-top: 2px solid #000; border-bottom: 2px solid #000; }
table.comparison thead th { border-bottom: 1px solid #000; }
th, td { padding: 0.25em 0.7em; text-align: right; white-space: nowrap; }
th[scope=row], thead th:first-child { text-align: left; font-weight: normal; white-space: normal; }
thead th { white-space: normal; vertical-align: bottom; min-width: 3.2em; }
th[scope=row] { min-width: 9em; }
.table-wrap { overflow-x: auto; max-width: 100%; }
caption, p.table-caption { caption-side: top; text-align: left; margin: 1em 0 0; padding-bottom: 0.4em; }
p.table-caption + table { margin-top: 0.2em; }
.ci { color: #555; font-size: 0.8em; } td.na { color: #999; }
tr.published { color: #555; font-style: italic; background: #f7f7f7; }
tr.published-rule td { border-top: 1px solid #000; text-align: left; font-size: 0.85em; font-style: italic;
                       color: #333; background: #eee; }
tr.baseline th { color: #444; }
ol.sources, ul.notes { font-size: 0.8em; color: #333; margin-top: 0.2em; }
figure { margin: 1.2em 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.9em; }
table.plain td, table.plain th { border: 1px solid #ccc; text-align: left; font-size: 0.85em; white-space: normal; }
"""

_SCRIPT = """
window.addEventListener("load", function () {
  var images = document.images, loaded = 0;
  for (var i = 0; i < images.length; i++) {
    if (images[i].complete && images[i].naturalWidth > 0) { loaded++; }
  }
  document.body.setAttribute("data-figures-ok", loaded + "/" + images.length);
  var tables = document.querySelectorAll("table"), whole = 0, page = document.documentElement.clientWidth;
  for (var t = 0; t < tables.length; t++) {
    var scrolls = false;
    for (var p = tables[t].parentElement; p && p !== document.body; p = p.parentElement) {
      var overflow = window.getComputedStyle(p).overflowX;
      if (overflow === "auto" || overflow === "scroll") { scrolls = true; break; }
    }
    var fits = scrolls || tables[t].getBoundingClientRect().right <= page + 1;
    var cells = tables[t].querySelectorAll("th, td");
    for (var c = 0; c < cells.length && fits; c++) {
      if (cells[c].scrollWidth > cells[c].clientWidth + 1) { fits = false; }
    }
    if (fits) { whole++; }
  }
  document.body.setAttribute("data-tables-ok", whole + "/" + tables.length);
});
"""


def _e(text: object) -> str:
    return html.escape(str(text))


def _provenance(report: Report) -> str:
    parts = ['<section class="provenance" id="provenance-block">']
    for section in report.provenance:
        facts = "".join(f"<dt>{_e(label)}</dt><dd>{_e(text)}</dd>" for label, text in section.facts)
        parts.append(f"<h3>{_e(section.title)}</h3><dl>{facts}</dl>")
    parts.append("</section>")
    return "\n".join(parts)


def _published(report: Report) -> str:
    rows = ["<tr>" + "".join(f"<td>{_e(c) or '–'}</td>" for c in f.cells()) + "</tr>" for f in report.published]
    notes = metric_notes(report.published)
    header = "".join(f"<th>{_e(h)}</th>" for h in TABLE_COLUMNS)
    return (
        "<p>Figures as the papers report them (their data: VoxCeleb/VoxCeleb2), for context only; "
        "<em>verified</em> says whether the figure was checked in the paper itself (primary) or read elsewhere "
        "(secondary).</p>"
        f'<div class="table-wrap"><table class="plain" id="published-figures"><thead><tr>{header}'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
        "<ul class='notes'>"
        + "".join(f"<li>{_e(n.paper_metric)} → {_e(' or '.join(n.candidates))}: {_e(n.note)}</li>" for n in notes)
        + "</ul>"
    )


def _failures(report: Report) -> str:
    parts = []
    if report.failures.empty:
        parts.append("<p>No job failed.</p>")
    else:
        rows = "".join(
            f"<tr><td>{_e(r.run)}</td><td>{_e(r.model)}</td><td>{_e(r.job)}</td><td>{_e(r.error)}</td></tr>"
            for r in report.failures.itertuples()
        )
        parts.append(
            '<table class="plain"><thead><tr><th>Run</th><th>Model</th><th>Job</th><th>Error</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>"
        )
    skipped = [(run.tag, s) for run in report.inputs.runs for s in run.skipped_metrics]
    if skipped:
        parts.append(
            "<ul>"
            + "".join(
                f"<li>Skipped metric <code>{_e(s.get('name'))}</code> ({_e(t)}): {_e(s.get('reason'))}</li>"
                for t, s in skipped
            )
            + "</ul>"
        )
    return "\n".join(parts)


def _figure(block: FigureBlock) -> str:
    figure = block.figure
    data = base64.b64encode(figure.png).decode("ascii")
    return (
        f'<figure id="figure-{_e(figure.key)}"><img alt="{_e(figure.title)}" src="data:image/png;base64,{data}">'
        f"<figcaption><b>Figure {block.number}: {_e(figure.title)}.</b> {_e(figure.caption)}</figcaption></figure>"
    )


def _video(block: VideoBlock) -> str:
    video = block.video
    return (
        f'<p class="video" id="video-{_e(video.key)}"><a href="{_e(quote(video.path))}">{_e(video.title)}</a> '
        f"(MP4, {video.width}x{video.height}, {video.frames} frames). {_e(video.caption)}</p>"
    )


def render_html(report: Report) -> str:
    body = [f"<h1>{_e(report.title)}</h1>"]
    for block in report_blocks(report):
        if isinstance(block, Heading):
            body.append(f'<h2 id="{_e(block.anchor)}">{_e(block.text)}</h2>')
        elif isinstance(block, Paragraph):
            body.append(f"<p>{_e(block.text)}</p>")
        elif isinstance(block, TableBlock):
            body.append(f'<div class="table-wrap">{formats.to_html(block.table, block.number)}</div>')
        elif isinstance(block, FigureBlock):
            body.append(_figure(block))
        elif isinstance(block, VideoBlock):
            body.append(_video(block))
        elif isinstance(block, Special) and block.kind == "notices":
            body += [f'<p class="notice">{_e(n)}</p>' for n in report.notices]
        elif isinstance(block, Special) and block.kind == "provenance":
            body.append(_provenance(report))
        elif isinstance(block, Special) and block.kind == "published":
            body.append(_published(report))
        elif isinstance(block, Special) and block.kind == "failures":
            body.append(_failures(report))
    return (
        "<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>\n"
        f"<title>{_e(report.title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + f"\n<script>{_SCRIPT}</script>\n</body>\n</html>\n"
    )
