"""A :class:`~bench.report.tables.ComparisonTable` as Markdown, LaTeX (booktabs), CSV (long format) and HTML."""

from __future__ import annotations

import csv
import html
import io
import math
import re
from collections.abc import Iterable, Sequence

from bench.report.tables import Cell, ComparisonTable, Row
from bench.table import column_sides

__all__ = [
    "format_number",
    "latex_width_chars",
    "md_escape",
    "md_row",
    "md_table",
    "to_csv",
    "to_html",
    "to_latex",
    "to_markdown",
]


def format_number(value: float, decimals: int) -> str:
    """``decimals`` digits after the point; a negative number -n asks for n significant digits instead."""
    if math.isnan(value):
        return "–"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if decimals < 0:
        rounded = float(f"{value:.{-decimals}g}")
        if rounded == 0:
            return "0"
        places = -decimals - 1 - math.floor(math.log10(abs(rounded)))
        return f"{rounded:.{max(places, 0)}f}"
    if abs(value) < 0.5 * 10**-decimals:
        value = 0.0  # no "-0.000" for a rounding-level negative
    return f"{value:.{decimals}f}"


def _interval(cell: Cell, decimals: int) -> str:
    if math.isnan(cell.low) or math.isnan(cell.high):
        return ""
    return f"[{format_number(cell.low, decimals)}, {format_number(cell.high, decimals)}]"


def _all_rows(table: ComparisonTable) -> list[Row]:
    return list(table.rows) + list(table.published)


def _header_titles(table: ComparisonTable) -> list[str]:
    return [f"{c.title} {c.arrow}{'*' if c.unverified else ''}" for c in table.columns]


# Markdown ------------------------------------------------------------------------------------------------------


_MD_SPECIAL = re.compile(r"([\\`*_<>|~$&])")


def md_escape(text: str) -> str:
    """``text`` (a name from the data set, a path, a title) as literal inline Markdown: one line, with the
    characters that make emphasis, code, HTML, entities, math, table cells or strike-through escaped, no link
    or image (``](`` is broken) and no block (heading, list, quote) at its start."""
    flat = " ".join(str(text).splitlines())
    escaped = _MD_SPECIAL.sub(r"\\\1", flat).replace("](", "]\\(").replace("][", "]\\[")
    return "\\" + escaped if escaped.startswith(("#", "-", "+", "=")) else escaped


def md_row(cells: Sequence[str]) -> str:
    """One row of a GitHub-flavoured table; the cells are taken as they are (escape text with :func:`md_escape`)."""
    return "| " + " | ".join(cells) + " |"


def md_table(header: Sequence[str], rows: Iterable[Sequence[str]], align: str = "") -> list[str]:
    """The lines of a GitHub-flavoured table: ``header``, the alignment row, then a line per row (cells as in
    :func:`md_row`); ``align`` as for the console's tables (:func:`bench.table.column_sides`)."""
    rule = "|" + "|".join("--:" if side == ">" else ":--" for side in column_sides(align, len(header))) + "|"
    return [md_row(header), rule, *(md_row(row) for row in rows)]


def _md_cell(cell: Cell | None, decimals: int) -> str:
    if cell is None:
        return "–"
    number = format_number(cell.value, decimals)
    text = f"**{number}**" if cell.best else number
    if cell.unscored:
        text += "‡"
    interval = _interval(cell, decimals)
    return f"{text} <sub>{interval}</sub>" if interval else text


def to_markdown(table: ComparisonTable) -> str:
    """A GitHub-flavoured table; the published block starts with a labelled separator row."""
    head = ["Method", *(["Frames"] if table.show_frames else []), *map(md_escape, _header_titles(table))]
    decimals = {c.key: table.decimals(c.key) for c in table.columns}

    def cells(row: Row) -> list[str]:
        label = md_escape(row.label) + (f"<sup>{row.source_marks()}</sup>" if row.sources else "")
        frames = [str(row.frames) if row.kind != "published" else "–"] if table.show_frames else []
        return [label, *frames, *(_md_cell(row.cells.get(c.key), decimals[c.key]) for c in table.columns)]

    lines = [f"**Table: {md_escape(table.title)}.** {md_escape(table.caption)}", ""]
    lines += md_table(head, map(cells, table.rows), "<" + ">" * (len(head) - 1))
    if table.published:
        lines.append("| *— reported in paper (their data; not ranked) —* |" + " |" * (len(head) - 1))
        lines += [md_row(cells(r)) for r in table.published]
    lines.append("")
    lines += [f"{i}. {md_escape(s)}" for i, s in enumerate(table.sources, start=1)]
    if table.sources:
        lines.append("")
    lines += [f"- {md_escape(note)}" for note in table.notes]
    lines += [
        f"- {md_escape(c.title)} = `{c.variant or c.key}`" + (f": {md_escape(c.description)}" if c.description else "")
        for c in table.columns
        if c.variant or c.description
    ]
    return "\n".join(lines) + "\n"


