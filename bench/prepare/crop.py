"""The crop rule: head-centred squares, resized to ``size`` (256), as the bi-layer authors' data look.

Per frame, the released bi-layer preprocessing (:func:`bilayer.preprocess.crop_box`, our bit-exact
reimplementation) takes the 68 landmarks' bounding box, its centre rounded to the pixel, and a half side ``h`` equal
to the larger of the box's width and height; the centre moves up by ``h // 6`` (room for the hair). The square is
``[cx - h, cx + h] x [cy - h, cy + h]``: the face spans about half of it. ``scale`` multiplies ``h``.

For data, that per-frame square jitters with every landmark error. Talking-head data sets crop a stable box
instead (FOMM's VoxCeleb preprocessing: the union of a clip's face boxes, enlarged). Our default (``mode="clip"``)
combines both: the square that contains the union of the sequence's per-frame bi-layer squares, centred on the
union. The head then moves inside a fixed crop and is never cut, and for a still head the rule is exactly the
released one. ``smooth`` averages the per-frame centre and half side over a window; ``frame`` keeps the released
per-frame rule. Pixels outside the frame are black (as PIL's crop, which the released code uses); the square is
resized with PIL's bicubic filter.

Landmarks are not detected again on the crop: the detected ones are mapped into it,
``x' = (x - x0 + 0.5) * size / side - 0.5`` (pixel centres map to pixel centres; the same for y).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from bench.prepare.config import CropConfig
from bilayer.preprocess import crop_box

__all__ = ["SquareBox", "crop_image", "crop_landmarks", "crop_mask", "frame_square", "sequence_boxes"]


@dataclass(frozen=True)
class SquareBox:
    """A square of ``side`` pixels whose top-left corner is ``(x0, y0)`` in frame pixels (may leave the frame)."""

    x0: int
    y0: int
    side: int

    @property
    def box(self) -> tuple[int, int, int, int]:
        return self.x0, self.y0, self.x0 + self.side, self.y0 + self.side

    def as_list(self) -> list[int]:
        return [self.x0, self.y0, self.side]


def frame_square(points: np.ndarray, scale: float = 1.0) -> SquareBox:
    """The released bi-layer crop of one frame's (68, 2) landmarks, its half side multiplied by ``scale``."""
    released = crop_box(points)
    half = max(1, round(released.size * scale))
    return SquareBox(released.cx - half, released.cy - half, 2 * half)


def _union_square(squares: Sequence[SquareBox]) -> SquareBox:
    x0 = min(s.x0 for s in squares)
    y0 = min(s.y0 for s in squares)
    x1 = max(s.x0 + s.side for s in squares)
    y1 = max(s.y0 + s.side for s in squares)
    side = max(x1 - x0, y1 - y0)
    return SquareBox(x0 + (x1 - x0 - side) // 2, y0 + (y1 - y0 - side) // 2, side)


def _smoothed(squares: Sequence[SquareBox], window: int) -> list[SquareBox]:
    half_sides = np.array([s.side / 2 for s in squares])
    centres = np.array([(s.x0 + s.side / 2, s.y0 + s.side / 2) for s in squares])
    reach = window // 2
    out = []
    for i in range(len(squares)):
        lo, hi = max(0, i - reach), min(len(squares), i + reach + 1)  # the window shrinks at the ends
        h = max(1, round(float(half_sides[lo:hi].mean())))
        cx, cy = np.round(centres[lo:hi].mean(0)).astype(int)
        out.append(SquareBox(int(cx) - h, int(cy) - h, 2 * h))
    return out


def sequence_boxes(landmarks: Sequence[np.ndarray], config: CropConfig) -> list[SquareBox]:
    """One crop square per frame of a sequence (all equal in ``clip`` mode) from each frame's landmarks."""
    if not landmarks:
        raise ValueError("a sequence needs at least one frame with landmarks to be cropped")
    squares = [frame_square(points, config.scale) for points in landmarks]
    if config.mode == "clip":
        return [_union_square(squares)] * len(squares)
    if config.mode == "smooth":
        return _smoothed(squares, config.smooth_window)
    return squares


def crop_image(image: np.ndarray, box: SquareBox, size: int) -> np.ndarray:
    """uint8 (H, W, 3) -> uint8 (size, size, 3): PIL crop (black outside the frame), bicubic resize."""
    return np.asarray(Image.fromarray(image).crop(box.box).resize((size, size), Image.BICUBIC))


def crop_mask(mask: np.ndarray, box: SquareBox, size: int) -> np.ndarray:
    """uint8 (H, W) -> uint8 (size, size), cropped and resized like the frame."""
    return np.asarray(Image.fromarray(mask).crop(box.box).resize((size, size), Image.BICUBIC))


def crop_landmarks(points: np.ndarray, box: SquareBox, size: int) -> np.ndarray:
    """(68, 2) frame pixel (x, y) -> float32 (68, 2) pixel (x, y) in the resized crop."""
    corner = np.array([box.x0, box.y0], dtype=np.float64)
    mapped = (np.asarray(points, dtype=np.float64) - corner + 0.5) * (size / box.side) - 0.5
    return mapped.astype(np.float32)
