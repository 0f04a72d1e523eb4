"""Deterministic, offline generator of a small talking-head video data set.

Identities are two real public-domain portraits shipped with installed packages (``astronaut`` from
scikit-image, ``grace_hopper`` from matplotlib) and seeded procedural faces (``procedural_NN``).
Each video is a seeded smooth head motion (roll, yaw, pitch, translation, scale, mouth, blinks)
applied to the base landmarks; frames are thin-plate-spline warps of the base portrait, so the
saved 68 landmarks are the exact ground truth of each frame. See :func:`generate_dataset`.
"""

from __future__ import annotations

from .base import BaseIdentity, eyelid_gap, face_box, inner_lip_gap
from .motion import MotionState, Similarity, deform_landmarks, frame_landmarks, sample_trajectory
from .render import (
    SynthFrame,
    clear_identity_cache,
    control_points,
    frame_warp,
    load_identity,
    render_frame,
    render_frames,
    video_states,
)
from .spec import GENERATOR_VERSION, SynthSpec
from .tps import ThinPlateSpline, dedupe_control_points, fit_tps, sample_bilinear
from .writer import MANIFEST_NAME, encode_frame, generate_dataset

fit_backward_map = fit_tps
"""Alias: fit the TPS backward map ``f(dst_i) = src_i`` (frame -> base coordinates)."""

__all__ = [
    "GENERATOR_VERSION",
    "MANIFEST_NAME",
    "BaseIdentity",
    "MotionState",
    "Similarity",
    "SynthFrame",
    "SynthSpec",
    "ThinPlateSpline",
    "clear_identity_cache",
    "control_points",
    "dedupe_control_points",
    "deform_landmarks",
    "encode_frame",
    "eyelid_gap",
    "face_box",
    "fit_backward_map",
    "fit_tps",
    "frame_landmarks",
    "frame_warp",
    "generate_dataset",
    "inner_lip_gap",
    "load_identity",
    "render_frame",
    "render_frames",
    "sample_bilinear",
    "sample_trajectory",
    "video_states",
]