# LaTeX ---------------------------------------------------------------------------------------------------------

_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "↑": r"$\uparrow$",
    "↓": r"$\downarrow$",
    "‡": r"$^\ddagger$",
    "–": "--",
    "—": "---",
    "∞": r"$\infty$",
    "×": r"$\times$",
    "→": r"$\rightarrow$",
    "⁻": "-",
}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def _tex_number(value: float, decimals: int) -> str:
    if math.isinf(value):
        return r"$\infty$" if value > 0 else r"$-\infty$"
    return latex_escape(format_number(value, decimals))


def _tex_cell(cell: Cell | None, decimals: int) -> str:
    """The value, its interval on a second line in a smaller font (a one-column nested ``tabular``)."""
    if cell is None:
        return "--"
    number = _tex_number(cell.value, decimals)
    text = rf"\textbf{{{number}}}" if cell.best else number
    if cell.unscored:
        text += r"$^\ddagger$"
    if math.isnan(cell.low) or math.isnan(cell.high):
        return text
    interval = rf"{{\scriptsize [{_tex_number(cell.low, decimals)}, {_tex_number(cell.high, decimals)}]}}"
    return rf"\begin{{tabular}}[c]{{@{{}}r@{{}}}}{text}\\{interval}\end{{tabular}}"


LINE_WIDTH_CHARS = 54
"""About the characters of a 10 pt line in one column of a two-column paper (3.4 in); a table estimated wider is
scaled down to the line width (``\\resizebox``)."""


def latex_width_chars(table: ComparisonTable) -> int:
    """An estimate of a LaTeX table's width in characters: the widest entry of each column (intervals in the
    smaller font count 0.7) plus the space between columns."""
    decimals = {c.key: table.decimals(c.key) for c in table.columns}
    rows = _all_rows(table)
    width = max([len("Method"), *(len(r.label) for r in rows)]) + 2
    width += 8 if table.show_frames else 0
    for column, title in zip(table.columns, _header_titles(table), strict=True):
        entries = [len(title)]
        for row in rows:
            cell = row.cells.get(column.key)
            if cell is not None:
                entries += [len(format_number(cell.value, decimals[column.key])) + 1]
                entries += [round(0.7 * len(_interval(cell, decimals[column.key])))]
        width += max(entries) + 2
    return width


def to_latex(table: ComparisonTable) -> str:
    """A ``table`` float with a booktabs ``tabular`` (needs ``\\usepackage{booktabs,graphicx}``): short column
    titles, intervals under the values in ``\\scriptsize``, scaled to ``\\linewidth`` when wider than a column
    of a two-column paper, and the footnotes (sources, notes, what each short title stands for) under it."""
    width = 1 + int(table.show_frames) + len(table.columns)
    decimals = {c.key: table.decimals(c.key) for c in table.columns}
    head = ["Method", *(["Frames"] if table.show_frames else []), *map(latex_escape, _header_titles(table))]

    def line(row: Row) -> str:
        label = latex_escape(row.label) + (f"$^{{{row.source_marks()}}}$" if row.sources else "")
        frames = [str(row.frames) if row.kind != "published" else "--"] if table.show_frames else []
        cells = [_tex_cell(row.cells.get(c.key), decimals[c.key]) for c in table.columns]
        return " & ".join([label, *frames, *cells]) + r" \\"

    tabular = [
        rf"\begin{{tabular}}{{l{'r' * (width - 1)}}}",
        r"\toprule",
        " & ".join(head) + r" \\",
        r"\midrule",
        *[line(r) for r in table.rows],
    ]
    if table.published:
        tabular += [
            r"\midrule",
            rf"\multicolumn{{{width}}}{{l}}{{\emph{{Reported in paper (their data; not ranked)}}}} \\",
            *[line(r) for r in table.published],
        ]
    tabular += [r"\bottomrule", r"\end{tabular}"]
    if latex_width_chars(table) > LINE_WIDTH_CHARS:
        tabular = [r"\resizebox{\linewidth}{!}{%", *tabular, "}"]
    title = latex_escape(table.title)
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        r"\setlength{\tabcolsep}{4pt}",
        rf"\caption[{{{title}}}]{{{title}. {latex_escape(table.caption)}}}",
        rf"\label{{tab:{table.key}}}",
        *tabular,
    ]
    footnotes = [f"$^{{{i}}}$ {latex_escape(s)}" for i, s in enumerate(table.sources, start=1)]
    footnotes += [latex_escape(n) for n in (*table.notes, table.variants_note) if n]
    if footnotes:
        lines += [r"\par\smallskip", r"{\footnotesize", *[f"{f}\\\\" for f in footnotes[:-1]], footnotes[-1], "}"]
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


