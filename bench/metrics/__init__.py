"""Quality metrics. Each is named by its variant and declares its direction and whether it needs ground truth."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from bench.metrics import functional
from bench.registry import Registry

__all__ = ["METRICS", "MetricSpec"]


@dataclass(frozen=True)
class MetricSpec:
    name: str
    variant: str
    higher_is_better: bool
    needs_ground_truth: bool
    per_frame: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    description: str


METRICS: Registry[MetricSpec] = Registry("metric")
METRICS.register("l1", MetricSpec("l1", "l1.rgb01", False, True, functional.l1, "mean absolute error on RGB in [0, 1]"))
METRICS.register("psnr", MetricSpec("psnr", "psnr.rgb01", True, True, functional.psnr, "PSNR in dB, data range 1"))
METRICS.register(
    "ssim",
    MetricSpec(
        "ssim",
        "ssim.gauss11-1.5.valid",
        True,
        True,
        functional.ssim,
        "SSIM, 11x11 Gaussian window, sigma 1.5",
    ),
)
