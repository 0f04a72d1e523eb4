"""FOMM's dense motion network: from sparse keypoint motions to a dense backward deformation and an occlusion map.

Per keypoint k the local affine motion T_k(z) = J_s,k inv(J_d,k) (z - p_d,k) + p_s,k (plus the identity for the
background slot 0) warps the anti-aliased source; an hourglass over [heatmap difference, warped source] per slot
predicts a softmax mask over the K+1 slots, and the deformation is the mask-weighted sum of the slot motions.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from baselines.fomm.blocks import AntiAliasDownsample, Hourglass, coordinate_grid, gaussian_heatmaps
from baselines.fomm.config import FommConfig
from baselines.fomm.keypoints import Keypoints

__all__ = ["DenseMotion", "DenseMotionNetwork", "sample_per_slot"]


@dataclass(frozen=True)
class DenseMotion:
    """``deformation`` (N, h, w, 2) (x, y) source coordinates; ``occlusion`` (N, 1, h, w) or None; debug outputs:
    ``mask`` (N, K+1, h, w), ``sparse_deformed`` (N, K+1, C, h, w), ``hourglass_input`` (N, (K+1)(C+1), h, w)."""

    deformation: torch.Tensor
    occlusion: torch.Tensor | None
    mask: torch.Tensor
    sparse_deformed: torch.Tensor
    hourglass_input: torch.Tensor


def sample_per_slot(image: torch.Tensor, grid: torch.Tensor, align_corners: bool) -> torch.Tensor:
    """Bilinear samples of ``image`` (1 or N, C, H, W) at ``grid`` (N, S, h, w, 2): (N, S, C, h, w).

    A single image is sampled once with all grids stacked along the height, so the source is never copied per
    slot or per frame (each output pixel is the same bilinear combination as with a repeated source).
    """
    n, slots, h, w, _ = grid.shape
    channels = image.shape[1]
    if image.shape[0] == 1:
        out = F.grid_sample(image, grid.reshape(1, n * slots * h, w, 2), align_corners=align_corners)
        return out.view(channels, n, slots, h, w).permute(1, 2, 0, 3, 4)
    repeated = image[:, None].expand(n, slots, *image.shape[1:]).reshape(n * slots, *image.shape[1:])
    out = F.grid_sample(repeated, grid.reshape(n * slots, h, w, 2), align_corners=align_corners)
    return out.view(n, slots, channels, h, w)


class DenseMotionNetwork(nn.Module):
    """The original ``DenseMotionNetwork`` (state_dict keys ``hourglass``, ``mask``, ``occlusion``, ``down``)."""

    def __init__(self, config: FommConfig) -> None:
        super().__init__()
        params = config.generator.dense_motion
        self.num_kp = config.num_kp
        slot_channels = config.num_channels + 1
        self.hourglass = Hourglass(
            params.block_expansion, (config.num_kp + 1) * slot_channels, params.num_blocks, params.max_features
        )
        features = self.hourglass.out_filters
        self.mask = nn.Conv2d(features, config.num_kp + 1, kernel_size=7, padding=3)
        self.occlusion = (
            nn.Conv2d(features, 1, kernel_size=7, padding=3) if config.generator.estimate_occlusion_map else None
        )
        self.kp_variance = params.kp_variance
        scale = params.scale_factor
        self.down = AntiAliasDownsample(config.num_channels, scale) if scale != 1 else None

    def downsample(self, source: torch.Tensor) -> torch.Tensor:
        """The anti-aliased source the network works on (depends on the source only)."""
        return source if self.down is None else self.down(source)

    def sparse_motions(self, grid: torch.Tensor, kp_driving: Keypoints, kp_source: Keypoints) -> torch.Tensor:
        """(N, K+1, h, w, 2): slot 0 the identity, slot k the local affine motion of keypoint k."""
        n = kp_driving.value.shape[0]
        relative = grid - kp_driving.value[:, :, None, None, :]  # (N, K, h, w, 2)
        if kp_driving.jacobian is not None and kp_source.jacobian is not None:
            affine = torch.matmul(kp_source.jacobian, torch.linalg.inv(kp_driving.jacobian))
            relative = torch.einsum("nkij,nkhwj->nkhwi", affine.expand(n, -1, -1, -1), relative)
        motions = relative + kp_source.value[:, :, None, None, :]
        identity = grid.expand(n, 1, *grid.shape)
        return torch.cat([identity, motions], dim=1)

    def source_heatmaps(self, small_source: torch.Tensor, kp_source: Keypoints) -> torch.Tensor:
        """Gaussians (1, K, h, w) around the source keypoints (depends on the source only)."""
        h, w = small_source.shape[-2:]
        grid = coordinate_grid(h, w, dtype=small_source.dtype, device=small_source.device)
        return gaussian_heatmaps(kp_source.value, grid, self.kp_variance)

    def forward(
        self,
        small_source: torch.Tensor,
        kp_driving: Keypoints,
        kp_source: Keypoints,
        *,
        align_corners: bool = True,
        source_heatmaps: torch.Tensor | None = None,
    ) -> DenseMotion:
        """``small_source`` is :meth:`downsample` of the source (batch 1, or one per driving keypoint set);
        ``source_heatmaps`` is :meth:`source_heatmaps`, computed here when not given."""
        n = kp_driving.value.shape[0]
        h, w = small_source.shape[-2:]
        grid = coordinate_grid(h, w, dtype=small_source.dtype, device=small_source.device)
        if source_heatmaps is None:
            source_heatmaps = self.source_heatmaps(small_source, kp_source)
        difference = gaussian_heatmaps(kp_driving.value, grid, self.kp_variance) - source_heatmaps
        heatmaps = torch.cat([difference.new_zeros(n, 1, h, w), difference], dim=1)
        motions = self.sparse_motions(grid, kp_driving, kp_source)
        deformed = sample_per_slot(small_source, motions, align_corners)
        hourglass_input = torch.cat([heatmaps[:, :, None], deformed], dim=2).reshape(n, -1, h, w)
        prediction = self.hourglass(hourglass_input)
        mask = F.softmax(self.mask(prediction), dim=1)
        deformation = (mask[..., None] * motions).sum(dim=1)
        occlusion = None if self.occlusion is None else torch.sigmoid(self.occlusion(prediction))
        return DenseMotion(deformation, occlusion, mask, deformed, hourglass_input)
