"""Spreadsheet formulas neutralised in every CSV file the suite writes.

Names in the tables come from the data set (person, video, sequence and frame names), from configs and from
error messages. A cell starting with ``=``, ``+``, ``-``, ``@`` (or a tab or carriage return) is evaluated as a
formula by spreadsheet programs, so such a text cell gets a leading ``'`` (OWASP's advice); cells that read as
a number (``-0.5``, ``-inf``) are left as they are. Every CSV file is written by
:func:`bench.atomic.atomic_write`, which passes the text of a ``.csv`` file through :func:`neutralise`, so no
writer can forget it.
"""

from __future__ import annotations

import csv
import io

__all__ = ["FORMULA_STARTS", "neutralise", "safe_cell"]

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def safe_cell(text: str) -> str:
    """``text``, or ``"'" + text`` when a spreadsheet would evaluate it as a formula."""
    if text.startswith(FORMULA_STARTS) and not _is_number(text):
        return "'" + text
    return text


def neutralise(text: str) -> str:
    """CSV ``text`` with every cell passed through :func:`safe_cell`; text without such a cell is returned as is
    (quoting and line ends are those of pandas' and the csv module's writers: minimal quoting, ``\\n``)."""
    rows = list(csv.reader(io.StringIO(text, newline="")))
    safe = [[safe_cell(cell) for cell in row] for row in rows]
    if safe == rows:
        return text
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\n").writerows(safe)
    return buffer.getvalue()
