"""Rendering of video frames: landmarks from the motion model, image and mask by a TPS backward warp."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from .base import BaseIdentity, face_box
from .motion import (
    MotionState,
    Similarity,
    frame_landmarks,
    sample_trajectory,
    similarity_for,
    virtual_points,
)
from .portraits import real_identity
from .procedural import procedural_identity
from .spec import (
    PROCEDURAL_PATTERN,
    REAL_PERSONS,
    STREAM_IDENTITY,
    STREAM_MOTION,
    STREAM_PHOTOMETRIC,
    SynthSpec,
    check_person,
    make_rng,
)
from .tps import ThinPlateSpline, fit_tps, sample_bilinear

RING_POINTS = 16
RING_RADIUS = 1.5
"""Radius of the rigid anchor ring around the face, in units of the landmark box half-diagonal."""
BORDER_POINTS = 6
"""Anchor points per frame side (corners included)."""
_CAVITY = (42.0, 14.0, 18.0)


@dataclass(frozen=True, eq=False)
class SynthFrame:
    """One rendered frame.

    Attributes
    ----------
    image
        ``(size, size, 3)`` uint8 RGB.
    landmarks
        ``(68, 2)`` float32 ground-truth ``(x, y)`` pixel coordinates.
    mask
        ``(size, size)`` uint8 foreground mask (0 / 255).
    index
        Frame index in the video timeline.
    state
        The motion parameters of the frame.
    """

    image: np.ndarray
    landmarks: np.ndarray
    mask: np.ndarray
    index: int = 0
    state: MotionState | None = None


@functools.lru_cache(maxsize=8)
def _cached_identity(person: str, size: int, margin: int, seed: int) -> BaseIdentity:
    if person in REAL_PERSONS:
        return real_identity(person, size, margin)
    match = PROCEDURAL_PATTERN.match(person)
    assert match is not None
    return procedural_identity(person, make_rng(seed, person, STREAM_IDENTITY), size, margin)


def load_identity(person: str, spec: SynthSpec) -> BaseIdentity:
    """Base identity (read-only arrays) of ``person`` at the spec's size; cached."""
    return _cached_identity(check_person(person), spec.size, spec.margin, spec.seed)


def clear_identity_cache() -> None:
    """Forget cached base identities (they are rebuilt deterministically on demand)."""
    _cached_identity.cache_clear()


