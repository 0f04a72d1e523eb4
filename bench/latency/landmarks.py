"""Driver landmark extraction, the part of the end-to-end frame that landmark-driven models add to ``animate``.

Two extractors, both offline:

* ``dlib``: dlib's HOG frontal face detector (one upsampling, as the suite's dlib metrics) and the 68-point
  shape predictor shipped by face-recognition-models, on the largest face. The suite's dlib metrics memoise
  landmarks by image digest; timing must not hit such a cache, so this module holds its own detector and
  predictor objects and calls dlib directly on every frame.
* ``fan``: face-alignment's S3FD detector and 2D-FAN (``baselines.landmarks.FaceAlignmentLandmarks``, the weights
  ``face-alignment.2dfan4`` and ``face-alignment.s3fd``), the landmarks the bi-layer authors prepared their data
  with; on the run's device.

A frame without a detected face costs its detection time and gets NaN landmarks; the harness counts such frames
and animates them with the data set's landmarks.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from bench.errors import ConfigError
from bench.latency.config import LandmarksChoice
from bench.weights import WeightsLocations, require, resolve

__all__ = ["DlibDriverLandmarks", "DriverLandmarks", "FanDriverLandmarks", "choose_landmarks"]

FAN_WEIGHTS = ("face-alignment.2dfan4", "face-alignment.s3fd")
DLIB_WEIGHTS = "dlib.shape-predictor-68"


class DriverLandmarks(Protocol):
    name: str
    description: str

    def __call__(self, images: Sequence[np.ndarray], tensor: torch.Tensor) -> np.ndarray:
        """(N, 68, 2) float32 pixel (x, y) of the N frames (uint8 (H, W, 3) on the host, and the same frames as
        (N, 3, H, W) floats in [0, 1] on the device); NaN rows for frames without a detected face."""
        ...


class DlibDriverLandmarks:
    name = "dlib68"

    def __init__(self, predictor_path: str) -> None:
        import dlib

        from bench.metrics.dlib_metrics import UPSAMPLE

        self.upsample = UPSAMPLE
        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(str(predictor_path))
        self.description = (
            f"dlib HOG face detector (upsample {UPSAMPLE}) + 68-point shape predictor ({Path(predictor_path).name}), "
            "largest face, dlib called directly on every frame (no cache), on the CPU"
        )

    def __call__(self, images: Sequence[np.ndarray], tensor: torch.Tensor) -> np.ndarray:
        out = np.full((len(images), 68, 2), np.nan, dtype=np.float32)
        for i, image in enumerate(images):
            faces = self.detector(image, self.upsample)
            if len(faces) == 0:
                continue
            largest = max(faces, key=lambda rect: rect.width() * rect.height())
            shape = self.predictor(image, largest)
            out[i] = [(p.x, p.y) for p in shape.parts()]
        return out


class FanDriverLandmarks:
    name = "fan68"

    def __init__(self, fan: str, s3fd: str, device: str) -> None:
        from baselines.landmarks import FaceAlignmentLandmarks

        self.aligner = FaceAlignmentLandmarks(fan, s3fd, device=device)
        self.description = f"face-alignment S3FD detector + 2D-FAN 68 points ({Path(fan).name}) on {device}, first face"

    def __call__(self, images: Sequence[np.ndarray], tensor: torch.Tensor) -> np.ndarray:
        from baselines.landmarks import NoFaceError

        out = np.full((len(images), 68, 2), np.nan, dtype=np.float32)
        for i in range(len(images)):
            try:
                out[i] = self.aligner(tensor[i : i + 1])[0]
            except NoFaceError:
                continue
        return out


def _fan_present(locations: WeightsLocations) -> bool:
    found = [resolve(name, locations) for name in FAN_WEIGHTS]
    return all(r.present and (r.verification != "mismatch" or locations.accept_mismatch) for r in found)


def choose_landmarks(choice: LandmarksChoice, locations: WeightsLocations, device: str) -> DriverLandmarks:
    """The extractor for ``choice``; ``auto`` is FAN when both its files resolve, else dlib."""
    if choice == "fan" or (choice == "auto" and _fan_present(locations)):
        fan, s3fd = (require(name, locations) for name in FAN_WEIGHTS)
        return FanDriverLandmarks(str(fan.path), str(s3fd.path), device)
    if choice not in ("auto", "dlib"):
        raise ConfigError(f"landmarks must be auto, dlib or fan, got {choice!r}")
    return DlibDriverLandmarks(str(require(DLIB_WEIGHTS, locations).path))
