"""Building blocks of FOMM's networks: conv-BN-ReLU blocks, the hourglass, anti-aliased downsampling, grids.

Attribute names (``conv``, ``norm``, ``conv1``/``norm1``, ``encoder.down_blocks``, ``decoder.up_blocks``,
``down.weight``) and their registration order make the state_dict keys equal those of the original
checkpoints. BatchNorm runs on running statistics (``eval()``), as at inference in the original code.
"""

from __future__ import annotations

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
    "gaussian_kernel",
    "subsampling_step",
]


def coordinate_grid(height: int, width: int, *, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(H, W, 2) grid of (x, y) in [-1, 1], -1 and +1 at the centres of the first and last pixel.

    Pixel ``i`` of an axis of ``n`` pixels sits at ``i / (n - 1) * 2 - 1`` (computed in that order, which is
    bit-exact with the original code; ``torch.linspace`` differs from it by an ulp at some positions).
    """

    def axis(n: int) -> torch.Tensor:
        return torch.arange(n, dtype=dtype, device=device) / (n - 1) * 2 - 1

    y, x = torch.meshgrid(axis(height), axis(width), indexing="ij")
    return torch.stack([x, y], dim=-1)


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


class Hourglass(nn.Module):
    """U-Net: ``num_blocks`` down blocks, then as many up blocks, each up block's output concatenated with the
    encoder feature of its resolution (the input image itself at the top).

    Level ``l`` has ``min(max_features, block_expansion * 2**l)`` channels; the output has that width at level 0
    plus ``in_features``. The blocks live in ``encoder.down_blocks`` and ``decoder.up_blocks`` (checkpoint keys).
    """

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int, max_features: int) -> None:
        super().__init__()
        widths = [min(max_features, block_expansion * 2**level) for level in range(num_blocks + 1)]
        down_in = [in_features, *widths[1:num_blocks]]
        # bottom-up: the first up block reads the bottleneck only, the others also the skip of the level below
        up_in = [widths[num_blocks], *(2 * w for w in reversed(widths[1:num_blocks]))]
        up_out = list(reversed(widths[:num_blocks]))
        downs = nn.ModuleList(DownBlock(i, o) for i, o in zip(down_in, widths[1:], strict=True))
        ups = nn.ModuleList(UpBlock(i, o) for i, o in zip(up_in, up_out, strict=True))
        self.encoder = nn.ModuleDict({"down_blocks": downs})
        self.decoder = nn.ModuleDict({"up_blocks": ups})
        self.out_filters = widths[0] + in_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [x]
        for down in self.encoder["down_blocks"]:
            skips.append(down(skips[-1]))
        out = skips.pop()
        for up, skip in zip(self.decoder["up_blocks"], reversed(skips), strict=True):
            out = torch.cat([up(out), skip], dim=1)
        return out


def subsampling_step(scale: float) -> int:
    """The integer step ``k`` with ``scale == 1 / k`` (k >= 2); ValueError for any other scale."""
    step = round(1 / scale) if scale > 0 else 0
    if step < 2 or abs(step * scale - 1) > 1e-6:
        raise ValueError(
            f"anti-aliased downsampling takes every k-th pixel, so scale_factor must be 1/k for an integer k >= 2 "
            f"(0.5, 0.25, ...) or 1 for none; got {scale}"
        )
    return step


def gaussian_kernel(scale: float) -> torch.Tensor:
    """The normalised 2-D Gaussian of the anti-alias filter for ``scale``: sigma = (1/scale - 1) / 2, odd side
    2 * round(4 sigma) + 1, the outer product of one 1-D profile with itself (float32)."""
    sigma = (1 / scale - 1) / 2
    radius = round(4 * sigma)
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    profile = torch.exp(-(offsets**2) / (2 * sigma**2))
    kernel = torch.outer(profile, profile)
    return kernel / kernel.sum()


class AntiAliasDownsample(nn.Module):
    """Gaussian blur (zero padding, output the size of the input) then every ``k``-th pixel from the first, for
    ``scale = 1/k``: ``blur(x)[..., ::k, ::k]``, ``ceil(H / k)`` by ``ceil(W / k)`` pixels for any input size (63
    rows at 250 for scale 0.25). That is the arithmetic of the original code. Only scales ``1/k`` with an integer
    ``k >= 2`` are accepted (a ValueError otherwise): every released config uses 0.25.

    The blur is evaluated only where the subsampling reads it (one strided depthwise convolution). The kernel is a
    buffer named ``weight`` (C, 1, side, side): it is in the original state_dicts.
    """

    weight: torch.Tensor

    def __init__(self, channels: int, scale: float) -> None:
        super().__init__()
        self.step = subsampling_step(scale)
        kernel = gaussian_kernel(scale)
        self.register_buffer("weight", kernel.expand(channels, 1, *kernel.shape).clone())
        self.padding = kernel.shape[-1] // 2
        self.channels = channels
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, stride=self.step, padding=self.padding, groups=self.channels)
