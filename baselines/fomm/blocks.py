"""Building blocks of FOMM's networks: conv-BN-ReLU blocks, the hourglass, anti-aliased downsampling, grids.

Attribute names (``conv``, ``norm``, ``conv1``/``norm1``, ``encoder.down_blocks``, ``decoder.up_blocks``,
``down.weight``) and their registration order make the state_dict keys equal those of the original
checkpoints. BatchNorm runs on running statistics (``eval()``), as at inference in the original code.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "AntiAliasDownsample",
    "DownBlock",
    "Hourglass",
    "ResBlock",
    "SameBlock",
    "UpBlock",
    "coordinate_grid",
    "gaussian_heatmaps",
]


def coordinate_grid(height: int, width: int, *, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(H, W, 2) grid of (x, y) in [-1, 1], -1 and +1 at the centres of the first and last pixel."""
    x = torch.arange(width, dtype=dtype, device=device)
    y = torch.arange(height, dtype=dtype, device=device)
    x = 2 * (x / (width - 1)) - 1
    y = 2 * (y / (height - 1)) - 1
    return torch.stack([x.view(1, -1).expand(height, width), y.view(-1, 1).expand(height, width)], dim=-1)


def gaussian_heatmaps(points: torch.Tensor, grid: torch.Tensor, variance: float) -> torch.Tensor:
    """exp(-|z - p|^2 / (2 variance)) on ``grid`` (H, W, 2) for ``points`` (..., 2): shape (..., H, W)."""
    difference = grid - points[..., None, None, :]
    return torch.exp(-0.5 * difference.pow(2).sum(-1) / variance)


class SameBlock(nn.Module):
    """Conv -> BatchNorm -> ReLU at constant resolution."""

    def __init__(self, in_features: int, out_features: int, kernel_size: int = 3, padding: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size, padding=padding)
        self.norm = nn.BatchNorm2d(out_features, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.norm(self.conv(x)))


class DownBlock(SameBlock):
    """Conv -> BatchNorm -> ReLU -> 2x2 average pooling."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(super().forward(x), kernel_size=2)


class UpBlock(SameBlock):
    """Nearest-neighbour x2 upsampling -> conv -> BatchNorm -> ReLU."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class ResBlock(nn.Module):
    """Pre-activation residual block: x + conv2(relu(bn2(conv1(relu(bn1(x))))))."""

    def __init__(self, features: int, kernel_size: int = 3, padding: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, kernel_size, padding=padding)
        self.conv2 = nn.Conv2d(features, features, kernel_size, padding=padding)
        self.norm1 = nn.BatchNorm2d(features, affine=True)
        self.norm2 = nn.BatchNorm2d(features, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(F.relu(self.norm1(x)))
        out = self.conv2(F.relu(self.norm2(out)))
        return out + x


def _width(block_expansion: int, max_features: int, level: int) -> int:
    return min(max_features, block_expansion * 2**level)


class _HourglassEncoder(nn.Module):
    def __init__(self, block_expansion: int, in_features: int, num_blocks: int, max_features: int) -> None:
        super().__init__()
        self.down_blocks = nn.ModuleList(
            DownBlock(in_features if i == 0 else _width(block_expansion, max_features, i),
                      _width(block_expansion, max_features, i + 1))
            for i in range(num_blocks)
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs = [x]
        for block in self.down_blocks:
            outputs.append(block(outputs[-1]))
        return outputs


class _HourglassDecoder(nn.Module):
    def __init__(self, block_expansion: int, num_blocks: int, max_features: int) -> None:
        super().__init__()
        blocks = []
        for i in reversed(range(num_blocks)):
            skip = 1 if i == num_blocks - 1 else 2  # every block but the first also takes the skip connection
            blocks.append(UpBlock(skip * _width(block_expansion, max_features, i + 1),
                                  _width(block_expansion, max_features, i)))  # fmt: skip
        self.up_blocks = nn.ModuleList(blocks)

    def forward(self, skips: list[torch.Tensor]) -> torch.Tensor:
        out = skips[-1]
        for block, skip in zip(self.up_blocks, reversed(skips[:-1]), strict=True):
            out = torch.cat([block(out), skip], dim=1)
        return out


class Hourglass(nn.Module):
    """U-Net style encoder/decoder; the output has ``block_expansion + in_features`` channels."""

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int, max_features: int) -> None:
        super().__init__()
        self.encoder = _HourglassEncoder(block_expansion, in_features, num_blocks, max_features)
        self.decoder = _HourglassDecoder(block_expansion, num_blocks, max_features)
        self.out_filters = block_expansion + in_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


def _gaussian_kernel(scale: float) -> tuple[torch.Tensor, int, int]:
    sigma = (1 / scale - 1) / 2
    size = 2 * round(sigma * 4) + 1
    before = size // 2
    after = before - 1 if size % 2 == 0 else before
    position = torch.arange(size, dtype=torch.float32)
    profile = torch.exp(-((position - (size - 1) / 2) ** 2) / (2 * sigma**2))
    kernel = profile[:, None] * profile[None, :]
    return kernel / kernel.sum(), before, after


class AntiAliasDownsample(nn.Module):
    """Gaussian blur (sigma = (1/scale - 1)/2, zero padding) then nearest-neighbour subsampling by ``scale``.

    The kernel is a buffer named ``weight`` (it is in the original state_dicts). When ``1/scale`` is an integer the
    blur is evaluated only where the subsampling reads it (a strided convolution); this is the same arithmetic as
    blurring everything and then taking every ``1/scale``-th pixel.
    """

    weight: torch.Tensor

    def __init__(self, channels: int, scale: float) -> None:
        super().__init__()
        kernel, self.pad_before, self.pad_after = _gaussian_kernel(scale)
        self.register_buffer("weight", kernel.expand(channels, 1, *kernel.shape).clone())
        self.channels = channels
        self.scale = scale
        inverse = 1 / scale
        self.stride = round(inverse) if abs(inverse - round(inverse)) < 1e-9 else 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.scale == 1.0:
            return x
        padded = F.pad(x, (self.pad_before, self.pad_after, self.pad_before, self.pad_after))
        if self.stride:
            out = F.conv2d(padded, self.weight, stride=self.stride, groups=self.channels)
            height, width = (math.floor(s * self.scale) for s in x.shape[-2:])
            return out[..., :height, :width]
        out = F.conv2d(padded, self.weight, groups=self.channels)
        return F.interpolate(out, scale_factor=(self.scale, self.scale), mode="nearest")
