"""What a report shows (:class:`Report`), as :func:`bench.report.build.build_report` assembles it and the
renderers (:mod:`bench.report.outline`, ``html_report``, ``markdown_report``) read it. Its own module, so that the
import graph has one direction: build -> renderers -> outline -> document."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from bench.report.canvas import RenderedFigure
from bench.report.load import ReportInputs
from bench.report.provenance import ProvenanceSection
from bench.report.published import PublishedFigure
from bench.report.tables import ComparisonTable
from bench.report.video import RenderedVideo

__all__ = ["Report"]


@dataclass(frozen=True)
class Report:
    title: str
    notices: tuple[str, ...]  # said first: synthetic data, random weights, partial runs
    provenance: tuple[ProvenanceSection, ...]
    quality: tuple[ComparisonTable, ...]
    latency: ComparisonTable | None
    costs: tuple[ComparisonTable, ...]  # where the runs' time went, and the full test split (bench.report.costs)
    latency_source: str
    figures: tuple[RenderedFigure, ...]
    videos: tuple[RenderedVideo, ...]
    published: tuple[PublishedFigure, ...]
    failures: pd.DataFrame
    inputs: ReportInputs

    def figure(self, key_prefix: str) -> list[RenderedFigure]:
        return [f for f in self.figures if f.key.startswith(key_prefix)]
