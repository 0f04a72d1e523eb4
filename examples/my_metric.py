"""A metric of your own, as the README's guide installs it through the ``bilayer_bench.metrics`` entry point.

``example.brightness-gap``: per frame, the absolute difference of the mean RGB value of the generated frame and of
its reference, in [0, 1] (lower is better). The registry finds :data:`BRIGHTNESS_GAP` by the entry point's name,
which must equal the spec's; the run calls ``factory(locations, device)`` once and scores every batch with what
it returns.
"""

from __future__ import annotations

import torch

from bench.metrics import MetricSpec
from bench.weights import ResolvedWeight, WeightsLocations


def brightness_gap(pred: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) and (N, 3, H, W) in [0, 1] -> (N,): |mean(pred) - mean(ref)| per frame."""
    return (pred.flatten(1).mean(1) - ref.flatten(1).mean(1)).abs()


def create(locations: WeightsLocations, device: str):  # -> (score, weight files it used)
    def score(pred: torch.Tensor, ref: torch.Tensor, pred_landmarks, ref_landmarks) -> torch.Tensor:
        return brightness_gap(pred, ref)

    used: tuple[ResolvedWeight, ...] = ()
    return score, used


BRIGHTNESS_GAP = MetricSpec(
    "example.brightness-gap",
    higher_is_better=False,
    factory="examples.my_metric:create",
    description="example: |mean RGB of the generated frame - mean RGB of the reference| (README guide)",
)
