"""Preprocessing exactly as the released inference wrapper does it (PIL crop and bicubic resize, OpenCV stickmen).

From the 68 landmarks ``P`` (pixel x, y) of a frame: ``center = round((P.min + P.max) / 2)`` (half to even),
``size = int(max(bbox width, bbox height))``, ``center_y -= size // 6``; the crop box is
``(cx - size, cy - size, cx + size, cy + size)`` (PIL fills the outside with black); the crop is resized to
``image_size`` with PIL BICUBIC and mapped to [-1, 1]; the keypoints become
``((P - (center - size)) / (2 size) - 0.5) * 2``, flattened to 136 values. Stickmen are drawn with
``cv2.polylines`` on a canvas of ones, then mapped to [-1, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
from PIL import Image

__all__ = ["CropBox", "crop_box", "crop_image", "crop_mask", "normalised_pose", "stickman"]

# Parts of the 68-point stickman: (point indices, closed, colour)
_PARTS: tuple[tuple[list[int], bool, tuple[int, int, int]], ...] = (
    (list(range(0, 17)), False, (255, 255, 255)),  # jaw
    (list(range(17, 22)), False, (255, 0, 0)),  # brows
    (list(range(22, 27)), False, (0, 255, 0)),
    ([*range(27, 31), 30, 33], False, (0, 0, 255)),  # nose bridge and tip
    (list(range(31, 36)), False, (0, 0, 255)),
    (list(range(36, 42)), True, (255, 0, 255)),  # eyes
    (list(range(42, 48)), True, (0, 255, 255)),
    (list(range(48, 60)), True, (255, 255, 0)),  # lips
    (list(range(60, 68)), True, (255, 255, 0)),
)


@dataclass(frozen=True)
class CropBox:
    """Square crop of side ``2 * size`` centred at ``(cx, cy)`` in frame pixels."""

    cx: int
    cy: int
    size: int

    @property
    def box(self) -> tuple[int, int, int, int]:
        return self.cx - self.size, self.cy - self.size, self.cx + self.size, self.cy + self.size


def crop_box(points: np.ndarray) -> CropBox:
    points = np.asarray(points, dtype=np.float32)
    center = np.round((points.min(0) + points.max(0)) / 2).astype(int)
    extent = points.max(0) - points.min(0)
    size = int(max(extent[0], extent[1]))
    if size < 1:
        raise ValueError("landmarks span less than one pixel; they cannot define a crop")
    return CropBox(int(center[0]), int(center[1] - size // 6), size)


def crop_image(image: np.ndarray, box: CropBox, image_size: int) -> torch.Tensor:
    """uint8 (H, W, 3) -> float32 (3, S, S) in [-1, 1]."""
    cropped = Image.fromarray(image).crop(box.box).resize((image_size, image_size), Image.BICUBIC)
    array = torch.from_numpy(np.asarray(cropped, dtype=np.float32) / 255.0).permute(2, 0, 1)
    return (array - 0.5) * 2


def crop_mask(mask: np.ndarray, box: CropBox, image_size: int) -> torch.Tensor:
    """float (H, W) in [0, 1] -> (1, S, S) in [0, 1], cropped and resized like the image (8-bit, BICUBIC)."""
    gray = Image.fromarray(np.clip(np.rint(mask * 255.0), 0, 255).astype(np.uint8))
    resized = gray.crop(box.box).resize((image_size, image_size), Image.BICUBIC)
    return torch.from_numpy(np.asarray(resized, dtype=np.float32) / 255.0)[None]


def normalised_pose(points: np.ndarray, box: CropBox) -> torch.Tensor:
    """Keypoints in [-1, 1] of the crop, (136,), with the original's float32/float64 steps."""
    shifted = (np.asarray(points, dtype=np.float32) - np.array([box.cx - box.size, box.cy - box.size])).astype(
        np.float32
    )
    scaled = shifted / np.float32(2 * box.size)
    return torch.from_numpy(((scaled - np.float32(0.5)) * np.float32(2)).reshape(-1))


def stickman(pose: torch.Tensor, image_size: int, thickness: int = 2) -> torch.Tensor:
    """(136,) pose in [-1, 1] -> (3, S, S) stickman in [-1, 1]."""
    xy = ((pose.reshape(-1, 2).cpu().numpy() + 1) / 2 * image_size).astype(np.int32)
    canvas = np.ones((image_size, image_size, 3), np.uint8)
    for indices, closed, colour in _PARTS:
        cv2.polylines(canvas, [xy[indices][:, None]], closed, colour, thickness=thickness)
    return (torch.from_numpy(canvas.transpose(2, 0, 1).astype(np.float32)) / 255.0 - 0.5) * 2
