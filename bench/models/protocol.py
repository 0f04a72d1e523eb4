"""The contract every system under test implements.

``prepare(source) -> state`` does the per-avatar work once (bi-layer: identity embedding, texture and its
enhancement; FOMM: source keypoints and encoder features). ``animate(state, driver) -> images`` does only the
per-frame work. Both take :class:`Frames`; models in ``bilayer/`` and ``baselines/`` read its attributes and
never import ``bench``.

Optional: ``begin_sequence(state, drivers) -> state`` is called once per job, after ``prepare`` and before the
first ``animate``, with *all* driving frames of the job, for work that depends on the driving sequence as a
whole (FOMM's relative motion needs the initial driving frame, or the best-matching one). Its cost is timed
as its own stage, never as per-frame cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from bench.data.types import FrameData

__all__ = ["AvatarModel", "Frames", "frames_from_data"]


@dataclass(frozen=True)
class Frames:
    """A batch of N frames on one device.

    ``image``: float32 (N, 3, H, W) RGB in [0, 1]. ``landmarks``: float32 (N, 68, 2) pixel (x, y) of ``image``,
    or None where the data set has none. ``segmentation``: float32 (N, 1, H, W) in [0, 1], or None.
    """

    image: torch.Tensor
    landmarks: torch.Tensor | None = None
    segmentation: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.image.shape[0])

    def __getitem__(self, index: slice) -> Frames:
        return Frames(
            self.image[index],
            None if self.landmarks is None else self.landmarks[index],
            None if self.segmentation is None else self.segmentation[index],
        )


@runtime_checkable
class AvatarModel(Protocol):
    def prepare(self, source: Frames) -> Any:
        """Per-avatar work on a single source frame (N = 1); returns an opaque state."""
        ...

    def animate(self, state: Any, driver: Frames) -> torch.Tensor:
        """Per-frame work: (N, 3, H, W) float images in [0, 1], aligned with ``driver.image``."""
        ...


def frames_from_data(frames: Sequence[FrameData], device: torch.device | str = "cpu") -> Frames:
    """Stack decoded frames into one :class:`Frames` batch (landmarks/masks only if every frame has them)."""
    images = np.stack([f.image for f in frames])
    image = torch.from_numpy(images).to(device).permute(0, 3, 1, 2).float().div_(255.0).contiguous()
    landmarks = None
    if all(f.landmarks is not None for f in frames):
        landmarks = torch.from_numpy(np.stack([f.landmarks for f in frames])).to(device)
    segmentation = None
    if all(f.segmentation is not None for f in frames):
        segmentation = torch.from_numpy(np.stack([f.segmentation for f in frames]))[:, None].to(device)
    return Frames(image, landmarks, segmentation)
