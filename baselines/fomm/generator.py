"""FOMM's occlusion-aware generator, split into its source-only part (:meth:`encode`) and its per-frame part
(:meth:`warp` + :meth:`decode`), so that a source's features are computed once per avatar."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from baselines.fomm.blocks import DownBlock, ResBlock, SameBlock, UpBlock
from baselines.fomm.config import FommConfig
from baselines.fomm.dense_motion import DenseMotion, DenseMotionNetwork, sample_per_slot
from baselines.fomm.keypoints import Keypoints

__all__ = ["OcclusionAwareGenerator", "resize_deformation"]


def resize_deformation(deformation: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize (align_corners=False) of a (N, h, w, 2) deformation to ``size``, as the original does."""
    if tuple(deformation.shape[1:3]) == tuple(size):
        return deformation
    resized = F.interpolate(deformation.permute(0, 3, 1, 2), size=size, mode="bilinear", align_corners=False)
    return resized.permute(0, 2, 3, 1)


class OcclusionAwareGenerator(nn.Module):
    """The original ``OcclusionAwareGenerator`` (state_dict keys ``dense_motion_network``, ``first``,
    ``down_blocks``, ``up_blocks``, ``bottleneck.r{i}``, ``final``)."""

    def __init__(self, config: FommConfig) -> None:
        super().__init__()
        params = config.generator

        def width(level: int) -> int:
            return min(params.max_features, params.block_expansion * 2**level)

        levels = params.num_down_blocks
        self.dense_motion_network = DenseMotionNetwork(config)
        self.first = SameBlock(config.num_channels, params.block_expansion, kernel_size=7, padding=3)
        self.down_blocks = nn.ModuleList(DownBlock(width(i), width(i + 1)) for i in range(levels))
        self.up_blocks = nn.ModuleList(UpBlock(width(levels - i), width(levels - i - 1)) for i in range(levels))
        self.bottleneck = nn.Sequential()
        for i in range(params.num_bottleneck_blocks):
            self.bottleneck.add_module(f"r{i}", ResBlock(width(levels)))
        self.final = nn.Conv2d(params.block_expansion, config.num_channels, kernel_size=7, padding=3)

    def encode(self, source: torch.Tensor) -> torch.Tensor:
        """Features of the source (first block and down blocks): per-avatar work."""
        out = self.first(source)
        for block in self.down_blocks:
            out = block(out)
        return out

    def warp(self, features: torch.Tensor, motion: DenseMotion, *, align_corners: bool = True) -> torch.Tensor:
        """Features (1 or N, C, H, W) sampled along the deformation and multiplied by the occlusion map."""
        size = features.shape[-2:]
        deformation = resize_deformation(motion.deformation, size)
        warped = sample_per_slot(features, deformation[:, None], align_corners)[:, 0]
        if motion.occlusion is not None:
            occlusion = motion.occlusion
            if occlusion.shape[-2:] != size:
                occlusion = F.interpolate(occlusion, size=size, mode="bilinear", align_corners=False)
            warped = warped * occlusion
        return warped

    def decode(self, features: torch.Tensor) -> torch.Tensor:
        """Bottleneck residual blocks, up blocks, 7x7 conv and sigmoid: the predicted frame in [0, 1]."""
        out = self.bottleneck(features)
        for block in self.up_blocks:
            out = block(out)
        return torch.sigmoid(self.final(out))

    def forward(
        self, source: torch.Tensor, kp_driving: Keypoints, kp_source: Keypoints, *, align_corners: bool = True
    ) -> dict[str, torch.Tensor]:
        """The original call ``generator(source, kp_driving, kp_source)`` with all its outputs (``prediction``,
        ``deformed``, ``mask``, ``sparse_deformed``, ``occlusion_map``) plus ``deformation``, ``dm_down_source``
        and ``dm_hourglass_input``."""
        small = self.dense_motion_network.downsample(source)
        motion = self.dense_motion_network(small, kp_driving, kp_source, align_corners=align_corners)
        prediction = self.decode(self.warp(self.encode(source), motion, align_corners=align_corners))
        full = resize_deformation(motion.deformation, tuple(source.shape[-2:]))
        outputs = {
            "prediction": prediction,
            "deformed": sample_per_slot(source, full[:, None], align_corners)[:, 0],
            "mask": motion.mask,
            "sparse_deformed": motion.sparse_deformed,
            "deformation": motion.deformation,
            "dm_down_source": small,
            "dm_hourglass_input": motion.hourglass_input,
        }
        if motion.occlusion is not None:
            outputs["occlusion_map"] = motion.occlusion
        return outputs