def control_points(
    base_landmarks: np.ndarray, landmarks: np.ndarray, similarity: Similarity, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(dst, src)`` control points of a frame's backward map.

    The 68 frame landmarks map to the base landmarks, and so do a few virtual midpoints (eyelid crease,
    mouth interior) that keep the spline from folding; a ring of anchors around the face and points on
    the frame border follow the global similarity only, so the background moves rigidly.
    """
    box = face_box(base_landmarks)
    angles = 2 * np.pi * np.arange(RING_POINTS) / RING_POINTS
    radius = RING_RADIUS * box.radius
    ring_src = np.stack([box.cx + radius * np.cos(angles), box.cy + radius * np.sin(angles)], axis=1)
    ticks = np.linspace(0.0, size - 1.0, BORDER_POINTS)
    lo, hi = np.zeros_like(ticks[1:-1]), np.full_like(ticks[1:-1], size - 1.0)
    border_dst = np.concatenate([
        np.stack([ticks, np.zeros_like(ticks)], 1), np.stack([ticks, np.full_like(ticks, size - 1.0)], 1),
        np.stack([lo, ticks[1:-1]], 1), np.stack([hi, ticks[1:-1]], 1),
    ])  # fmt: skip
    dst = np.concatenate([landmarks, virtual_points(landmarks), similarity.apply(ring_src), border_dst])
    src = np.concatenate([base_landmarks, virtual_points(base_landmarks), ring_src, similarity.inverse(border_dst)])
    return dst, src


def frame_warp(base: BaseIdentity, state: MotionState) -> tuple[np.ndarray, ThinPlateSpline]:
    """Landmarks (float64) of the frame in ``state`` and the TPS backward map (frame -> base coordinates)."""
    landmarks = frame_landmarks(base.landmarks, state)
    dst, src = control_points(base.landmarks, landmarks, similarity_for(base.landmarks, state), base.size)
    return landmarks, fit_tps(dst, src)


def photometric_gain(spec: SynthSpec, person: str, video: int) -> np.ndarray:
    """Per-video RGB gain (brightness times a small colour cast)."""
    rng = make_rng(spec.seed, person, STREAM_PHOTOMETRIC, video)
    return rng.uniform(0.9, 1.1) * rng.uniform(0.96, 1.04, 3)


def video_states(person: str, video: int, spec: SynthSpec) -> list[MotionState]:
    """Motion timeline of one video (``spec.frames_per_video`` states)."""
    rng = make_rng(spec.seed, check_person(person), STREAM_MOTION, video)
    return sample_trajectory(rng, spec.frames_per_video, spec.size)


def _mouth_cavity(pixels: np.ndarray, coords: np.ndarray, landmarks: np.ndarray, gain: np.ndarray) -> None:
    """Darken (in place) the newly opened mouth interior: inside the inner lips, where the map compresses.

    Where the backward map squeezes the opened mouth onto the (nearly) closed base lips its Jacobian
    determinant is small; those pixels get a dark cavity colour, the lips themselves are untouched.
    """
    height, width = coords.shape[:2]
    inner = landmarks[60:68]
    x0, y0 = np.maximum(np.floor(inner.min(axis=0)).astype(int) - 2, 0)
    x1, y1 = np.minimum(np.ceil(inner.max(axis=0)).astype(int) + 3, [width, height])
    if x1 - x0 < 3 or y1 - y0 < 3:
        return
    box = coords[y0:y1, x0:x1]
    gx, gy = np.gradient(box[..., 0]), np.gradient(box[..., 1])
    det = gx[1] * gy[0] - gx[0] * gy[1]
    big = 4
    stencil = Image.new("L", ((x1 - x0) * big, (y1 - y0) * big), 0)
    poly = [(big * (x - x0) + (big - 1) / 2, big * (y - y0) + (big - 1) / 2) for x, y in inner]
    ImageDraw.Draw(stencil).polygon(poly, fill=255)
    cover = np.asarray(stencil.reduce(big), dtype=np.float32) / 255.0
    alpha = np.clip((cover - 0.25) / 0.75, 0.0, 1.0) * np.clip((0.4 - det) / 0.3, 0.0, 1.0)
    cavity = np.asarray(_CAVITY, dtype=np.float32) * gain.astype(np.float32)
    region = pixels[y0:y1, x0:x1]
    region += alpha[..., None].astype(np.float32) * (cavity - region)


def render_frame(base: BaseIdentity, state: MotionState, gain: np.ndarray, index: int = 0) -> SynthFrame:
    """Warp the base identity into the pose / expression ``state``."""
    landmarks, tps = frame_warp(base, state)
    coords = tps.grid(base.size, base.size)
    pixels = sample_bilinear(base.image, coords, offset=base.margin) * gain.astype(np.float32)
    if state.mouth > 0.0:
        _mouth_cavity(pixels, coords, landmarks, gain)
    image = np.clip(np.round(pixels), 0, 255).astype(np.uint8)
    coverage = sample_bilinear(base.mask.astype(np.float32) / 255.0, coords, offset=base.margin)
    mask = np.where(coverage >= 0.5, 255, 0).astype(np.uint8)
    return SynthFrame(image=image, landmarks=landmarks.astype(np.float32), mask=mask, index=index, state=state)


def render_frames(person: str, video: int, spec: SynthSpec | None = None) -> Iterator[SynthFrame]:
    """Frames of one video timeline, in order (all its sequences back to back); default spec if None."""
    spec = SynthSpec() if spec is None else spec
    base = load_identity(person, spec)
    gain = photometric_gain(spec, person, video)
    for index, state in enumerate(video_states(person, video, spec)):
        yield render_frame(base, state, gain, index)
