"""The combined table of the matrix: a row per (model, cell), as Markdown and CSV.

The per-frame number is the ``animate`` stage (the model's per-frame work: call time / batch; no landmark
extraction, no host/device copies); frames/s is its inverse. ``end_to_end`` (driver landmark extraction on the
CPU + animate, for the bi-layer) and ``prepare`` (per avatar) are given beside it. IQR is the record's (over the
per-frame samples).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bench.gpu.matrix import CellResult
from bench.latency.record import StageRow
from bench.latency.table import format_ms
from bench.report.formats import md_escape

__all__ = ["CSV_HEADER", "MatrixRow", "matrix_rows", "short_status", "status_notes", "to_csv", "to_markdown"]

CSV_HEADER = (
    "model",
    "label",
    "weights",
    "dtype",
    "compile",
    "batch",
    "animate_median_ms",
    "animate_iqr_ms",
    "frames_per_s",
    "end_to_end_median_ms",
    "end_to_end_iqr_ms",
    "prepare_median_ms",
    "animate_n",
    "status",
    "record",
)


@dataclass(frozen=True)
class MatrixRow:
    model: str
    label: str  # with [RANDOM WEIGHTS] where the record says so
    weights: str  # the record's weights label ("" when the cell did not run)
    result: CellResult
    animate: StageRow | None
    end_to_end: StageRow | None
    prepare: StageRow | None
    status: str

    @property
    def frames_per_s(self) -> float | None:
        median = self.animate.median_s if self.animate else None
        return 1.0 / median if median else None


def matrix_rows(results: Sequence[CellResult], models: Sequence[str]) -> list[MatrixRow]:
    """A row per model per cell, in the matrix's order, models in the order given. A cell that gave no number
    borrows the model's label (with its weights mark) from a cell that did."""
    rows = []
    for model in models:
        described = [m for r in results if r.record for m in r.record.models if m.get("model") == model]
        label = str(described[0]["label"]) if described else model
        weights = str(described[0]["weights_label"]) if described else ""
        for result in results:
            animate = result.row(model, "animate")
            rows.append(
                MatrixRow(
                    model,
                    animate.label if animate else label,
                    animate.weights_label if animate else weights,
                    result,
                    animate,
                    result.row(model, "end_to_end"),
                    result.row(model, "prepare"),
                    result.status(model),
                )
            )
    return rows


def status_notes(statuses: Iterable[str]) -> dict[str, int]:
    """A note number for every status other than ``ok``, in order of first appearance."""
    notes: dict[str, int] = {}
    for status in statuses:
        if status != "ok" and status not in notes:
            notes[status] = len(notes) + 1
    return notes


def short_status(status: str, notes: dict[str, int]) -> str:
    """``ok``, or the status's kind (skipped, failed, not run) with its note number: ``skipped [1]``."""
    return status if status == "ok" else f"{status.split(':', 1)[0]} [{notes[status]}]"


def _ms(row: StageRow | None, field: str) -> float | None:
    value = getattr(row, field) if row is not None else None
    return None if value is None else value * 1e3


def _number(value: float | None, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}g}"


def to_csv(rows: Sequence[MatrixRow]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for r in rows:
        cell = r.result.planned.cell
        writer.writerow(
            [
                r.model,
                r.label,
                r.weights,
                cell.dtype,
                cell.compile,
                cell.batch,
                _number(_ms(r.animate, "median_s")),
                _number(_ms(r.animate, "iqr_s")),
                _number(r.frames_per_s),
                _number(_ms(r.end_to_end, "median_s")),
                _number(_ms(r.end_to_end, "iqr_s")),
                _number(_ms(r.prepare, "median_s")),
                r.animate.n if r.animate else "",
                r.status,
                r.result.folder,
            ]
        )
    return buffer.getvalue()


def _median_iqr(row: StageRow | None) -> str:
    if row is None or row.median_s is None:
        return "–"
    return f"{format_ms(row.median_s)} (IQR {format_ms(row.iqr_s)})"


def to_markdown(rows: Sequence[MatrixRow], caption: str) -> str:
    """The table with a caption (device, sampling, what the numbers include), then the statuses' notes."""
    notes = status_notes(r.status for r in rows)
    head = ["model", "dtype", "compile", "batch", "animate ms/frame", "frames/s", "end-to-end ms/frame", "status"]
    lines = [f"**Table: per-frame latency by configuration.** {md_escape(caption)}", ""]
    lines += ["| " + " | ".join(head) + " |", "|" + "|".join([":--"] * 3 + ["--:"] * 4 + [":--"]) + "|"]
    for r in rows:
        cell = r.result.planned.cell
        fps = r.frames_per_s
        end_to_end = "= animate" if r.end_to_end is not None and r.end_to_end.same_as else _median_iqr(r.end_to_end)
        cells = [
            md_escape(r.label),
            cell.dtype,
            "torch.compile" if cell.compile else "eager",
            str(cell.batch),
            _median_iqr(r.animate),
            "–" if fps is None else f"{fps:.1f}",
            end_to_end,
            short_status(r.status, notes),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", *(f"[{n}] {md_escape(status)}  " for status, n in notes.items())]
    return "\n".join(lines).rstrip() + "\n"
