"""Comparison tables in a paper's layout: methods as rows, metrics as columns, published figures apart.

A :class:`ComparisonTable` holds values, not text; :mod:`bench.report.formats` writes it as Markdown, LaTeX
(booktabs), CSV and HTML. Rules that every format keeps:

- a column names its metric and the better direction (↑/↓); metrics computed with weights whose sha256 is not
  verified carry ``*``;
- the best value of a column among the ranked rows is bold; sanity baselines (``copy-source``, ``oracle``) and
  published rows are never ranked, and nothing is bold unless two rows compete;
- a row of a model with random weights says ``[RANDOM WEIGHTS]`` (unverified weights: ``[unverified weights]``);
  with several runs merged, every row names its run (R1, R2, ...);
- figures reported in the papers come after a rule, labelled "reported in paper" with their source.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from bench.metrics import METRICS
from bench.report.load import RunRecord
from bench.report.names import header, metric_variant
from bench.report.published import PublishedFigure

__all__ = [
    "SANITY_BASELINES",
    "WEIGHT_MARKS",
    "Cell",
    "Column",
    "ComparisonTable",
    "Row",
    "mark_best",
    "model_label",
    "quality_tables",
]

WEIGHT_MARKS = {"none": "", "verified": "", "unverified": " [unverified weights]", "random": " [RANDOM WEIGHTS]"}
"""Same marks as ``bench.models.zoo.WEIGHT_MARKS`` (kept here so that rendering a report does not import torch)."""

SANITY_BASELINES = ("copy-source", "oracle")
PROTOCOL_TITLES = {
    "self": "Self-reenactment (source and driver from the same sequence; the driver is the ground truth)",
    "cross": "Cross-reenactment (identity A driven by identity B; no ground truth)",
}

RowKind = Literal["ranked", "baseline", "published"]


@dataclass(frozen=True)
class Column:
    key: str  # metric name (or a latency stage)
    title: str
    higher_is_better: bool
    unverified: bool = False  # computed with weights whose sha256 is not verified
    description: str = ""
    variant: str = ""  # the full variant a short title stands for (said in a footnote under the table)

    @property
    def arrow(self) -> str:
        return "↑" if self.higher_is_better else "↓"


@dataclass(frozen=True)
class Cell:
    value: float
    low: float = math.nan  # interval shown in brackets (95% CI for quality, quartiles for latency)
    high: float = math.nan
    best: bool = False
    unscored: int = 0  # frames the metric could not score
    frames: int = 0  # frames the value is over: those every model of the protocol scored
    scored: int = 0  # this model's own scored frames


@dataclass(frozen=True)
class Row:
    label: str
    kind: RowKind
    model: str
    weights: str = "none"
    run: str = ""
    cells: Mapping[str, Cell] = field(default_factory=dict)
    frames: int = 0
    sources: tuple[int, ...] = ()  # published rows: 1-based indices into ComparisonTable.sources

    def source_marks(self, separator: str = ",") -> str:
        return separator.join(map(str, self.sources))


@dataclass(frozen=True)
class ComparisonTable:
    key: str  # file stem: quality-self, latency, ...
    title: str
    caption: str
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    published: tuple[Row, ...] = ()
    sources: tuple[str, ...] = ()  # citation of each published row's source, numbered from 1
    notes: tuple[str, ...] = ()
    show_frames: bool = True
    interval: str = "95% CI"
    significant: int = 0  # > 0: that many significant digits per value (latency spans decades), not fixed decimals

    @property
    def variants_note(self) -> str:
        """``Metrics: LPIPS (VGG) = lpips.vgg.v0.1; ...``: what each short column title stands for."""
        parts = [f"{c.title} = {c.variant}" for c in self.columns if c.variant]
        return "Metrics: " + "; ".join(parts) + "." if parts else ""

    def decimals(self, key: str) -> int:
        """Digits after the point for a column: fewer for large numbers (PSNR), more for small ones; negative:
        significant digits (see :func:`bench.report.formats.format_number`)."""
        if self.significant:
            return -self.significant
        values = [
            abs(c.value) for r in self.rows + self.published if (c := r.cells.get(key)) and math.isfinite(c.value)
        ]
        largest = max(values, default=0.0)
        return 1 if largest >= 100 else 2 if largest >= 10 else 3 if largest >= 0.1 or largest == 0 else 4


def model_label(model: str, weights: str, run: str = "") -> str:
    suffix = f" ({run})" if run else ""
    return f"{model}{WEIGHT_MARKS.get(weights, f' [{weights} weights]')}{suffix}"


def mark_best(rows: Sequence[Row], columns: Sequence[Column]) -> tuple[Row, ...]:
    """Bold the best finite value of each column among ranked rows (ties all bold), when two or more compete.
    Rows with random weights are never ranked: their numbers say nothing about a method."""
    out = list(rows)
    for column in columns:
        ranked = [
            (i, c.value)
            for i, r in enumerate(out)
            if r.kind == "ranked"
            and r.weights != "random"
            and (c := r.cells.get(column.key))
            and math.isfinite(c.value)
        ]
        if len(ranked) < 2:
            continue
        best = max(v for _, v in ranked) if column.higher_is_better else min(v for _, v in ranked)
        for i, value in ranked:
            if value == best:
                cells = dict(out[i].cells)
                cells[column.key] = _replace_cell(cells[column.key], best=True)
                out[i] = _replace_row(out[i], cells=cells)
    return tuple(out)


def _replace_cell(cell: Cell, **changes: object) -> Cell:
    return Cell(**{**cell.__dict__, **changes})  # type: ignore[arg-type]


def _replace_row(row: Row, **changes: object) -> Row:
    return Row(**{**row.__dict__, **changes})  # type: ignore[arg-type]


def _metric_order(names: Sequence[str]) -> list[str]:
    rank = {name: i for i, name in enumerate(METRICS.in_order())}
    return sorted(dict.fromkeys(names), key=lambda n: (rank.get(n, len(rank)), n))


def _columns(summary: pd.DataFrame) -> tuple[Column, ...]:
    columns = []
    for name in _metric_order(list(summary["metric"])):
        rows = summary[summary["metric"] == name]
        if name in METRICS:
            spec = METRICS.get(name)
            higher, description, variant = spec.higher_is_better, spec.description, spec.variant
        else:  # a metric this version does not know: trust the record
            higher, variant = bool(rows["higher_is_better"].iloc[0]), str(rows["variant"].iloc[0])
            description = variant
        unverified = "metric_weights" in rows and (rows["metric_weights"] == "unverified").any()
        columns.append(Column(name, header(name), higher, bool(unverified), description, variant))
    return tuple(columns)


def _measured_rows(runs: Sequence[RunRecord], protocol: str, tagged: bool) -> list[Row]:
    rows = []
    for run in runs:
        summary = run.summary
        if summary.empty:
            continue
        part = summary[summary["protocol"] == protocol]
        order = {m: i for i, m in enumerate(run.config.get("models", []))}
        groups = sorted(part.groupby(["model", "weights"], sort=False), key=lambda g: order.get(g[0][0], len(order)))
        for (model, weights), group in groups:
            cells = {
                r.metric: Cell(
                    float(r.value),
                    float(getattr(r, "ci95_low", math.nan)),
                    float(getattr(r, "ci95_high", math.nan)),
                    unscored=int(getattr(r, "n_unscored", 0) or 0),
                    frames=int(r.n_frames),
                    scored=int(getattr(r, "n_scored", r.n_frames) or 0),
                )
                for r in group.itertuples()
            }
            rows.append(
                Row(
                    label=model_label(str(model), str(weights), run.tag if tagged else ""),
                    kind="baseline" if model in SANITY_BASELINES else "ranked",
                    model=str(model),
                    weights=str(weights),
                    run=run.tag,
                    cells=cells,
                    frames=int(group["n_frames"].max()),
                )
            )
    return rows


def published_rows(
    figures: Sequence[PublishedFigure], columns: Sequence[str], protocol: str
) -> tuple[tuple[Row, ...], tuple[str, ...], tuple[str, ...]]:
    """Rows of the published methods whose figures map to some of ``columns``, their numbered sources (a row
    cites each source its figures come from), and one note per mapping of a paper's metric to ours."""
    groups: dict[tuple[str, str, str], dict[str, Cell]] = {}
    cited: dict[tuple[str, str, str], list[str]] = {}
    mappings: dict[str, None] = {}
    for figure in figures:
        metric = figure.metric_in(list(columns))
        if metric is None or figure.our_protocol != protocol:
            continue
        key = (figure.paper, figure.method, figure.model_size)
        groups.setdefault(key, {})[metric] = Cell(figure.value)
        cited.setdefault(key, []).append(figure.citation)
        mappings[f"{figure.paper_metric} (paper) → {metric}: {figure.note}."] = None
    sources = list(dict.fromkeys(c for citations in cited.values() for c in citations))
    rows = []
    for key, cells in groups.items():
        _paper, method, size = key
        size_text = f", {size}" if size else ""
        numbers = tuple(sorted({sources.index(c) + 1 for c in cited[key]}))
        rows.append(Row(f"{method}{size_text} (reported in paper)", "published", method, cells=cells, sources=numbers))
    return tuple(rows), tuple(sources), tuple(mappings)


