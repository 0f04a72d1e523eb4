"""Building blocks of the bi-layer networks, laid out so that parameter names match the released checkpoints.

* :class:`ResBlock`: the pre-activation residual block of the original code. Its layers live in three
  ``nn.Sequential`` containers, ``block_feats`` (norm, activation, [upsample], conv, norm, activation),
  ``block`` ([upsample], conv, [downsample]) and ``skip`` ([upsample], 1x1 conv, [downsample]), with
  parameter-free layers (activations, resampling) occupying their own indices as in the checkpoints.
* :class:`AdaptiveConv1x1`: a 1x1 convolution whose weight and bias are predicted per avatar.
* :class:`AdaptiveNorm`: batch normalisation without affine parameters, followed by a per-avatar affine
  transform that is either predicted directly (``ada_bn``) or computed by two adaptive 1x1 convolutions from
  learned pixel-wise features (``ada_spade_bn``).

Adaptive parameters are tensors with a leading avatar dimension ``B``; the activations of ``B * T`` frames
are grouped avatar-major, so that frame ``k`` uses avatar ``k // T``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import torch
from torch import nn

__all__ = ["AdaptiveConv1x1", "AdaptiveNorm", "ResBlock", "adaptive_modules", "leaky_relu", "spade_norms"]

NormType = Literal["none", "bn", "ada_bn", "ada_spade_bn"]
Resize = Literal["none", "up", "down"]
NEGATIVE_SLOPE = 0.2


def leaky_relu() -> nn.LeakyReLU:
    """The activation of every bi-layer network (slope 0.2), out of place: a block's input stays intact for its
    skip connection whatever precedes the activation."""
    return nn.LeakyReLU(NEGATIVE_SLOPE)


def _per_frame(params: torch.Tensor, frames: int) -> torch.Tensor:
    """Expand per-avatar parameters (B, ...) to (B * T, ...) for ``frames = B * T`` activations."""
    avatars = params.shape[0]
    if avatars == frames:
        return params
    if avatars == 1:
        return params.expand(frames, *params.shape[1:])
    per_avatar = frames // avatars
    return params[:, None].expand(avatars, per_avatar, *params.shape[1:]).reshape(frames, *params.shape[1:])


class AdaptiveConv1x1(nn.Module):
    """1x1 convolution with per-avatar weight (B, C_out, C_in, 1, 1) and bias (B, C_out), set by a projector."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.weight: torch.Tensor | None = None
        self.bias: torch.Tensor | None = None

    def assign(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        expected = (self.out_channels, self.in_channels, 1, 1)
        if tuple(weight.shape[1:]) != expected or tuple(bias.shape[1:]) != (self.out_channels,):
            raise ValueError(
                f"adaptive conv expects weight (B, {expected}) and bias (B, {self.out_channels}), "
                f"got {tuple(weight.shape)} and {tuple(bias.shape)}"
            )
        self.weight, self.bias = weight, bias

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.weight is None or self.bias is None:
            raise RuntimeError("adaptive parameters are not assigned; run the projector first")
        frames = inputs.shape[0]
        weight = _per_frame(self.weight[:, :, :, 0, 0], frames)  # (N, C_out, C_in)
        bias = _per_frame(self.bias, frames)
        flat = inputs.reshape(frames, inputs.shape[1], -1)  # (N, C_in, HW)
        out = torch.baddbmm(bias[:, :, None], weight, flat)
        return out.view(frames, self.out_channels, *inputs.shape[2:])


class AdaptiveNorm(nn.Module):
    """BatchNorm (no affine, running statistics) followed by a per-avatar affine transform."""

    def __init__(self, channels: int, spatial_size: int, kind: Literal["ada_bn", "ada_spade_bn"], eps: float) -> None:
        super().__init__()
        self.kind = kind
        self.channels = channels
        if kind == "ada_spade_bn":
            self.pixel_feats = nn.Parameter(torch.empty(1, channels, spatial_size, spatial_size))
            nn.init.kaiming_uniform_(self.pixel_feats, a=5**0.5)
            self.conv_weight = AdaptiveConv1x1(channels, channels)
            self.conv_bias = AdaptiveConv1x1(channels, channels)
        self.norm_layer = nn.BatchNorm2d(channels, eps=eps, affine=False)
        self.weight: torch.Tensor | None = None  # (B, C) for ada_bn, (B, C, S, S) for spade
        self.bias: torch.Tensor | None = None

    def assign(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        """``ada_bn``: projector outputs (B, C); the effective scale is ``weight + 1``."""
        if self.kind != "ada_bn" or tuple(weight.shape[1:]) != (self.channels,):
            raise ValueError(f"adaptive norm ({self.kind}, {self.channels} channels) got {tuple(weight.shape)}")
        self.weight, self.bias = weight + 1.0, bias

    def compute_spade(self, avatars: int) -> None:
        """``ada_spade_bn``: scale and shift maps from the pixel features, once the 1x1 convs are assigned."""
        feats = self.pixel_feats.expand(avatars, -1, -1, -1)
        self.weight = self.conv_weight(feats) + 1.0
        self.bias = self.conv_bias(feats)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.weight is None or self.bias is None:
            raise RuntimeError("adaptive parameters are not assigned; run the projector first")
        normed = self.norm_layer(inputs)
        weight, bias = self.weight, self.bias
        if weight.dim() == 2:
            weight, bias = weight[:, :, None, None], bias[:, :, None, None]
        frames = inputs.shape[0]
        return torch.addcmul(_per_frame(bias, frames), normed, _per_frame(weight, frames))


def _norm(kind: NormType, channels: int, spatial_size: int, eps: float) -> nn.Module | None:
    if kind == "none":
        return None
    if kind == "bn":
        return nn.BatchNorm2d(channels, eps=eps, affine=True)
    return AdaptiveNorm(channels, spatial_size, kind, eps)


class ResBlock(nn.Module):
    """Pre-activation residual block; see the module docstring for the layer layout."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        eps: float,
        norm: NormType = "none",
        first_norm: NormType | None = None,
        resize: Resize = "none",
        upsample_after_first_conv: bool = False,
        adaptive_skip: bool = False,
        spatial_size: int = 1,
    ) -> None:
        super().__init__()
        normalize = norm != "none"
        upsample, downsample = resize == "up", resize == "down"
        feats: list[nn.Module] = []
        if normalize:
            feats.append(_norm(first_norm or norm, in_channels, spatial_size, eps))  # type: ignore[arg-type]
        feats.append(leaky_relu())
        if upsample and not upsample_after_first_conv:
            feats.append(nn.Upsample(scale_factor=2, mode="nearest"))
            if spatial_size != 1:  # the original tracks the size only for layers that need it
                spatial_size *= 2
        feats.append(nn.Conv2d(in_channels, out_channels, 3, 1, 1))
        if normalize:
            feats.append(_norm(norm, out_channels, spatial_size, eps))  # type: ignore[arg-type]
        feats.append(leaky_relu())
        self.block_feats = nn.Sequential(*feats)

        main: list[nn.Module] = []
        if upsample and upsample_after_first_conv:
            main.append(nn.Upsample(scale_factor=2, mode="nearest"))
        main.append(nn.Conv2d(out_channels, out_channels, 3, 1, 1))
        if downsample:
            main.append(nn.AvgPool2d(2))
        self.block = nn.Sequential(*main)

        if in_channels != out_channels or upsample or downsample:
            skip: list[nn.Module] = []
            if upsample:
                skip.append(nn.Upsample(scale_factor=2, mode="nearest"))
            skip.append(
                AdaptiveConv1x1(in_channels, out_channels) if adaptive_skip else nn.Conv2d(in_channels, out_channels, 1)
            )
            if downsample:
                skip.append(nn.AvgPool2d(2))
            self.skip: nn.Module = nn.Sequential(*skip)
        else:
            self.skip = nn.Identity()

    def forward_with_feats(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Output and the features after the first conv and activation (the identity embeddings)."""
        feats = self.block_feats(inputs)
        return self.block(feats) + self.skip(inputs), feats

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.block(self.block_feats(inputs)) + self.skip(inputs)


def adaptive_modules(net: nn.Module) -> Iterator[AdaptiveConv1x1 | AdaptiveNorm]:
    """Adaptive slots in the order the original assigns projector outputs: module registration order,
    ``ada_bn`` norms and adaptive 1x1 convs (spade norms contribute their two convs)."""
    for module in net.modules():
        if isinstance(module, AdaptiveConv1x1) or (isinstance(module, AdaptiveNorm) and module.kind == "ada_bn"):
            yield module


def spade_norms(net: nn.Module) -> Iterator[AdaptiveNorm]:
    for module in net.modules():
        if isinstance(module, AdaptiveNorm) and module.kind == "ada_spade_bn":
            yield module
