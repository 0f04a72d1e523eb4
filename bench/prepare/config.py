"""Options of ``bilayer-bench prepare``: frozen dataclasses with documented defaults, checked on construction.

Every option that changes what is written enters :meth:`PrepareConfig.digest`; a clip prepared under another
digest is redone on resume (``device`` only changes where face-alignment runs, so it is left out).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from bench.errors import ConfigError

__all__ = ["CropConfig", "DetectConfig", "LayoutName", "PrepareConfig"]

LayoutName = Literal["bilayer", "fomm"]
CropMode = Literal["clip", "smooth", "frame"]
Backend = Literal["auto", "dlib", "face-alignment"]
FommFormat = Literal["png", "mp4"]

_RESERVED_SPLITS = ("imgs", "keypoints", "segs", ".prepare")


@dataclass(frozen=True)
class CropConfig:
    """How the head-centred square is chosen (see :mod:`bench.prepare.crop` for the rule).

    ``size``: side of the written frames in pixels (the bi-layer and FOMM data are 256).
    ``scale``: multiplies the bi-layer rule's half side (``max`` of the landmark box's width and height);
    1.0 is the released rule, whose square is twice the larger landmark extent.
    ``mode``: ``clip`` (default) one square per sequence that contains every frame's bi-layer square, so the head
    moves inside a fixed crop as in FOMM's VoxCeleb crops; ``smooth`` per-frame squares whose centre and side are
    averaged over ``smooth_window`` frames; ``frame`` the released per-frame rule unchanged (the crop jitters).
    """

    size: int = 256
    scale: float = 1.0
    mode: CropMode = "clip"
    smooth_window: int = 9

    def __post_init__(self) -> None:
        if self.size < 16 or self.size % 2:
            raise ConfigError(f"crop size must be an even number >= 16 (H.264 needs even sides), got {self.size}")
        if not 0.25 <= self.scale <= 4.0:
            raise ConfigError(f"crop scale must be in [0.25, 4], got {self.scale}")
        if self.mode not in ("clip", "smooth", "frame"):
            raise ConfigError(f"crop mode must be one of 'clip', 'smooth', 'frame', got {self.mode!r}")
        if self.smooth_window < 1:
            raise ConfigError(f"smooth_window must be >= 1 frame, got {self.smooth_window}")


@dataclass(frozen=True)
class DetectConfig:
    """Face detection and landmarks.

    ``backend``: ``auto`` uses face-alignment (S3FD + FAN) when both of its weight files are found, else dlib
    (HOG detector + 68-point shape predictor, shipped by PyPI packages). ``detect_every``: the detector runs on
    every N-th frame (and the last); boxes in between are interpolated when the two detections agree
    (IoU >= ``min_iou``), otherwise every frame in between is detected. The 68 landmarks are fitted on every frame.
    ``upsample``: dlib's detector upsampling (1 finds faces down to about 40 px). ``device``: face-alignment's device.
    """

    backend: Backend = "auto"
    detect_every: int = 5
    upsample: int = 1
    min_iou: float = 0.3
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.backend not in ("auto", "dlib", "face-alignment"):
            raise ConfigError(f"landmark backend must be 'auto', 'dlib' or 'face-alignment', got {self.backend!r}")
        if self.detect_every < 1:
            raise ConfigError(f"detect_every must be >= 1 frame, got {self.detect_every}")
        if not 0 <= self.upsample <= 3:
            raise ConfigError(f"upsample must be in 0..3, got {self.upsample}")
        if not 0.0 <= self.min_iou <= 1.0:
            raise ConfigError(f"min_iou must be in [0, 1], got {self.min_iou}")


@dataclass(frozen=True)
class PrepareConfig:
    """One ``prepare`` job.

    ``split``: the split folder written (``test``). ``layouts``: which layouts to write under OUT_ROOT:
    ``bilayer`` (``imgs/``, ``keypoints/``, ``segs/`` when masks are given) and/or ``fomm`` (``SPLIT/CLIP/``).
    ``fomm_format``: FOMM clips as ``png`` frame folders or ``mp4`` files (H.264, lossy).
    ``min_frames``: a sequence is written only when at least this many of its frames have a face (default 16:
    every VoxCeleb2 utterance, at least 4 s or 100 frames, passes; a sequence still offers a source and drivers).
    ``chunk_frames``: 0 writes each clip as one sequence; N > 0 splits it into sequences of N source frames.
    ``max_frames``: 0 reads every frame; N > 0 only the first N. ``jpeg_quality``: of the bi-layer ``.jpg`` frames.
    ``masks``: optional folder of foreground masks, ``MASKS/<clip path without .mp4>/<frame index:05d>.png``,
    cropped like the frames into ``segs/``. Without it, ``segmenter`` (default) writes ``segs/`` from MediaPipe's
    selfie segmenter run on each written crop (:mod:`bench.masks`); ``segmenter = False`` writes no ``segs/``.
    """

    split: str = "test"
    layouts: tuple[LayoutName, ...] = ("bilayer",)
    fomm_format: FommFormat = "png"
    min_frames: int = 16
    chunk_frames: int = 0
    max_frames: int = 0
    jpeg_quality: int = 95
    masks: str = ""
    segmenter: bool = True
    crop: CropConfig = field(default_factory=CropConfig)
    detect: DetectConfig = field(default_factory=DetectConfig)

    def __post_init__(self) -> None:
        if not self.split or "/" in self.split or self.split in _RESERVED_SPLITS:
            raise ConfigError(f"split must be a plain folder name other than {', '.join(_RESERVED_SPLITS)}")
        if not self.layouts or any(layout not in ("bilayer", "fomm") for layout in self.layouts):
            raise ConfigError(f"layouts must name 'bilayer' and/or 'fomm', got {self.layouts!r}")
        if self.fomm_format not in ("png", "mp4"):
            raise ConfigError(f"fomm_format must be 'png' or 'mp4', got {self.fomm_format!r}")
        if self.min_frames < 2:
            raise ConfigError(f"min_frames must be >= 2 (a source and a driver), got {self.min_frames}")
        if self.chunk_frames < 0 or 0 < self.chunk_frames < self.min_frames:
            raise ConfigError(f"chunk_frames must be 0 or >= min_frames ({self.min_frames}), got {self.chunk_frames}")
        if self.max_frames < 0:
            raise ConfigError(f"max_frames must be >= 0 (0: all frames), got {self.max_frames}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ConfigError(f"jpeg_quality must be in 1..100, got {self.jpeg_quality}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def digest(self, landmarks: str = "") -> str:
        """Hash of everything that changes the outputs, plus ``landmarks`` (the backend and its weights)."""
        options = self.to_dict()
        options["detect"].pop("device")
        payload = json.dumps({"options": options, "landmarks": landmarks}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]
