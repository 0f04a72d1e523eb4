"""Realistic inputs for timing: real frames of a data set (the embedded default by default), with landmarks.

Never zeros or noise: data-dependent work (face crops from landmarks, dlib's detector, early exits) must see
frames like the ones a model is evaluated on. Sources are frame 0 of the first sequences (one per identity where
possible; ``prepare`` cycles through them); drivers are the other frames of the sequences in order, grouped into
batches of ``batch`` frames (``animate`` cycles through the batches, so consecutive calls see different frames).
Frames of another size than ``resolution`` are resized (OpenCV, area filter when shrinking, bilinear when
enlarging) with their landmarks and segmentations scaled alike.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from bench.config import DataConfig
from bench.data import FrameData, open_dataset
from bench.errors import DataError
from bench.models import Frames, frames_from_data

__all__ = ["LatencyInputs", "load_inputs", "resize_frame"]

MAX_SOURCES = 4
MIN_POOL = 16


@dataclass(frozen=True)
class LatencyInputs:
    """Frames on the device. ``driver_images`` keeps each batch's decoded uint8 (H, W, 3) frames on the host,
    the input of driver landmark extraction; ``sequence`` is every driver frame of the pool, for
    ``begin_sequence``."""

    sources: tuple[Frames, ...]
    drivers: tuple[Frames, ...]
    driver_images: tuple[tuple[np.ndarray, ...], ...]
    sequence: Frames
    info: dict[str, Any]


def resize_frame(frame: FrameData, size: int) -> FrameData:
    """``frame`` at ``size`` x ``size`` pixels, landmarks and segmentation scaled alike (unchanged if equal)."""
    import cv2

    height, width = frame.size
    if (height, width) == (size, size):
        return frame
    shrink = size < min(height, width)
    image = cv2.resize(frame.image, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    landmarks = None
    if frame.landmarks is not None:
        landmarks = (frame.landmarks * np.array([size / width, size / height], dtype=np.float32)).astype(np.float32)
    segmentation = None
    if frame.segmentation is not None:
        segmentation = cv2.resize(frame.segmentation, (size, size), interpolation=cv2.INTER_LINEAR)
    return replace(frame, image=np.ascontiguousarray(image), landmarks=landmarks, segmentation=segmentation)


def _pick_sources(sequences: list[Any]) -> list[Any]:
    by_person: dict[str, Any] = {}
    for sequence in sequences:
        by_person.setdefault(sequence.person, sequence)
    chosen = list(by_person.values())[:MAX_SOURCES]
    return chosen or sequences[:MAX_SOURCES]


def load_inputs(data: DataConfig, resolution: int, batch: int, device: str) -> LatencyInputs:
    """Sources and driver batches from ``data`` (see the module docstring); the data set must carry landmarks."""
    dataset = open_dataset(data)
    sequences = list(dataset.sequences)
    if not sequences or dataset.layout != "bilayer":
        raise DataError(
            dataset.root,
            f"no sequences with landmarks found (layout {dataset.layout}, split {dataset.split})",
            "latency needs frames with 68 landmarks: give a bi-layer layout data root, or none for the embedded one",
        )
    sources = [resize_frame(dataset.load(s, [0])[0], resolution) for s in _pick_sources(sequences)]
    pool_size = max(MIN_POOL, 2 * batch)
    pool: list[FrameData] = []
    for sequence in sequences:
        if len(pool) >= pool_size:
            break
        rest = list(range(1, len(sequence.frames))) or [0]
        pool.extend(resize_frame(f, resolution) for f in dataset.load(sequence, rest))
    pool = [pool[i % len(pool)] for i in range(pool_size)]  # a small data set repeats frames to fill batches
    groups = [pool[i : i + batch] for i in range(0, pool_size - batch + 1, batch)]
    for frame in [*sources, *pool]:
        if frame.landmarks is None:
            raise DataError(frame.ref.image, "frame has no landmarks", "use a data set with keypoints/*.npy")
    return LatencyInputs(
        sources=tuple(frames_from_data([s], device) for s in sources),
        drivers=tuple(frames_from_data(g, device) for g in groups),
        driver_images=tuple(tuple(f.image for f in g) for g in groups),
        sequence=frames_from_data(pool, device),
        info={
            "root": str(dataset.root),
            "embedded_default": dataset.embedded_default,
            "split": dataset.split,
            "sources": [str(s.ref.image) for s in sources],
            "driver_frames": len({str(f.ref.image) for f in pool}),
            "driver_batches": len(groups),
            "resolution": resolution,
        },
    )
