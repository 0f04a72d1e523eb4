"""FOMM's keypoint detector: an hourglass predicts K heatmaps; keypoints are their soft-argmax, and the local
jacobians are the heatmap-weighted averages of a 4K-channel jacobian head."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from baselines.fomm.blocks import AntiAliasDownsample, Hourglass, coordinate_grid
from baselines.fomm.config import FommConfig

__all__ = ["KeypointDetector", "Keypoints"]


@dataclass(frozen=True)
class Keypoints:
    """``value`` (N, K, 2) (x, y) in [-1, 1]; ``jacobian`` (N, K, 2, 2) or None when not estimated."""

    value: torch.Tensor
    jacobian: torch.Tensor | None = None

    def __getitem__(self, index: int | slice) -> Keypoints:
        if isinstance(index, int):
            index = slice(index, index + 1)
        return Keypoints(self.value[index], None if self.jacobian is None else self.jacobian[index])


class KeypointDetector(nn.Module):
    """The original ``KPDetector`` (same state_dict keys: ``predictor``, ``kp``, ``jacobian``, ``down``)."""

    def __init__(self, config: FommConfig) -> None:
        super().__init__()
        params = config.kp_detector
        self.predictor = Hourglass(params.block_expansion, config.num_channels, params.num_blocks, params.max_features)
        features = self.predictor.out_filters
        self.kp = nn.Conv2d(features, config.num_kp, kernel_size=7, padding=params.pad)
        self.num_jacobian_maps = (1 if params.single_jacobian_map else config.num_kp) if config.estimate_jacobian else 0
        self.jacobian: nn.Conv2d | None = None
        if self.num_jacobian_maps:
            self.jacobian = nn.Conv2d(features, 4 * self.num_jacobian_maps, kernel_size=7, padding=params.pad)
            # Random-weight models start from identity jacobians, as the original initialises the head; loaded
            # weights replace this.
            nn.init.zeros_(self.jacobian.weight)
            with torch.no_grad():
                self.jacobian.bias.copy_(torch.eye(2).flatten().repeat(self.num_jacobian_maps))
        self.temperature = params.temperature
        self.down = AntiAliasDownsample(config.num_channels, params.scale_factor) if params.scale_factor != 1 else None

    def forward(self, image: torch.Tensor) -> Keypoints:
        return self.detect(image)[0]

    def detect(self, image: torch.Tensor) -> tuple[Keypoints, dict[str, torch.Tensor]]:
        """Keypoints and the intermediates: ``down`` (network input), ``logits`` (before the temperature) and
        ``jacobian_map`` (raw jacobian head, channel 4k+j = entry j of keypoint k, row-major 2x2)."""
        small = image if self.down is None else self.down(image)
        features = self.predictor(small)
        logits = self.kp(features)
        n, k, h, w = logits.shape
        heatmap = F.softmax(logits.reshape(n, k, h * w) / self.temperature, dim=2)
        grid = coordinate_grid(h, w, dtype=heatmap.dtype, device=heatmap.device).reshape(h * w, 2)
        value = (heatmap[..., None] * grid).sum(dim=2)
        intermediates = {"down": small, "logits": logits}
        jacobian = None
        if self.jacobian is not None:
            jacobian_map = self.jacobian(features)
            intermediates["jacobian_map"] = jacobian_map
            maps = jacobian_map.reshape(n, self.num_jacobian_maps, 4, h * w)
            jacobian = (heatmap[:, :, None, :] * maps).sum(dim=-1).reshape(n, k, 2, 2)
        return Keypoints(value, jacobian), intermediates
