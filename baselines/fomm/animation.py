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


def movement_scale(kp_source: Keypoints, kp_initial: Keypoints) -> float:
    """sqrt(hull area of the source keypoints) / sqrt(hull area of the initial driving keypoints), batch item 0."""
    areas = []
    for name, kp in (("source", kp_source), ("initial driving", kp_initial)):
        points = kp.value[0].detach().cpu().double().numpy()
        try:
            areas.append(ConvexHull(points).volume)
        except QhullError as error:
            raise ValueError(
                f"adapt_movement_scale: the {name} keypoints span no area (convex hull failed: "
                f"{str(error).splitlines()[0]}); animate without adapt_movement_scale"
            ) from error
    return math.sqrt(areas[0]) / math.sqrt(areas[1])


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
    """``demo.find_best_frame``'s normalisation of (68, 2) landmarks: centre them, divide by sqrt(hull area).
    Arithmetic in the landmarks' dtype (float32 from a detector), the area in float64, as numpy does there."""
    centred = landmarks - landmarks.mean(axis=0, keepdims=True)
    area = np.sqrt(ConvexHull(centred[:, :2]).volume)
    centred[:, :2] = centred[:, :2] / area
    return centred


def best_frame_distances(source: np.ndarray, driving: np.ndarray) -> np.ndarray:
    """Sum of squared differences of normalised landmarks, source (68, 2) vs every driving frame (T, 68, 2)."""
    reference = normalize_landmarks(np.asarray(source, dtype=np.float32))
    distances = [
        float((np.abs(reference - normalize_landmarks(np.asarray(frame, dtype=np.float32))) ** 2).sum())
        for frame in driving
    ]
    return np.asarray(distances, dtype=np.float64)


def best_frame(source: np.ndarray, driving: np.ndarray) -> int:
    """Index of the driving frame whose landmarks are closest to the source's (the first one on ties)."""
    distances = best_frame_distances(source, driving)
    if len(distances) == 0:
        raise ValueError("best frame: no driving landmarks given")
    return int(np.argmin(distances))
