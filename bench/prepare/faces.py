"""Face boxes and 68 landmarks per frame, with the detector run on a subsample of frames.

Two backends behind one small protocol (``detect`` a face box, ``fit`` 68 points in a box):

* ``face-alignment``: S3FD detector + 2D-FAN-4 landmarks (``baselines.landmarks.FaceAlignmentLandmarks``), from the
  weights registry's ``face-alignment.s3fd`` and ``face-alignment.2dfan4`` files; used when both are found.
* ``dlib``: the HOG frontal face detector and the 68-point shape predictor (``dlib.shape-predictor-68``, shipped by
  the ``face-recognition-models`` package), so preparation works offline with nothing downloaded.

When a frame has several faces, the largest box is taken (a VoxCeleb2 utterance tracks one speaker).
:class:`FaceTracker` runs the detector on every ``detect_every``-th frame and on the last; between two detections
that agree (IoU >= ``min_iou``) the box is interpolated linearly, between two that disagree (a cut, another face)
or where one found nothing, every frame is detected; a stretch between two detections that both found no face is
taken as faceless. The landmarks are fitted on every frame in its (detected or interpolated) box.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

import numpy as np

from bench.errors import ConfigError, WeightsError
from bench.prepare.config import DetectConfig
from bench.weights import ResolvedWeight, WeightsLocations, require, resolve
from bench.weights.load import UNREADABLE, load_state_dict

__all__ = ["DlibBackend", "FaceAlignmentBackend", "FaceBackend", "FaceTracker", "box_iou", "load_backend"]

FAN_NAMES = ("face-alignment.2dfan4", "face-alignment.s3fd")
DLIB_NAME = "dlib.shape-predictor-68"

_dlib_models: dict[str, Any] = {}  # "detector" or a predictor path -> dlib object; loading takes seconds


def _dlib_model(dlib: Any, path: str | None) -> Any:
    key = path or "detector"
    if key not in _dlib_models:
        _dlib_models[key] = dlib.shape_predictor(path) if path else dlib.get_frontal_face_detector()
    return _dlib_models[key]


class FaceBackend(Protocol):
    name: str

    def detect(self, image: np.ndarray) -> np.ndarray | None:
        """The largest face of a uint8 (H, W, 3) RGB frame as float [x0, y0, x1, y1], or None."""

    def fit(self, image: np.ndarray, box: np.ndarray) -> np.ndarray:
        """float32 (68, 2) pixel (x, y) landmarks of the face in ``box``."""

    def provenance(self) -> dict[str, Any]:
        """What the manifest records about the detector, the landmark model and their weight files."""


def _largest(boxes: Iterable[np.ndarray]) -> np.ndarray | None:
    boxes = list(boxes)
    if not boxes:
        return None
    return max(boxes, key=lambda b: float((b[2] - b[0]) * (b[3] - b[1])))


class DlibBackend:
    """dlib's HOG detector (``upsample`` times upsampled) and 68-point shape predictor."""

    name = "dlib"

    def __init__(self, predictor: ResolvedWeight, upsample: int = 1) -> None:
        import dlib

        assert predictor.path is not None
        self.weights = predictor
        self.upsample = upsample
        self._dlib = dlib
        self._detector = _dlib_model(dlib, None)
        self._predictor = _dlib_model(dlib, str(predictor.path))

    def detect(self, image: np.ndarray) -> np.ndarray | None:
        rects = self._detector(image, self.upsample)
        return _largest(np.array([r.left(), r.top(), r.right(), r.bottom()], dtype=np.float64) for r in rects)

    def fit(self, image: np.ndarray, box: np.ndarray) -> np.ndarray:
        x0, y0, x1, y1 = (round(float(v)) for v in box)
        shape = self._predictor(image, self._dlib.rectangle(x0, y0, x1, y1))
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)

    def provenance(self) -> dict[str, Any]:
        return {
            "backend": "dlib",
            "detector": f"dlib HOG frontal face detector, upsample {self.upsample}",
            "landmarks": "dlib 68-point shape predictor (iBUG 300-W)",
            "dlib_version": getattr(self._dlib, "__version__", None),
            "weights": [self.weights.provenance()],
        }


