"""First Order Motion Model (Siarohin et al., NeurIPS 2019), reimplemented: keypoint detector, dense motion
network, occlusion-aware generator, loading of the released ``vox-cpk.pth.tar`` and the demo's animation modes.

State_dict keys equal the original ones, so released checkpoints load strictly. Depends on torch, numpy and
scipy only. Typical use::

    model = FommModel.from_checkpoint("vox-cpk.pth.tar", FommConfig.vox256(), relative=True, adapt_movement_scale=True)
    state = model.begin_sequence(model.prepare(source), drivers)
    frames = model.animate(state, drivers)
"""

from baselines.fomm.animation import best_frame, best_frame_distances, movement_scale, normalize_keypoints
from baselines.fomm.checkpoint import FommCheckpoint, FommCheckpointError, read_checkpoint, save_checkpoint
from baselines.fomm.config import (
    DenseMotionParams,
    FommConfig,
    FommConfigError,
    GeneratorParams,
    KeypointDetectorParams,
)
from baselines.fomm.dense_motion import DenseMotion, DenseMotionNetwork
from baselines.fomm.generator import OcclusionAwareGenerator
from baselines.fomm.keypoints import KeypointDetector, Keypoints
from baselines.fomm.model import AnimationOptions, FommModel, FommState

__all__ = [
    "AnimationOptions",
    "DenseMotion",
    "DenseMotionNetwork",
    "DenseMotionParams",
    "FommCheckpoint",
    "FommCheckpointError",
    "FommConfig",
    "FommConfigError",
    "FommModel",
    "FommState",
    "GeneratorParams",
    "KeypointDetector",
    "KeypointDetectorParams",
    "Keypoints",
    "OcclusionAwareGenerator",
    "best_frame",
    "best_frame_distances",
    "movement_scale",
    "normalize_keypoints",
    "read_checkpoint",
    "save_checkpoint",
]
