"""How a report names each metric: a short header for tables, an axis label with its unit for figures.

One mapping, here. A table header carries the short name (``LPIPS (VGG)``); a footnote under the table gives the
full variant it stands for (``lpips.vgg.v0.1``, from the metric registry). A metric this mapping does not know is
shown by its own name, so a newer record still renders.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.metrics import METRICS

__all__ = ["METRIC_NAMES", "PRIMARY_METRICS", "MetricName", "axis_label", "header", "metric_variant"]


PRIMARY_METRICS = ("lpips.vgg.v0.1", "lpips.alex.v0.1", "ssim", "psnr", "l1")
"""The headline metric of a report, first present first: the quality-latency figure's, and the one that picks the
rows of the qualitative grids."""


@dataclass(frozen=True)
class MetricName:
    header: str  # short, for a table header or a legend: "LPIPS (VGG)", "PSNR (dB)"
    unit: str  # what a value of the metric is, for an axis: "dB", "pixels in the evaluation space", "unitless"


METRIC_NAMES: dict[str, MetricName] = {
    "l1": MetricName("L1", "mean absolute error of intensities in [0, 1]"),
    "psnr": MetricName("PSNR (dB)", "dB, data range 1"),
    "ssim": MetricName("SSIM", "unitless, 1 = identical"),
    "lpips.alex.v0.1": MetricName("LPIPS (AlexNet)", "unitless distance, 0 = identical"),
    "lpips.vgg.v0.1": MetricName("LPIPS (VGG)", "unitless distance, 0 = identical"),
    "csim.arcface-irse50": MetricName("CSIM (ArcFace)", "cosine similarity"),
    "csim.bilayer.irse50": MetricName("CSIM (bi-layer)", "cosine similarity"),
    "csim.dlib-resnet": MetricName("CSIM (dlib)", "cosine similarity"),
    "akd.dlib68": MetricName("AKD (dlib, px)", "pixels in the evaluation space"),
    "akd.fan68": MetricName("AKD (FAN, px)", "pixels in the evaluation space"),
    "npe.dlib68": MetricName("NPE (dlib)", "landmark error / outer-eye-corner distance"),
    "npe.fan68": MetricName("NPE (FAN)", "landmark error / outer-eye-corner distance"),
    "aed.dlib-resnet": MetricName("AED (dlib)", "squared descriptor distance, unitless"),
    "fid.inception-2015-12-05.2048": MetricName("FID", "unitless, 0 = same distribution"),
    "kid.inception-2015-12-05.2048": MetricName("KID", "unitless, 0 = same distribution"),
}


def header(metric: str) -> str:
    """The short name of ``metric`` (its own name when unknown)."""
    known = METRIC_NAMES.get(metric)
    return known.header if known else metric


def metric_variant(metric: str) -> str:
    """The full variant ``metric`` stands for (the registry's; the name itself when unknown)."""
    return METRICS.get(metric).variant if metric in METRICS else metric


def axis_label(metric: str, *, arrow: str = "") -> str:
    """An axis label with the unit: ``PSNR (dB) ↑`` over ``dB, data range 1``, on two lines."""
    known = METRIC_NAMES.get(metric)
    name = f"{header(metric)} {arrow}".strip()
    return f"{name}\n({known.unit})" if known else name