class FaceAlignmentBackend:
    """face-alignment's S3FD detector and 2D-FAN-4 landmarks, loaded from local files."""

    name = "face-alignment"

    def __init__(self, fan: ResolvedWeight, s3fd: ResolvedWeight, device: str = "cpu") -> None:
        from baselines.landmarks import FaceAlignmentLandmarks

        assert fan.path is not None and s3fd.path is not None
        self.weights = (fan, s3fd)
        self.device = device
        self._landmarks = FaceAlignmentLandmarks(fan.path, s3fd.path, device=device)

    def detect(self, image: np.ndarray) -> np.ndarray | None:
        found = self._landmarks.aligner.face_detector.detect_from_image(image.astype(np.float32))
        return _largest(np.asarray(b[:4], dtype=np.float64) for b in found)

    def fit(self, image: np.ndarray, box: np.ndarray) -> np.ndarray:
        import torch

        tensor = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.0
        # float64: face-alignment's crop fails on a numpy float32 scale
        return self._landmarks(tensor, boxes=[np.asarray(box, dtype=np.float64)])[0]

    def provenance(self) -> dict[str, Any]:
        import importlib.metadata

        return {
            "backend": "face-alignment",
            "detector": "S3FD (face-alignment), largest box",
            "landmarks": "2D-FAN-4 (face-alignment), 68 points",
            "face_alignment_version": importlib.metadata.version("face-alignment"),
            "device": self.device,
            "weights": [w.provenance() for w in self.weights],
        }


def load_backend(config: DetectConfig, locations: WeightsLocations) -> FaceBackend:
    """The configured backend; ``auto`` is face-alignment when both its files are found, else dlib."""
    if config.backend == "auto":
        found = all(resolve(name, locations, verify=False).present for name in FAN_NAMES)
        backend = "face-alignment" if found else "dlib"
    else:
        backend = config.backend
    if backend == "face-alignment":
        fan, s3fd = (require(name, locations) for name in FAN_NAMES)
        return _face_alignment(fan, s3fd, config.device)
    if backend != "dlib":
        raise ConfigError(f"unknown landmark backend {backend!r}; use auto, dlib or face-alignment")
    predictor = require(DLIB_NAME, locations)
    try:
        return DlibBackend(predictor, config.upsample)
    except RuntimeError as error:  # dlib's deserialisation error
        raise WeightsError(
            f"{predictor.path}: cannot read dlib's 68-point shape predictor ({str(error).strip().splitlines()[0]}); "
            f"reinstall face-recognition-models, or put the file from {predictor.entry.url} there"
        ) from error


def _face_alignment(fan: ResolvedWeight, s3fd: ResolvedWeight, device: str) -> FaceBackend:
    """The face-alignment backend; a file it cannot load is a :class:`WeightsError` naming that file."""
    try:
        return FaceAlignmentBackend(fan, s3fd, device)
    except UNREADABLE as error:
        for weight in (fan, s3fd):  # name the file that does not read (empty, truncated, code objects)
            assert weight.path is not None
            load_state_dict(weight.path, weight.entry.purpose, f"download {weight.entry.url} again")
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise WeightsError(
            f"{fan.path} and {s3fd.path}: read, but do not fit face-alignment's 2D-FAN-4 and S3FD ({detail}); "
            f"use the files of {fan.entry.url} and {s3fd.entry.url}"
        ) from error


def landmarks_identity(provenance: dict[str, Any]) -> str:
    """A short string that changes when the backend or one of its weight files changes (enters the digest)."""
    files = ",".join(f"{w['name']}:{w['sha256']}" for w in provenance["weights"])
    return f"{provenance['backend']}|{provenance['detector']}|{files}"


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two [x0, y0, x1, y1] boxes."""
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


class FaceTracker:
    """Landmarks for every frame of a stream, detecting on a subsample; counts detector calls in ``detections``."""

    def __init__(self, backend: FaceBackend, detect_every: int = 5, min_iou: float = 0.3) -> None:
        self.backend = backend
        self.detect_every = detect_every
        self.min_iou = min_iou
        self.detections = 0

    def _detect(self, image: np.ndarray) -> np.ndarray | None:
        self.detections += 1
        return self.backend.detect(image)

    def _fit(self, image: np.ndarray, box: np.ndarray | None) -> np.ndarray | None:
        return None if box is None else self.backend.fit(image, box)

    def _between(self, images: list[np.ndarray], first: np.ndarray | None, last: np.ndarray | None):
        """Landmarks of the frames strictly between two detection frames whose boxes are ``first`` and ``last``."""
        if first is None and last is None:
            return [None] * len(images)
        if first is not None and last is not None and box_iou(first, last) >= self.min_iou:
            steps = len(images) + 1
            return [self._fit(im, first + (last - first) * (i + 1) / steps) for i, im in enumerate(images)]
        return [self._fit(im, self._detect(im)) for im in images]

    def run(self, frames: Iterable[np.ndarray]) -> list[np.ndarray | None]:
        """(68, 2) float32 landmarks per frame, None where no face was found. Holds at most N frames."""
        out: list[np.ndarray | None] = []
        pending: list[np.ndarray] = []
        previous: np.ndarray | None = None
        for index, image in enumerate(frames):
            if index % self.detect_every:
                pending.append(image)
                continue
            box = self._detect(image)
            out.extend(self._between(pending, previous, box))
            out.append(self._fit(image, box))
            pending, previous = [], box
        if pending:
            last = pending.pop()
            box = self._detect(last)
            out.extend(self._between(pending, previous, box))
            out.append(self._fit(last, box))
        return out
