"""The animation rules of first-order-model's ``demo.py``/``animate.py``: keypoint normalisation (relative or
absolute motion, relative jacobians, movement scale from convex-hull areas) and the choice of the best frame."""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.spatial import ConvexHull, QhullError

from baselines.fomm.keypoints import Keypoints

__all__ = [
    "best_frame",
    "best_frame_distances",
    "movement_scale",
    "normalize_keypoints",
    "normalize_landmarks",
]


def _hull_area(kp: Keypoints, name: str) -> float:
    try:
        return ConvexHull(kp.value[0].detach().cpu().double().numpy()).volume  # the area of a 2-D hull
    except QhullError as error:
        raise ValueError(
            f"adapt_movement_scale: the {name} keypoints span no area (convex hull failed: "
            f"{str(error).splitlines()[0]}); animate without adapt_movement_scale"
        ) from error


def movement_scale(kp_source: Keypoints, kp_initial: Keypoints) -> float:
    """sqrt(hull area of the source keypoints) / sqrt(hull area of the initial driving keypoints), batch item 0."""
    return math.sqrt(_hull_area(kp_source, "source")) / math.sqrt(_hull_area(kp_initial, "initial driving"))


def normalize_keypoints(
    kp_source: Keypoints,
    kp_driving: Keypoints,
    kp_initial: Keypoints | None,
    *,
    relative: bool,
    relative_jacobian: bool | None = None,
    scale: float = 1.0,
) -> Keypoints:
    """``animate.normalize_kp``. Relative: value = (v_d - v_d0) * scale + v_s and, with relative jacobians,
    J = (J_d inv(J_d0)) J_s. Absolute: the driving keypoints unchanged. ``relative_jacobian`` defaults to
    ``relative``; ``scale`` is :func:`movement_scale` when adapting the movement scale, else 1."""
    if not relative:
        return kp_driving
    if kp_initial is None:
        raise ValueError("relative keypoints need the initial driving keypoints (kp_initial); got None")
    value = (kp_driving.value - kp_initial.value) * scale + kp_source.value
    jacobian = kp_driving.jacobian
    use_jacobian = relative if relative_jacobian is None else relative_jacobian
    if use_jacobian and jacobian is not None and kp_initial.jacobian is not None and kp_source.jacobian is not None:
        jacobian = torch.matmul(torch.matmul(jacobian, torch.linalg.inv(kp_initial.jacobian)), kp_source.jacobian)
    return Keypoints(value, jacobian)


def normalize_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """``demo.find_best_frame``'s normalisation of landmarks (..., 68, 2): centred on their mean, divided by the
    square root of their convex-hull area. float32 like a detector's landmarks (hull and division in float64,
    the result rounded back, as the original's in-place division does)."""
    points = np.asarray(landmarks, dtype=np.float32)
    centred = points - points.mean(axis=-2, keepdims=True)
    flat = centred.reshape(-1, *centred.shape[-2:])
    scale = np.sqrt([ConvexHull(frame).volume for frame in flat]).reshape(*centred.shape[:-2], 1, 1)
    return (centred / scale).astype(np.float32)


def best_frame_distances(source: np.ndarray, driving: np.ndarray) -> np.ndarray:
    """Sum of squared differences of normalised landmarks, source (68, 2) vs every driving frame (T, 68, 2)."""
    reference = normalize_landmarks(source)
    frames = normalize_landmarks(np.asarray(driving, dtype=np.float32).reshape(-1, *reference.shape))
    return np.square(frames - reference).sum(axis=(1, 2)).astype(np.float64)  # summed in float32, as there


def best_frame(source: np.ndarray, driving: np.ndarray) -> int:
    """Index of the driving frame whose landmarks are closest to the source's (the first one on ties)."""
    distances = best_frame_distances(source, driving)
    if len(distances) == 0:
        raise ValueError("best frame: no driving landmarks given")
    return int(np.argmin(distances))
