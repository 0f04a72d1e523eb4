"""Plain records for frames and sequences of a data set."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.errors import DataError

__all__ = ["NUM_LANDMARKS", "FrameData", "FrameRef", "SequenceRef"]

NUM_LANDMARKS = 68


@dataclass(frozen=True)
class FrameRef:
    """Where one frame lives. ``image`` may be an image file or ``video.mp4#index`` for a video frame."""

    name: str
    image: Path
    keypoints: Path | None = None
    segmentation: Path | None = None
    video_index: int | None = None  # frame index inside ``image`` when it is a video file


@dataclass(frozen=True)
class SequenceRef:
    """One sequence (bi-layer layout) or clip (FOMM layout): an ordered tuple of frames.

    ``problem``: why discovery found the sequence unusable (an empty folder, a video that does not open, a
    symbolic-link loop); such a sequence has no frames, and its job fails with that error (``failures.csv``)
    while the other sequences run."""

    split: str
    person: str
    video: str
    sequence: str
    frames: tuple[FrameRef, ...]
    problem: DataError | None = field(default=None, compare=False)

    @property
    def id(self) -> str:
        return f"{self.person}/{self.video}/{self.sequence}"


@dataclass(frozen=True)
class FrameData:
    """A decoded frame: ``image`` uint8 (H, W, 3) RGB; ``landmarks`` float32 (68, 2) pixel (x, y) or None;
    ``segmentation`` float32 (H, W) in [0, 1] or None."""

    ref: FrameRef
    image: np.ndarray
    landmarks: np.ndarray | None
    segmentation: np.ndarray | None

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)."""
        return int(self.image.shape[0]), int(self.image.shape[1])
