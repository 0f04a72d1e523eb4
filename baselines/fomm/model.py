"""FOMM behind the model protocol: ``prepare`` (source), ``begin_sequence`` (drivers), ``animate`` (per frame).

``prepare`` does all the source-only work once: source keypoints and jacobians, the generator's encoder
features (first block and down blocks) and the dense-motion network's anti-aliased source. ``animate`` then does
only per-frame work: driving keypoints, keypoint normalisation, dense motion, warping of the cached features,
decoder.

Animation modes follow ``demo.py``: absolute keypoints (FOMM's reconstruction protocol), or relative keypoints
and jacobians (``--relative``), optionally with the movement scale adapted from convex-hull areas
(``--adapt_scale``) and with the initial frame chosen by ``find_best_frame``. In relative mode the initial driving
keypoints come from ``begin_sequence`` (the driving sequence as the protocol gives it: in self-reenactment it starts
with the source frame, so motion is measured from the source as in FOMM's own videos): its frame 0, or the best
frame. A model may animate another identity with other options than its own (``cross_options``: ``fomm.vox256``
reconstructs with absolute keypoints and animates other identities with relative ones and the adapted scale, the
demo's setting); ``begin_sequence(..., protocol="cross")`` selects them for the sequence. The demo's
best-frame animation (forward from frame i, backward to it, both with initial frame i) equals animating every
frame relative to frame i, which is what ``animate`` does for any split of the drivers into batches. When
``animate`` is called without ``begin_sequence`` in relative mode, its own batch plays the role of the sequence.

Frames whose size differs from the config's ``frame_shape`` are resized to it (bilinear with antialiasing, the
equivalent of demo.py's ``skimage.transform.resize`` preprocessing; not bit-identical to skimage's Gaussian
prefilter) and the prediction is resized back to the driver's size; frames of the model's size are untouched.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from baselines.fomm.animation import best_frame_distances, movement_scale, normalize_keypoints
from baselines.fomm.checkpoint import FommCheckpoint, check_state_dict, read_checkpoint
from baselines.fomm.config import FommConfig
from baselines.fomm.generator import OcclusionAwareGenerator
from baselines.fomm.keypoints import KeypointDetector, Keypoints

__all__ = ["AnimationOptions", "FommModel", "FommState", "LandmarksFn"]

# images (N, 3, H, W) in [0, 1] -> (N, 68, 2) pixel (x, y)
LandmarksFn = Callable[[torch.Tensor], "torch.Tensor | np.ndarray"]


def _resize(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    resized = F.interpolate(image, size=size, mode="bilinear", align_corners=False, antialias=True)
    return resized.clamp_(0.0, 1.0)


class _Frames(Protocol):
    image: torch.Tensor
    landmarks: torch.Tensor | None


@dataclass(frozen=True)
class AnimationOptions:
    relative: bool = False  # demo.py --relative (relative keypoints and jacobians)
    adapt_movement_scale: bool = False  # demo.py --adapt_scale
    best_frame: bool = False  # demo.py --find_best_frame (needs relative)
    align_corners: bool = True  # grid_sample semantics: True = PyTorch 1.0, the released checkpoints' training time


@dataclass(frozen=True)
class FommState:
    """Source-side work (``prepare``) and, in relative mode, the sequence's initial driving keypoints."""

    kp_source: Keypoints
    features: torch.Tensor  # generator encoder output
    small_source: torch.Tensor  # dense-motion network input (anti-aliased source)
    source_heatmaps: torch.Tensor  # dense-motion Gaussians around the source keypoints
    source_landmarks: np.ndarray | None = None  # (68, 2), best-frame mode only
    kp_initial: Keypoints | None = None
    scale: float = 1.0  # movement scale (1 unless adapt_movement_scale)
    best_frame: int | None = None
    best_frame_distances: np.ndarray | None = None
    options: AnimationOptions | None = None  # the sequence's options (begin_sequence); None: the model's own


