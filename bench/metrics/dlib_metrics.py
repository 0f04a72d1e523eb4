"""Metrics on dlib's face detector, 68-point shape predictor and 128-d face recognition ResNet.

All four run offline on files that PyPI packages ship (``dlib-bin`` for the code, ``face-recognition-models`` for
``shape_predictor_68_face_landmarks.dat`` and ``dlib_face_recognition_resnet_model_v1.dat``). Every frame, generated
or real, goes through the same pipeline: [0, 1] floats rounded to uint8 RGB, dlib's HOG frontal face detector with
one upsampling, the largest detected rectangle, the 68-point shape fitted in it. A frame without a detected face
gives NaN (the aggregation drops and counts such frames). The landmarks a data set ships are not used: like FOMM's
evaluation, both frames are measured by the same detector.

* ``akd.dlib68``: average keypoint distance as FOMM's pose-evaluation code computes it
  (github.com/AliaksandrSiarohin/pose-evaluation at its last revision, 1bc4cae1 of 2020-06-11; ``cmp_kp.py``
  unchanged since 5a5c45e9 of 2019-03-07): per frame the mean *absolute coordinate difference* ``mean |p - q|``
  over the 68 points and both coordinates, in pixels, averaged over the frames where a face was found on the
  generated frame; frames are 256x256 (its ``extract.py --image_shape 256,256``). It is not the mean Euclidean
  distance; a shift by ``d`` pixels along one axis gives ``d / 2``. FOMM's landmarks came from face-alignment:
  ``akd.fan68`` is that quantity, this variant uses dlib's detector.
* ``npe.dlib68``: a normalised pose error of our own definition: the mean Euclidean distance of the 68 landmarks,
  divided by the real frame's outer-eye-corner distance (iBUG points 36 and 45, 0-based; the 300-W
  normalisation). The bi-layer paper reports a "normalized pose error" whose normalisation is not established from
  its text or code, so no published value is placed beside this one.
* ``csim.dlib-resnet``: cosine similarity of the 128-d dlib face descriptors of the two frames. The descriptor is
  dlib's: the 150x150 chip ``compute_face_descriptor(image, shape)`` cuts (padding 0.25) and the network of
  ``dlib_face_recognition_resnet_model_v1.dat``, both ported (:mod:`bench.metrics.dlibnet`: the chips equal
  dlib's pixel for pixel, the network's weights are read from the file and its descriptors equal dlib's to
  about 1e-6; tests/test_dlib_resnet.py, tests/test_dlib_chips.py) so that the chips of a call are embedded in
  one batch on the run's device. dlib still finds the face and its 68 points.
* ``aed.dlib-resnet``: the formula of pose-evaluation's ``cmp.py`` (same revisions as above): per frame the *sum
  of squared differences* of the two embeddings (the squared Euclidean distance, no square root), averaged over
  frames. pose-evaluation embedded whole 96x96 frames with OpenFace; this variant embeds dlib's aligned face chips
  with dlib's descriptor, another quantity, so FOMM's published AED is not placed beside it. (The docstring of an
  earlier version cited revision 54e33b48, whose ``cmp.py`` averaged absolute differences; the last revision's
  squares them.)
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from bench.metrics.dlibnet.chips import face_chip
from bench.metrics.dlibnet.network import DlibResNet, embed_chips, load_dlib_resnet
from bench.weights import ResolvedWeight, WeightsLocations, require

__all__ = [
    "DESCRIPTOR_IMPLEMENTATION",
    "DlibFaces",
    "aed",
    "akd",
    "cosine_similarity",
    "create_dlib_metric",
    "descriptor_score",
    "landmark_score",
    "load_dlib_faces",
    "normalised_pose_error",
    "to_uint8_rgb",
]

LEFT_EYE_OUTER, RIGHT_EYE_OUTER = 36, 45
"""iBUG 68-point indices (0-based) of the outer eye corners: the inter-ocular distance of ``npe.dlib68``."""

UPSAMPLE = 1
"""Times the detector upsamples a frame before looking for faces (dlib's examples use 1)."""

CHIP_PADDING = 0.25
"""The padding of the face chip around dlib's template, ``compute_face_descriptor``'s default."""

DESCRIPTOR_IMPLEMENTATION = (
    "bench.metrics.dlibnet: PyTorch port of dlib_face_recognition_resnet_model_v1.dat (weights read from the file) "
    "and of dlib's 150x150 face chips (padding 0.25); dlib's HOG detector and 68-point predictor find the face"
)
"""What the run record says computed the descriptors of ``csim.dlib-resnet`` and ``aed.dlib-resnet``."""

_loaded: dict[tuple[str, str], Any] = {}  # (kind, path[|device]) -> dlib object or network, loaded once per process
_CACHE_SIZE = 512


def _dlib() -> Any:
    import dlib

    return dlib


def _load(kind: str, path: Path | str, device: str = "cpu") -> Any:
    key = (kind, f"{path}|{device}" if kind == "recognizer" else str(path))
    if key not in _loaded:
        if kind == "recognizer":
            _loaded[key] = load_dlib_resnet(path, device)
        elif kind == "detector":
            _loaded[key] = _dlib().get_frontal_face_detector()
        else:
            _loaded[key] = _dlib().shape_predictor(str(path))
    return _loaded[key]


def to_uint8_rgb(images: torch.Tensor) -> list[np.ndarray]:
    """(N, 3, H, W) floats in [0, 1] -> N contiguous (H, W, 3) uint8 RGB arrays, rounded to the nearest level."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected RGB images of shape (N, 3, H, W), got shape {tuple(images.shape)}")
    levels = (images.detach().float().clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)
    return [np.ascontiguousarray(frame) for frame in levels.permute(0, 2, 3, 1).cpu().numpy()]


class _LRU:
    """A small least-recently-used memo: the real frames of a run are scored by several metrics."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[bytes, Any] = OrderedDict()

    def lookup(self, key: bytes) -> Any:
        """The value stored under ``key`` (now the most recent), or None."""
        if key not in self.items:
            return None
        self.items.move_to_end(key)
        return self.items[key]

    def store(self, key: bytes, value: Any) -> None:
        self.items[key] = value
        self.items.move_to_end(key)
        if len(self.items) > self.size:
            self.items.popitem(last=False)

    def get(self, key: bytes, make: Callable[[], Any]) -> Any:
        """The value under ``key``, made and stored first when there is none (a None made is stored too)."""
        if key in self.items:
            return self.lookup(key)
        value = make()
        self.store(key, value)
        return value


def _digest(image: np.ndarray) -> bytes:
    return hashlib.blake2b(image.tobytes(), digest_size=16, person=bytes(str(image.shape), "ascii")[:16]).digest()


@dataclass(frozen=True)
class DlibFaces:
    """dlib's face pipeline: detector, 68-point predictor and, optionally, the face recognition ResNet (our port,
    on ``device``)."""

    predictor_path: Path
    recognizer_path: Path | None = None
    device: str = "cpu"

    def _shape(self, image: np.ndarray) -> Any:
        """The 68-point ``full_object_detection`` in the largest detected face, or None."""
        faces = _load("detector", "")(image, UPSAMPLE)
        if len(faces) == 0:
            return None
        largest = max(faces, key=lambda rect: rect.width() * rect.height())
        return _load("predictor", self.predictor_path)(image, largest)

    def shape(self, image: np.ndarray) -> Any:
        return _shapes.get(_digest(image) + bytes(str(self.predictor_path), "utf-8"), lambda: self._shape(image))

    def points(self, image: np.ndarray) -> np.ndarray | None:
        """(68, 2) float64 (x, y) pixel landmarks of the largest detected face, or None."""
        shape = self.shape(image)
        return None if shape is None else np.array([(point.x, point.y) for point in shape.parts()], dtype=np.float64)

    def landmarks(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """(N, 68, 2) float64 (x, y) pixel landmarks; NaN for frames without a detected face."""
        out = np.full((len(images), 68, 2), np.nan)
        for i, image in enumerate(images):
            points = self.points(image)
            if points is not None:
                out[i] = points
        return out

    def network(self) -> DlibResNet:
        if self.recognizer_path is None:
            raise ValueError("DlibFaces was built without recognizer_path; descriptors need the recognition ResNet")
        return _load("recognizer", self.recognizer_path, self.device)

    def descriptors(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """(N, 128) float64 face descriptors; NaN for frames without a detected face. The chips of the frames not
        seen before are embedded in one batch."""
        network = self.network()
        keys = [_digest(image) + bytes(f"{self.predictor_path}|{self.recognizer_path}", "utf-8") for image in images]
        known = {key: _descriptors.lookup(key) for key in keys}
        todo = {key: image for key, image in zip(keys, images, strict=True) if known[key] is None}
        chips = {key: chip for key, image in todo.items() if (chip := self._chip(image, network.size[0])) is not None}
        values = embed_chips(network, list(chips.values())) if chips else np.empty((0, 128))
        known.update(dict.fromkeys(todo, np.full(128, np.nan)))
        known.update(zip(chips, values, strict=True))
        for key in todo:
            _descriptors.store(key, known[key])
        return np.stack([known[key] for key in keys]) if keys else np.empty((0, 128))

    def _chip(self, image: np.ndarray, size: int) -> np.ndarray | None:
        points = self.points(image)
        return None if points is None else face_chip(image, points, size, CHIP_PADDING)


_shapes = _LRU(_CACHE_SIZE)
_descriptors = _LRU(_CACHE_SIZE)


def load_dlib_faces(
    predictor_path: Path | str, recognizer_path: Path | str | None = None, device: str = "cpu"
) -> DlibFaces:
    """Load (once per process and file) dlib's models and our port of the recognition ResNet; the 68-point
    predictor alone takes about a second."""
    faces = DlibFaces(Path(predictor_path), Path(recognizer_path) if recognizer_path is not None else None, device)
    _load("detector", "")
    _load("predictor", faces.predictor_path)
    if faces.recognizer_path is not None:
        faces.network()
    return faces


def _pairs(pred: np.ndarray, reference: np.ndarray) -> None:
    if pred.shape != reference.shape:
        raise ValueError(f"expected arrays of one shape, got {pred.shape} and {reference.shape}")


def akd(pred_landmarks: np.ndarray, reference_landmarks: np.ndarray) -> np.ndarray:
    """FOMM's AKD per frame: mean absolute coordinate difference over points and both axes (N, K, 2) -> (N,)."""
    _pairs(pred_landmarks, reference_landmarks)
    return np.abs(pred_landmarks - reference_landmarks).mean(axis=(1, 2))


def normalised_pose_error(pred_landmarks: np.ndarray, reference_landmarks: np.ndarray) -> np.ndarray:
    """Mean Euclidean landmark distance over the reference's outer-eye-corner distance, (N, 68, 2) -> (N,)."""
    _pairs(pred_landmarks, reference_landmarks)
    distance = np.linalg.norm(pred_landmarks - reference_landmarks, axis=2).mean(axis=1)
    ocular = np.linalg.norm(reference_landmarks[:, RIGHT_EYE_OUTER] - reference_landmarks[:, LEFT_EYE_OUTER], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ocular > 0, distance / ocular, np.nan)


def cosine_similarity(pred: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity (N, D) -> (N,), clipped to [-1, 1]; NaN rows stay NaN."""
    _pairs(pred, reference)
    norms = np.linalg.norm(pred, axis=1) * np.linalg.norm(reference, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.clip((pred * reference).sum(axis=1) / norms, -1.0, 1.0)


def aed(pred: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """FOMM's AED per frame: sum of squared embedding differences (squared Euclidean distance), (N, D) -> (N,)."""
    _pairs(pred, reference)
    return np.square(pred - reference).sum(axis=1)


def _tensor(values: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(values, dtype=np.float64)).float()


def landmark_score(faces: DlibFaces, distance: Callable[[np.ndarray, np.ndarray], np.ndarray]):
    """A metric's score function from a landmark distance; the landmarks passed in by the runner are ignored."""

    def score(pred: torch.Tensor, ref: torch.Tensor, _pl: torch.Tensor | None, _rl: torch.Tensor | None):
        return _tensor(distance(faces.landmarks(to_uint8_rgb(pred)), faces.landmarks(to_uint8_rgb(ref))))

    return score


def descriptor_score(faces: DlibFaces, compare: Callable[[np.ndarray, np.ndarray], np.ndarray]):
    """A metric's score function from a comparison of face descriptors (both sides embedded in one batch)."""

    def score(pred: torch.Tensor, ref: torch.Tensor, _pl: torch.Tensor | None, _rl: torch.Tensor | None):
        values = faces.descriptors(to_uint8_rgb(pred) + to_uint8_rgb(ref))
        return _tensor(compare(values[: len(pred)], values[len(pred) :]))

    return score


def create_dlib_metric(
    kind: Literal["akd", "npe", "csim", "aed"], locations: WeightsLocations, device: str = "cpu"
) -> tuple[Callable[..., torch.Tensor], tuple[ResolvedWeight, ...]]:
    """The score function of ``akd.dlib68``, ``npe.dlib68``, ``csim.dlib-resnet`` or ``aed.dlib-resnet``; the
    descriptor network runs on ``device``."""
    predictor = require("dlib.shape-predictor-68", locations)
    assert predictor.path is not None  # require raises for a missing file
    if kind in ("akd", "npe"):
        distance = akd if kind == "akd" else normalised_pose_error
        return landmark_score(load_dlib_faces(predictor.path), distance), (predictor,)
    if kind not in ("csim", "aed"):
        raise ValueError(f"kind must be one of 'akd', 'npe', 'csim', 'aed', got {kind!r}")
    recognizer = require("dlib.resnet-v1", locations)
    assert recognizer.path is not None
    compare = cosine_similarity if kind == "csim" else aed
    faces = load_dlib_faces(predictor.path, recognizer.path, device)
    return descriptor_score(faces, compare), (predictor, recognizer)