# CSV -----------------------------------------------------------------------------------------------------------

CSV_COLUMNS = (
    "table",
    "kind",
    "row",
    "model",
    "weights",
    "run",
    "column",
    "higher_is_better",
    "unverified_metric_weights",
    "value",
    "low",
    "high",
    "interval",
    "best",
    "n",
    "n_unscored",
    "source",
)


def to_csv(table: ComparisonTable) -> str:
    """Long format: one line per (row, column) value; published lines say "published" and their source."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in _all_rows(table):
        source = " | ".join(table.sources[i - 1] for i in row.sources)
        for column in table.columns:
            cell = row.cells.get(column.key)
            if cell is None:
                continue
            writer.writerow(
                [
                    table.key,
                    row.kind,
                    row.label,
                    row.model,
                    row.weights if row.kind != "published" else "",
                    row.run,
                    column.key,
                    column.higher_is_better,
                    column.unverified,
                    repr(cell.value),
                    repr(cell.low),
                    repr(cell.high),
                    table.interval if not math.isnan(cell.low) else "",
                    cell.best,
                    cell.frames,
                    cell.unscored,
                    source,
                ]
            )
    return buffer.getvalue()


# HTML ----------------------------------------------------------------------------------------------------------


def _html_cell(cell: Cell | None, decimals: int) -> str:
    if cell is None:
        return '<td class="na">–</td>'
    number = html.escape(format_number(cell.value, decimals))
    text = f"<strong>{number}</strong>" if cell.best else number
    if cell.unscored:
        text += '<span title="some frames unscored">‡</span>'
    interval = _interval(cell, decimals)
    if interval:
        text += f' <span class="ci">{html.escape(interval)}</span>'
    return f"<td>{text}</td>"


def to_html(table: ComparisonTable, number: int) -> str:
    decimals = {c.key: table.decimals(c.key) for c in table.columns}
    width = 1 + int(table.show_frames) + len(table.columns)
    head = ["Method", *(["Frames"] if table.show_frames else []), *_header_titles(table)]
    titles = ["", *([""] if table.show_frames else []), *[c.description for c in table.columns]]

    def line(row: Row) -> str:
        note = f"<sup>{row.source_marks()}</sup>" if row.sources else ""
        frames = [f"<td>{row.frames if row.kind != 'published' else '–'}</td>"] if table.show_frames else []
        cells = [_html_cell(row.cells.get(c.key), decimals[c.key]) for c in table.columns]
        return (
            f'<tr class="{row.kind}"><th scope="row">{html.escape(row.label)}{note}</th>{"".join(frames + cells)}</tr>'
        )

    key = html.escape(table.key)
    parts = [  # the caption is a paragraph above the table, so that it wraps to the page, not to a wide table
        f'<p class="table-caption" id="caption-{key}"><b>Table {number}: {html.escape(table.title)}.</b> '
        f"{html.escape(table.caption)}</p>",
        f'<table class="comparison" id="table-{key}" aria-labelledby="caption-{key}">',
        "<thead><tr>"
        + "".join(
            f'<th scope="col" title="{html.escape(t)}">{html.escape(h)}</th>' for h, t in zip(head, titles, strict=True)
        )
        + "</tr></thead>",
        "<tbody>",
        *[line(r) for r in table.rows],
    ]
    if table.published:
        parts.append(
            f'<tr class="published-rule"><td colspan="{width}">reported in paper (their data; not ranked)</td></tr>'
        )
        parts += [line(r) for r in table.published]
    parts += ["</tbody>", "</table>"]
    sources = [f"<li value='{i}'>{html.escape(s)}</li>" for i, s in enumerate(table.sources, start=1)]
    if sources:
        parts.append(f'<ol class="sources">{"".join(sources)}</ol>')
    notes = [*table.notes, *([table.variants_note] if table.variants_note else [])]
    parts.append('<ul class="notes">' + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")
    return "\n".join(parts)
