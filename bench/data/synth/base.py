"""Base identity container and landmark geometry helpers.

Coordinates are pixel-index coordinates ``(x, y)``: the centre of the top-left pixel is ``(0, 0)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_LANDMARKS = 68

JAW = slice(0, 17)
BROWS = slice(17, 27)
NOSE = slice(27, 36)
LEFT_EYE = slice(36, 42)
RIGHT_EYE = slice(42, 48)
OUTER_LIPS = slice(48, 60)
INNER_LIPS = slice(60, 68)

MIRROR: np.ndarray = np.array(
    list(range(16, -1, -1))  # jaw
    + list(range(26, 16, -1))  # brows
    + [27, 28, 29, 30, 35, 34, 33, 32, 31]  # nose
    + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]  # eyes
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]  # outer lips
    + [64, 63, 62, 61, 60, 67, 66, 65],  # inner lips
    dtype=np.int64,
)
"""Index of the horizontally mirrored landmark in the iBUG 68-point convention."""


@dataclass(frozen=True, eq=False)
class BaseIdentity:
    """A base portrait that every frame of a video is warped from.

    Attributes
    ----------
    name
        Person name.
    image
        Padded portrait, ``(size + 2 * margin, size + 2 * margin, 3)`` uint8.
    mask
        Padded foreground mask (same height and width), uint8 0 / 255.
    landmarks
        ``(68, 2)`` float64 landmarks in *frame* coordinates (add ``margin`` to index ``image``).
    margin
        Padding in pixels on every side.
    size
        Frame side in pixels.
    """

    name: str
    image: np.ndarray
    mask: np.ndarray
    landmarks: np.ndarray
    margin: int
    size: int

    def __post_init__(self) -> None:
        side = self.size + 2 * self.margin
        if self.image.shape != (side, side, 3) or self.image.dtype != np.uint8:
            raise ValueError(f"image must be ({side}, {side}, 3) uint8, got {self.image.shape}")
        if self.mask.shape != (side, side) or self.mask.dtype != np.uint8:
            raise ValueError(f"mask must be ({side}, {side}) uint8, got {self.mask.shape}")
        if self.landmarks.shape != (N_LANDMARKS, 2):
            raise ValueError("landmarks must be (68, 2)")
        for array in (self.image, self.mask, self.landmarks):
            array.setflags(write=False)

    @property
    def frame_image(self) -> np.ndarray:
        """The un-padded ``(size, size, 3)`` base frame."""
        m = self.margin
        return self.image[m : m + self.size, m : m + self.size]

    @property
    def frame_mask(self) -> np.ndarray:
        """The un-padded ``(size, size)`` base mask."""
        m = self.margin
        return self.mask[m : m + self.size, m : m + self.size]


@dataclass(frozen=True)
class FaceBox:
    """Axis-aligned summary of a landmark set."""

    cx: float
    cy: float
    width: float
    height: float

    @property
    def size(self) -> float:
        """Larger side of the landmark bounding box."""
        return max(self.width, self.height)

    @property
    def radius(self) -> float:
        """Half diagonal of the landmark bounding box."""
        return 0.5 * float(np.hypot(self.width, self.height))


def face_box(landmarks: np.ndarray) -> FaceBox:
    """Bounding box of the landmarks (centre and extent)."""
    pts = np.asarray(landmarks, dtype=np.float64)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    return FaceBox(
        cx=float(lo[0] + hi[0]) / 2,
        cy=float(lo[1] + hi[1]) / 2,
        width=float(hi[0] - lo[0]),
        height=float(hi[1] - lo[1]),
    )


def inner_lip_gap(landmarks: np.ndarray) -> float:
    """Mean vertical distance between the inner lower (65-67) and inner upper (61-63) lip points."""
    pts = np.asarray(landmarks, dtype=np.float64)
    upper = pts[[61, 62, 63]]
    lower = pts[[67, 66, 65]]
    return float(np.mean(np.linalg.norm(lower - upper, axis=1)))


def eyelid_gap(landmarks: np.ndarray) -> float:
    """Mean distance between upper (37, 38, 43, 44) and lower (41, 40, 47, 46) eyelid points."""
    pts = np.asarray(landmarks, dtype=np.float64)
    upper = pts[[37, 38, 43, 44]]
    lower = pts[[41, 40, 47, 46]]
    return float(np.mean(np.linalg.norm(lower - upper, axis=1)))