def _data_phrase(runs: Sequence[RunRecord]) -> str:
    if any(r.data.get("embedded_default") for r in runs):
        return (
            "Measured on the embedded default data set: synthetic faces generated offline, not VoxCeleb2, so our "
            "numbers are not comparable with the papers'."
        )
    roots = ", ".join(sorted({str(r.data.get("root", "?")) for r in runs}))
    return f"Measured on the data set at {roots}."


def quality_tables(
    runs: Sequence[RunRecord], figures: Sequence[PublishedFigure] = (), *, published: bool = True
) -> list[ComparisonTable]:
    """One table per protocol that has summary rows, measured rows first, published figures after a rule."""
    frames = [r.summary for r in runs if not r.summary.empty]
    if not frames:
        return []
    summary = pd.concat(frames, ignore_index=True)
    papers = {paper for r in runs for paper in (r.config.get("published") or ())}  # a preset's published rows
    if papers:
        figures = [f for f in figures if f.paper in papers]
    tagged = len(runs) > 1
    tables = []
    for protocol in sorted(summary["protocol"].unique(), key=lambda p: (p != "self", p)):
        columns = _columns(summary[summary["protocol"] == protocol])
        rows = mark_best(_measured_rows(runs, protocol, tagged), columns)
        pub_rows, sources, mappings = (
            published_rows(figures, [c.key for c in columns], protocol) if published else ((), (), ())
        )
        notes = [_data_phrase(runs)]
        if any(r.weights == "random" for r in rows):
            notes.append("Rows marked [RANDOM WEIGHTS] use random weights: their numbers say nothing about the method.")
        if any(c.unverified for c in columns):
            notes.append("* computed with metric weights whose sha256 is not verified against a release.")
        if any(c.unscored for r in rows for c in r.cells.values()):
            counts = "; ".join(
                f"{r.label} {key}: {c.scored} scored, {c.unscored} unscored"
                for r in rows
                for key, c in r.cells.items()
                if c.unscored
            )
            notes.append(
                "‡ some frames could not be scored (e.g. no face found); each value is over the frames every model "
                f"scored (the common subset), per model: {counts}."
            )
        if pub_rows:
            notes.append(
                "Rows below the rule are reported in the papers on their data (VoxCeleb/VoxCeleb2): context only, "
                "never ranked against ours."
            )
            notes += mappings
        spaces = "; ".join(dict.fromkeys(r.space_phrase for r in runs))
        caption = (
            f"{PROTOCOL_TITLES.get(protocol, protocol)}. Every model scored in one place: {spaces}. Mean over the "
            "frames every model scored, 95% BCa bootstrap interval over identities in brackets; ↑/↓: higher/lower "
            "is better; bold: best ranked row (the sanity baselines copy-source and oracle bracket the models and "
            "are not ranked, nor are rows with random weights)."
        )
        tables.append(
            ComparisonTable(
                key=f"quality-{protocol}",
                title=f"Quality, {protocol}-reenactment",
                caption=caption,
                columns=columns,
                rows=rows,
                published=pub_rows,
                sources=sources,
                notes=tuple(notes),
            )
        )
    return tables


