"""Factories registered in the model registry (``fomm.vox256``, ``fomm.vox256.absolute``,
``fomm.vox256.relative``, ``fomm.vox256.best-frame``, ``fomm.vox256.adv``, ``fomm.tiny``), each called as
``factory(weights=..., seed=...)``.

``fomm.vox256`` animates as FOMM's authors do for each protocol: absolute keypoints to reconstruct a video of the
same person (their reconstruction protocol), relative keypoints and jacobians with the adapted movement scale to
animate another identity (``demo.py --relative --adapt_scale``); ``fomm.vox256.absolute`` uses absolute keypoints
for both.

``weights`` maps the weight-registry name ``"fomm.vox-cpk"`` to the released ``vox-cpk.pth.tar`` (for
``fomm.vox256.adv``: ``"fomm.vox-adv-cpk"`` to ``vox-adv-cpk.pth.tar``, the same architecture trained with the
adversarial loss, config ``vox-adv-256.yaml``); ``None`` means random initialisation (PyTorch's defaults, as the
original code initialises) seeded by ``seed``, without touching the caller's global random state.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from baselines.fomm.checkpoint import FommCheckpointError
from baselines.fomm.config import DenseMotionParams, FommConfig, GeneratorParams, KeypointDetectorParams
from baselines.fomm.model import AnimationOptions, FommModel, LandmarksFn

__all__ = [
    "WEIGHTS_NAME",
    "create_tiny",
    "create_vox256",
    "create_vox256_absolute",
    "create_vox256_adv",
    "create_vox256_best_frame",
    "create_vox256_relative",
    "tiny_config",
]

WEIGHTS_NAME = "fomm.vox-cpk"
ADV_WEIGHTS_NAME = "fomm.vox-adv-cpk"  # vox-adv-cpk.pth.tar: vox-adv-256.yaml has vox-256's generator and kp_detector
# demo.py --relative --adapt_scale: the authors' setting for animating another identity
DEMO_CROSS = AnimationOptions(relative=True, adapt_movement_scale=True)


def tiny_config() -> FommConfig:
    """A small config like the conformance ``config_small.json`` (64x64 frames), for CPU tests."""
    return FommConfig(
        num_kp=10,
        kp_detector=KeypointDetectorParams(block_expansion=8, max_features=32, num_blocks=3),
        generator=GeneratorParams(
            block_expansion=8,
            max_features=32,
            num_bottleneck_blocks=2,
            dense_motion=DenseMotionParams(block_expansion=8, max_features=32, num_blocks=3),
        ),
        frame_shape=(64, 64),
    )


def _build(
    config: FommConfig,
    weights: Mapping[str, Path] | None,
    seed: int,
    landmarks_fn: LandmarksFn | None = None,
    weights_name: str = WEIGHTS_NAME,
    **options: bool | AnimationOptions,
) -> FommModel:
    if weights is not None and weights_name not in weights:
        file = "vox-adv-cpk.pth.tar" if weights_name == ADV_WEIGHTS_NAME else "vox-cpk.pth.tar"
        raise FommCheckpointError(
            f"no {weights_name!r} in the weights given ({', '.join(weights) or 'none'}); pass "
            f"weights={{{weights_name!r}: Path({file!r})}} or weights=None for random weights"
        )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = FommModel(config, landmarks_fn=landmarks_fn, **options)
    if weights is not None:
        model.load_checkpoint(weights[weights_name])
    return model


def create_vox256(weights: Mapping[str, Path] | None = None, seed: int = 0) -> FommModel:
    """vox-256: absolute keypoints in self-reenactment (FOMM's reconstruction protocol), relative keypoints with
    the adapted movement scale in cross-reenactment (the demo's setting for another identity)."""
    return _build(FommConfig.vox256(), weights, seed, cross_options=DEMO_CROSS)


def create_vox256_adv(weights: Mapping[str, Path] | None = None, seed: int = 0) -> FommModel:
    """:func:`create_vox256` with ``vox-adv-cpk.pth.tar``: absolute keypoints in self-reenactment, relative with the
    adapted movement scale in cross-reenactment."""
    return _build(FommConfig.vox256(), weights, seed, weights_name=ADV_WEIGHTS_NAME, cross_options=DEMO_CROSS)


def create_vox256_absolute(weights: Mapping[str, Path] | None = None, seed: int = 0) -> FommModel:
    """vox-256 with absolute keypoints in both protocols."""
    return _build(FommConfig.vox256(), weights, seed)


def create_vox256_relative(weights: Mapping[str, Path] | None = None, seed: int = 0) -> FommModel:
    """vox-256 with relative keypoints and adapted movement scale (``demo.py --relative --adapt_scale``)."""
    return _build(FommConfig.vox256(), weights, seed, relative=True, adapt_movement_scale=True)


FAN_NAMES = ("face-alignment.2dfan4", "face-alignment.s3fd")


def create_vox256_best_frame(
    weights: Mapping[str, Path] | None = None, seed: int = 0, landmarks_fn: LandmarksFn | None = None
) -> FommModel:
    """As :func:`create_vox256_relative`, from the best frame (``--find_best_frame``). Landmarks come from
    ``landmarks_fn`` if given, else from face-alignment when its two files are in ``weights`` (as the demo
    does), else from the frames' own (the data set's) landmarks."""
    if landmarks_fn is None and weights is not None and all(name in weights for name in FAN_NAMES):
        from baselines.landmarks import FaceAlignmentLandmarks

        landmarks_fn = FaceAlignmentLandmarks(weights[FAN_NAMES[0]], weights[FAN_NAMES[1]])
    return _build(
        FommConfig.vox256(), weights, seed, landmarks_fn, relative=True, adapt_movement_scale=True, best_frame=True
    )


def create_tiny(weights: Mapping[str, Path] | None = None, seed: int = 0) -> FommModel:
    """:func:`tiny_config` with random weights and the animation rules of ``fomm.vox256``: real forward passes in
    milliseconds."""
    if weights:
        raise FommCheckpointError("fomm.tiny has random weights by design; call create_tiny(weights=None)")
    return _build(tiny_config(), None, seed, cross_options=DEMO_CROSS)
