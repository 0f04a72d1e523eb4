"""Figures the papers report, for the "reported in paper" rows of a report: never mixed with measured rows.

``published.csv`` (shipped with the package) copies the rows of the project's reference table, keeping where
each figure was read (``source``) and whether it was checked against the paper (``verified``: primary or
secondary). The mapping from the papers' metric names to ours is explicit below, with the reason and the scale:
a published figure is placed in the column of our metric that measures the same quantity, for context only.
The papers' data (VoxCeleb/VoxCeleb2) is not our default data set, so such a row is never ranked against ours.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

__all__ = ["LATENCY", "TABLE_COLUMNS", "PublishedFigure", "metric_notes", "published_figures"]

LATENCY = "latency"  # our name of the papers' "inference_time" (ms per frame)
TABLE_COLUMNS = (
    "Paper",
    "Method",
    "Data",
    "Protocol",
    "Metric (paper → ours)",
    "Value",
    "Unit",
    "Device",
    "Source",
    "Verified",
)
"""The columns of the report's table of the published figures (Markdown and HTML): :meth:`PublishedFigure.cells`."""


@dataclass(frozen=True)
class _Mapping:
    candidates: tuple[str, ...]  # our metric names measuring the same quantity, preferred first
    scale: float  # published value x scale = value in our unit
    note: str


_METRICS: dict[tuple[str, str], _Mapping] = {
    ("bilayer-eccv2020", "lpips"): _Mapping(("lpips.vgg.v0.1",), 1.0, "LPIPS with the VGG trunk, as the paper"),
    ("bilayer-eccv2020", "ssim"): _Mapping(("ssim",), 1.0, "SSIM; the paper's window and borders are not stated"),
    ("bilayer-eccv2020", "csim"): _Mapping(
        ("csim.bilayer.irse50",), 1.0, "CSIM as the bi-layer code's losses/csim.py computes it (its own template)"
    ),
    ("bilayer-eccv2020", "inference_time"): _Mapping((LATENCY,), 1.0, "ms per frame on the device named"),
    ("fomm-neurips2019", "akd"): _Mapping(
        ("akd.fan68",), 1.0, "pixels; FOMM detected landmarks with face-alignment (FAN), as akd.fan68 does"
    ),
}
# Published figures with no metric of ours that is the same quantity, so they sit beside no column (their rows
# keep those cells empty): the bi-layer paper's normalised pose error (its normalisation is not established: the
# secondary source gives "x1e-3 (probably)"; npe.* are our own definition) and FOMM's AED (embeddings of OpenFace,
# a network we do not run; aed.dlib-resnet is the same formula on dlib's network, another quantity).
NOT_COMPARABLE: dict[tuple[str, str], str] = {
    ("bilayer-eccv2020", "normalized_pose_error"): "normalisation not established; npe.* are ours",
    ("fomm-neurips2019", "aed"): "OpenFace embeddings; ours are dlib's (aed.dlib-resnet): another quantity",
}

_MODELS = {"bilayer": "bilayer.paper", "fomm": "fomm.vox256"}  # method -> our model of the same weights
_PAPERS = {"bilayer-eccv2020": "Zakharov et al., ECCV 2020", "fomm-neurips2019": "Siarohin et al., NeurIPS 2019"}


@dataclass(frozen=True)
class PublishedFigure:
    paper: str
    method: str
    model_size: str
    dataset: str
    protocol: str  # as the paper names it
    paper_metric: str
    published_value: float
    unit: str
    device: str
    source: str
    verified: str  # "primary" (read in the paper) or "secondary"
    candidates: tuple[str, ...]
    scale: float
    note: str

    @property
    def value(self) -> float:
        """In our metric's unit."""
        return self.published_value * self.scale

    @property
    def our_protocol(self) -> str:
        """Both papers' figures are self-reenactment (FOMM calls it reconstruction); rendering is latency only."""
        return "self"

    @property
    def our_model(self) -> str:
        return _MODELS.get(self.method, "")

    @property
    def label(self) -> str:
        size = f", {self.model_size}" if self.model_size else ""
        return f"{self.method}{size} (reported in paper)"

    @property
    def citation(self) -> str:
        data = f"{self.dataset}, " if self.dataset else ""
        device = f", {self.device}" if self.device else ""
        return (
            f"{_PAPERS.get(self.paper, self.paper)}: {data}{self.protocol}{device}; source: {self.source} "
            f"({self.verified})"
        )

    def metric_in(self, columns: list[str] | tuple[str, ...]) -> str | None:
        """The first of our metrics in ``columns`` that this figure maps to, if any."""
        return next((c for c in self.candidates if c in columns), None)

    def cells(self) -> tuple[str, ...]:
        """This figure's row of the report's table of the published figures, as text (:data:`TABLE_COLUMNS`)."""
        metric = f"{self.paper_metric} → {' or '.join(self.candidates)}"
        what = (self.paper, self.method, self.dataset, self.protocol, metric, f"{self.published_value:g}")
        return (*what, self.unit, self.device, self.source, self.verified)


def metric_notes(figures: Iterable[PublishedFigure]) -> list[PublishedFigure]:
    """A figure per (paper, paper's metric), the last of each: what the report's notes on the mapping of the
    papers' metrics to ours (``note``) are written from."""
    return list({(f.paper, f.paper_metric): f for f in figures}.values())


def published_figures(text: str | None = None) -> tuple[PublishedFigure, ...]:
    """The shipped published figures (or those of a CSV ``text`` with the same columns), each mapped to ours;
    rows whose metric has no mapping are left out."""
    if text is None:
        text = resources.files("bench.report").joinpath("published.csv").read_text(encoding="utf-8")
    figures = []
    for row in csv.DictReader(io.StringIO(text)):
        mapping = _METRICS.get((row["paper"], row["metric"]))
        if mapping is None:
            continue
        figures.append(
            PublishedFigure(
                paper=row["paper"],
                method=row["method"],
                model_size=row["model_size"],
                dataset=row["dataset"],
                protocol=row["protocol"],
                paper_metric=row["metric"],
                published_value=float(row["value"]),
                unit=row["unit"],
                device=row["device"],
                source=row["source"],
                verified=row["verified"],
                candidates=mapping.candidates,
                scale=mapping.scale,
                note=mapping.note,
            )
        )
    return tuple(figures)
