"""Landmark metrics on face-alignment's FAN (2DFAN4) with its S3FD detector: the landmarks FOMM's AKD used.

FOMM's pose evaluation (Siarohin et al., 2019) ran face-alignment on every real and generated frame and averaged
the absolute coordinate differences of the 68 landmarks; the bi-layer paper's NPE normalises landmark distances by
the inter-ocular distance. Both frames go through the same pipeline here: [0, 1] floats rounded to 8-bit levels
(as if read from the PNG files FOMM's scripts read), S3FD detection, the first detected face, FAN's 68 points.
Frames where no face is found give NaN and are counted as unscored.

The weight files (``2DFAN4-11f355bf06.pth.tar``, ``s3fd-619a316812.pth``) come from the user's weights folder;
face-alignment would download them, this module never does. The distance functions are those of the dlib variants
(:func:`bench.metrics.dlib_metrics.akd`, :func:`~bench.metrics.dlib_metrics.normalised_pose_error`), so
``akd.fan68`` and ``akd.dlib68`` differ only in the landmark detector.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import torch

from bench.metrics.dlib_metrics import akd, normalised_pose_error
from bench.metrics.reference import ReferenceMemo
from bench.weights import ResolvedWeight, WeightsLocations, require

__all__ = ["LandmarkDistance", "create_fan_metric"]

Landmarks = Callable[[torch.Tensor], np.ndarray]


class LandmarkDistance:
    """A frame metric's score function: ``distance`` of the landmarks ``landmarks`` finds on generated and real
    frames. ``landmarks``: images (N, 3, H, W) in [0, 1] -> (N, 68, 2), NaN rows where no face is found."""

    def __init__(self, landmarks: Landmarks, distance: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> None:
        self.landmarks = landmarks
        self.distance = distance
        # the real frames' landmarks once per job for every model (the runner passes the same reference tensor)
        self.reference_memo = ReferenceMemo(landmarks)

    def __call__(
        self, pred: torch.Tensor, ref: torch.Tensor, _pl: torch.Tensor | None = None, _rl: torch.Tensor | None = None
    ) -> torch.Tensor:
        values = self.distance(self.landmarks(pred), self.reference_memo(ref))
        return torch.from_numpy(np.asarray(values, dtype=np.float64)).float()


def create_fan_metric(
    kind: Literal["akd", "npe"], locations: WeightsLocations, device: str = "cpu"
) -> tuple[Callable[..., torch.Tensor], tuple[ResolvedWeight, ...]]:
    """The score function of ``akd.fan68`` or ``npe.fan68`` with FAN and S3FD from the weights folder."""
    from baselines.landmarks import FaceAlignmentLandmarks

    if kind not in ("akd", "npe"):
        raise ValueError(f"kind must be 'akd' or 'npe', got {kind!r}")
    fan = require("face-alignment.2dfan4", locations)
    s3fd = require("face-alignment.s3fd", locations)
    assert fan.path is not None and s3fd.path is not None  # require raises for a missing file
    detector = FaceAlignmentLandmarks(fan.path, s3fd.path, device=device)
    distance = akd if kind == "akd" else normalised_pose_error
    return LandmarkDistance(detector.landmarks_or_nan, distance), (fan, s3fd)