class FommModel(nn.Module):
    """Keypoint detector and generator of first-order-model with its demo's animation rules."""

    def __init__(
        self,
        config: FommConfig | None = None,
        *,
        relative: bool = False,
        adapt_movement_scale: bool = False,
        best_frame: bool = False,
        align_corners: bool = True,
        landmarks_fn: LandmarksFn | None = None,
        channels_last: bool = True,
        cross_options: AnimationOptions | None = None,
    ) -> None:
        super().__init__()
        if best_frame and not relative:
            raise ValueError("best_frame=True needs relative=True: absolute keypoints never use the initial frame")
        self.config = config or FommConfig.vox256()
        self.options = AnimationOptions(relative, adapt_movement_scale, best_frame, align_corners)
        self.cross_options = cross_options  # options for another identity's driving sequence; None: self.options
        self.landmarks_fn = landmarks_fn
        self.kp_detector = KeypointDetector(self.config)
        self.generator = OcclusionAwareGenerator(self.config)
        # NHWC convolutions: ~10% faster on CPU (oneDNN) than NCHW, same numbers to ~1e-6 (conformance holds)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.to(memory_format=self.memory_format)
        self.eval()

    @classmethod
    def from_checkpoint(cls, path: str | Path, config: FommConfig | None = None, **options: object) -> FommModel:
        model = cls(config, **options)  # type: ignore[arg-type]
        model.load_checkpoint(path)
        return model

    def with_options(self, **changes: bool) -> FommModel:
        """The same networks (shared, not copied) with other animation options, e.g. ``align_corners=False``."""
        options = replace(self.options, **changes)
        if options.best_frame and not options.relative:
            raise ValueError("best_frame=True needs relative=True: absolute keypoints never use the initial frame")
        twin = copy.copy(self)
        twin.options = options
        return twin

    def load_checkpoint(self, path: str | Path) -> FommCheckpoint:
        """Load ``generator`` and ``kp_detector`` of a released-structure file, strictly (keys and shapes)."""
        checkpoint = read_checkpoint(path)
        check_state_dict(self.generator, checkpoint.generator, "generator", checkpoint.path)
        check_state_dict(self.kp_detector, checkpoint.kp_detector, "kp_detector", checkpoint.path)
        self.generator.load_state_dict(checkpoint.generator, strict=True)
        self.kp_detector.load_state_dict(checkpoint.kp_detector, strict=True)
        return checkpoint

    # -- sizes ---------------------------------------------------------------------------------------------------
    def to_model_size(self, image: torch.Tensor) -> torch.Tensor:
        """``image`` resized to the config's ``frame_shape`` (unchanged when it already has that size)."""
        return _resize(image, self.config.frame_shape).contiguous(memory_format=self.memory_format)

    def _landmarks(self, frames: _Frames, what: str) -> np.ndarray:
        if self.landmarks_fn is not None:
            found = self.landmarks_fn(frames.image)
        elif frames.landmarks is not None:
            found = frames.landmarks
        else:
            raise ValueError(
                f"best-frame mode needs 68 landmarks of the {what}: the frames carry none and no landmarks_fn was "
                "given; use a data set with landmarks, pass landmarks_fn=..., or create the model without best_frame"
            )
        array = found.detach().cpu().numpy() if isinstance(found, torch.Tensor) else np.asarray(found)
        if array.shape != (frames.image.shape[0], 68, 2):
            raise ValueError(f"landmarks of the {what} must have shape (N, 68, 2), got {array.shape}")
        return array.astype(np.float32)

    # -- the model protocol ------------------------------------------------------------------------------------
    def prepare(self, source: _Frames) -> FommState:
        """Source keypoints, encoder features and the anti-aliased source, once per avatar."""
        if source.image.shape[0] != 1:
            raise ValueError(f"prepare takes one source frame (N = 1), got {tuple(source.image.shape)}")
        landmarks = self._landmarks(source, "source")[0] if self.options.best_frame else None
        with torch.inference_mode():
            image = self.to_model_size(source.image)
            kp_source = self.kp_detector(image)
            dense_motion = self.generator.dense_motion_network
            small_source = dense_motion.downsample(image)
            return FommState(
                kp_source=kp_source,
                features=self.generator.encode(image),
                small_source=small_source,
                source_heatmaps=dense_motion.source_heatmaps(small_source, kp_source),
                source_landmarks=landmarks,
            )

    @property
    def record_notes(self) -> dict[str, str]:
        """The animation rules, for run records."""

        def describe(options: AnimationOptions) -> str:
            if not options.relative:
                return "absolute keypoints"
            text = "relative keypoints and jacobians"
            text += ", adapted movement scale" if options.adapt_movement_scale else ""
            return text + (", from the best frame by 68 landmarks" if options.best_frame else ", from the first frame")

        cross = self.cross_options or self.options
        height, width = self.config.frame_shape
        return {
            "motion": f"self-reenactment: {describe(self.options)}; cross-reenactment: {describe(cross)}",
            "initial_frame": "self-reenactment: the source frame (motion measured from the source); cross: the "
            "driving sequence's first frame",
            "grid_sample": f"align_corners={self.options.align_corners}",
            "inputs": f"source and driving frames at {width}x{height} (other sizes resized, bilinear antialiased)",
            "output": "full frames aligned with the driving frames (output geometry: frame)",
        }

    def begin_sequence(self, state: FommState, drivers: _Frames, protocol: str = "self") -> FommState:
        """The sequence's options (``cross_options`` for another identity); in relative mode the initial driving
        keypoints from frame 0 of ``drivers``, or from the best frame, and the movement scale."""
        options = self.cross_options if protocol == "cross" and self.cross_options is not None else self.options
        state = replace(state, options=options)
        if not options.relative:
            return state
        index, distances = 0, None
        if options.best_frame:
            source = state.source_landmarks
            if source is None:
                raise ValueError("best-frame mode: the state has no source landmarks; prepare it with this model")
            distances = best_frame_distances(source, self._landmarks(drivers, "driving frames"))
            index = int(np.argmin(distances))
        with torch.inference_mode():
            kp_initial = self.kp_detector(self.to_model_size(drivers.image[index : index + 1]))
        scale = movement_scale(state.kp_source, kp_initial) if options.adapt_movement_scale else 1.0
        return replace(state, kp_initial=kp_initial, scale=scale, best_frame=index, best_frame_distances=distances)

    def animate(self, state: FommState, driver: _Frames) -> torch.Tensor:
        """(N, 3, H, W) predictions in [0, 1] at the driver's resolution."""
        options = state.options or self.options
        if options.relative and state.kp_initial is None:
            state = self.begin_sequence(state, driver)
        with torch.inference_mode():
            image = self.to_model_size(driver.image)
            kp_driving = self.kp_detector(image)
            kp_norm = normalize_keypoints(
                state.kp_source, kp_driving, state.kp_initial, relative=options.relative, scale=state.scale
            )
            align = options.align_corners
            motion = self.generator.dense_motion_network(
                state.small_source, kp_norm, state.kp_source, align_corners=align, source_heatmaps=state.source_heatmaps
            )
            prediction = self.generator.decode(self.generator.warp(state.features, motion, align_corners=align))
            return _resize(prediction, tuple(driver.image.shape[-2:])).contiguous()