def quartiles(samples: Sequence[float]) -> tuple[float, float, float]:
    """Median and interquartile range of ``samples`` (NaNs if none)."""
    values = np.asarray([s for s in samples if math.isfinite(s)], dtype=float)
    if values.size == 0:
        return math.nan, math.nan, math.nan
    low, median, high = np.percentile(values, [25, 50, 75])
    return float(median), float(low), float(high)


def difference_tables(runs: Sequence[RunRecord]) -> list[ComparisonTable]:
    """Per run and protocol with a reference model: each model minus the reference on the frames both scored,
    with the 95% BCa interval over identities (results.json "differences")."""
    tables = []
    for run in runs:
        table = pd.DataFrame(run.differences or [])
        if table.empty:
            continue
        reference = str(table["reference"].iloc[0])
        for protocol in sorted(table["protocol"].unique(), key=lambda p: (p != "self", p)):
            part = table[table["protocol"] == protocol]
            columns = tuple(
                Column(
                    name,
                    header(name),
                    METRICS.get(name).higher_is_better if name in METRICS else True,
                    variant=metric_variant(name),
                )
                for name in _metric_order(list(dict.fromkeys(part["metric"])))
            )
            rows = tuple(
                Row(
                    label=model_label(str(model), run.weights_label(str(model))),
                    kind="baseline",
                    model=str(model),
                    weights=run.weights_label(str(model)),
                    run=run.tag,
                    cells={
                        r.metric: Cell(
                            float(r.difference), float(r.ci95_low), float(r.ci95_high), frames=int(r.n_frames)
                        )
                        for r in group.itertuples()
                    },
                    frames=int(group["n_frames"].max()),
                )
                for model, group in part.groupby("model", sort=False)
                if model != reference
            )
            caption = (
                f"Paired differences against {reference}, {protocol}-reenactment: mean of (model - {reference}) over "
                "the frames both scored, 95% BCa bootstrap interval over identities in brackets; ↑/↓ as in the "
                f"quality table (a positive difference in an ↑ column is better than {reference}). "
                f"{run.space_phrase}."
            )
            tables.append(
                ComparisonTable(
                    key=f"differences-{protocol}" + (f"-{run.tag}" if len(runs) > 1 else ""),
                    title=f"Differences against {reference}, {protocol}-reenactment",
                    caption=caption,
                    columns=columns,
                    rows=rows,
                )
            )
    return tables
