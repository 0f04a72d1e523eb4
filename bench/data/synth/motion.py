"""Deterministic head motion: smooth pose trajectories, mouth opening, blinks and their landmarks.

Landmarks of a frame are ``similarity(local_deformation(base))`` where the local deformation opens
the mouth, closes the eyes and rotates the face in depth (yaw / pitch with an ellipsoidal depth
model), and the similarity applies roll, scale and translation about the face centre.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import face_box

MAX_ROLL = 10.0
MAX_YAW = 15.0
MAX_PITCH = 8.0
MAX_SHIFT = 8.0 / 256.0  # fraction of the frame size
MAX_SCALE_DEVIATION = 0.07
MAX_BLINK = 0.8
_SNAP = 1e-3  # mouth / blink values below this are exactly 0 (keeps closed lips coincident)

# Mouth opening: per landmark downward displacement, in units of the opening distance.
_MOUTH_WEIGHTS: dict[int, float] = {
    5: 0.3, 6: 0.6, 7: 0.85, 8: 1.0, 9: 0.85, 10: 0.6, 11: 0.3,
    48: 0.15, 54: 0.15, 60: 0.15, 64: 0.15,
    49: -0.04, 50: -0.06, 51: -0.06, 52: -0.06, 53: -0.04,
    61: -0.1, 62: -0.1, 63: -0.1,
    55: 0.55, 56: 0.85, 57: 0.9, 58: 0.85, 59: 0.55,
    65: 0.8, 66: 0.9, 67: 0.8,
}  # fmt: skip
_MOUTH_OPEN_MAX = 0.16  # opening distance at mouth = 1, relative to the brow-to-chin height
# Blink: upper lid point -> lower lid point it closes onto.
_BLINK_PAIRS = ((37, 41), (38, 40), (43, 47), (44, 46))
# Extra protrusion of nose points, relative to the face width.
_NOSE_DEPTH = {27: 0.04, 28: 0.08, 29: 0.13, 30: 0.2, 31: 0.08, 32: 0.12, 33: 0.14, 34: 0.12, 35: 0.08}


# Virtual control points: fixed convex combinations of landmark pairs (eyelid crease between brow
# and upper lid, mouth interior between inner lips). Rotation in depth and the similarity are affine
# in the landmark positions, so the same combination of frame landmarks is their consistent target.
_VIRTUAL_PAIRS = ((19, 37), (20, 38), (23, 43), (24, 44), (61, 67), (62, 66), (63, 65))


def virtual_points(landmarks: np.ndarray) -> np.ndarray:
    """Midpoints of the crease / mouth-interior landmark pairs, ``(7, 2)``."""
    pts = np.asarray(landmarks, dtype=np.float64)
    return np.stack([(pts[a] + pts[b]) / 2 for a, b in _VIRTUAL_PAIRS])


@dataclass(frozen=True)
class MotionState:
    """Pose and expression of one frame (angles in degrees, shifts in pixels)."""

    roll: float
    yaw: float
    pitch: float
    tx: float
    ty: float
    scale: float
    mouth: float
    blink: float


@dataclass(frozen=True)
class Similarity:
    """``p -> center + scale * R(angle) (p - center) + shift``."""

    center: tuple[float, float]
    angle_deg: float
    scale: float
    shift: tuple[float, float]

    def _matrix(self) -> np.ndarray:
        a = np.deg2rad(self.angle_deg)
        return self.scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])

    def apply(self, points: np.ndarray) -> np.ndarray:
        c = np.asarray(self.center)
        return c + (np.asarray(points, np.float64) - c) @ self._matrix().T + np.asarray(self.shift)

    def inverse(self, points: np.ndarray) -> np.ndarray:
        c = np.asarray(self.center)
        q = np.asarray(points, np.float64) - c - np.asarray(self.shift)
        return c + q @ np.linalg.inv(self._matrix()).T


def _smooth(rng: np.random.Generator, t: np.ndarray, period: tuple[float, float], n: int = 3) -> np.ndarray:
    """Sum of ``n`` sinusoids with seeded periods / phases, normalised to ``[-1, 1]`` at most."""
    weights = rng.uniform(0.3, 1.0, n)
    weights /= weights.sum()
    periods = rng.uniform(period[0], period[1], n)
    phases = rng.uniform(0.0, 2 * np.pi, n)
    return (weights[:, None] * np.sin(2 * np.pi * t[None, :] / periods[:, None] + phases[:, None])).sum(0)


def sample_trajectory(rng: np.random.Generator, n_frames: int, size: int) -> list[MotionState]:
    """Seeded smooth motion timeline of ``n_frames`` frames."""
    t = np.arange(n_frames, dtype=np.float64)

    def channel(limit: float, period: tuple[float, float]) -> np.ndarray:
        return limit * rng.uniform(0.5, 1.0) * _smooth(rng, t, period)

    roll = channel(MAX_ROLL, (16.0, 48.0))
    yaw = channel(MAX_YAW, (14.0, 40.0))
    pitch = channel(MAX_PITCH, (12.0, 36.0))
    tx = channel(MAX_SHIFT * size, (20.0, 60.0))
    ty = channel(MAX_SHIFT * size, (20.0, 60.0))
    scale = 1.0 + channel(MAX_SCALE_DEVIATION, (24.0, 64.0))
    mouth = np.clip(rng.uniform(0.25, 0.45) + 0.9 * _smooth(rng, t, (4.0, 10.0)), 0.0, 1.0)
    blink = np.zeros(n_frames)
    when = rng.uniform(1.0, 8.0)
    while when < n_frames + 3.0:
        width = rng.uniform(0.6, 1.0)
        blink += rng.uniform(0.7, 1.0) * MAX_BLINK * np.exp(-0.5 * ((t - when) / width) ** 2)
        when += rng.uniform(9.0, 24.0)
    blink = np.minimum(blink, MAX_BLINK)
    mouth[mouth < _SNAP] = 0.0
    blink[blink < _SNAP] = 0.0
    return [
        MotionState(
            roll=float(roll[i]), yaw=float(yaw[i]), pitch=float(pitch[i]), tx=float(tx[i]),
            ty=float(ty[i]), scale=float(scale[i]), mouth=float(mouth[i]), blink=float(blink[i]),
        )
        for i in range(n_frames)
    ]  # fmt: skip


def landmark_depth(base: np.ndarray) -> np.ndarray:
    """Ellipsoidal depth (towards the camera, pixels, zero mean) of each base landmark; nose protrudes."""
    box = face_box(base)
    u = (base[:, 0] - box.cx) / (0.55 * box.width)
    v = (base[:, 1] - box.cy) / (0.6 * box.height)
    depth = 0.45 * box.width * np.sqrt(np.clip(1.0 - u**2 - v**2, 0.0, None))
    for index, extra in _NOSE_DEPTH.items():
        depth[index] += extra * box.width
    return depth - depth.mean()


def deform_landmarks(base: np.ndarray, state: MotionState) -> np.ndarray:
    """Local deformation: mouth opening, blinks, then yaw / pitch rotation about the face centre."""
    pts = np.array(base, dtype=np.float64)
    box = face_box(base)
    height = float(base[8, 1] - base[17:27, 1].min())
    if state.mouth > 0.0:
        opening = state.mouth * _MOUTH_OPEN_MAX * height
        for index, weight in _MOUTH_WEIGHTS.items():
            pts[index, 1] += weight * opening
    if state.blink > 0.0:
        # The gap shrinks by the closure fraction: mostly the upper lid descends, the lower lid rises a
        # little and the brows follow slightly (keeps the thin-plate warp above the eye fold-free).
        gap = np.mean([pts[lower, 1] - pts[upper, 1] for upper, lower in _BLINK_PAIRS])
        for upper, lower in _BLINK_PAIRS:
            delta = pts[lower] - pts[upper]
            pts[upper] += 0.85 * state.blink * delta
            pts[lower] -= 0.15 * state.blink * delta
        pts[17:27, 1] += 0.3 * state.blink * gap
    depth = landmark_depth(base)
    yaw, pitch = np.deg2rad(state.yaw), np.deg2rad(state.pitch)
    x = pts[:, 0] - box.cx
    y = pts[:, 1] - box.cy
    x1 = x * np.cos(yaw) + depth * np.sin(yaw)
    z1 = -x * np.sin(yaw) + depth * np.cos(yaw)
    y1 = y * np.cos(pitch) - z1 * np.sin(pitch)
    return np.stack([x1 + box.cx, y1 + box.cy], axis=1)


def similarity_for(base: np.ndarray, state: MotionState) -> Similarity:
    """Global similarity of a frame (about the base face centre)."""
    box = face_box(base)
    return Similarity(center=(box.cx, box.cy), angle_deg=state.roll, scale=state.scale, shift=(state.tx, state.ty))


def frame_landmarks(base: np.ndarray, state: MotionState) -> np.ndarray:
    """Ground-truth landmarks of a frame: ``similarity(local_deformation(base))``."""
    return similarity_for(base, state).apply(deform_landmarks(base, state))
