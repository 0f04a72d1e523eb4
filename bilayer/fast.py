"""The per-frame inference generator, folded once per avatar for speed, computing the same function.

``fold_generator`` turns the inference generator plus one avatar's adaptive parameters into plain tensors:
* every normalisation (running-statistics BatchNorm followed by the avatar's affine) becomes one scale and
  shift per channel; the norm after each block's first conv is folded into that conv's weights;
* the nearest-neighbour upsampling followed by a 3x3 conv is computed as four 2x2 convs at the low
  resolution, one per output phase (the 3x3 taps that read the same upsampled pixel are summed), which is
  2.25 times fewer multiply-adds than convolving the upsampled tensor;
* the adaptive 1x1 skip conv commutes with nearest upsampling and runs at the low resolution;
* the three output heads are one 3x3 conv with 2 + 3 + 1 output channels.
The results equal the layer-by-layer network up to float rounding (checked against the golden data).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from bilayer.fast_blocks import CL, phase_kernels
from bilayer.layers import NEGATIVE_SLOPE, AdaptiveConv1x1, AdaptiveNorm, ResBlock

__all__ = ["FoldedGenerator", "fold_generator", "run_folded"]


@dataclass(frozen=True)
class FoldedBlock:
    scale1: torch.Tensor  # (1, C_in, 1, 1)
    shift1: torch.Tensor
    conv1_weight: torch.Tensor  # (C_out, C_in, 3, 3), norm2 folded in
    conv1_bias: torch.Tensor
    phase_weights: tuple[torch.Tensor, ...]  # (C_out, C_out, 2, 2) per output phase (a, b), row-major
    conv2_bias: torch.Tensor
    skip_weight: torch.Tensor  # (C_out, C_in, 1, 1)
    skip_bias: torch.Tensor


@dataclass(frozen=True)
class FoldedGenerator:
    blocks: tuple[FoldedBlock, ...]
    final_scale: torch.Tensor
    final_shift: torch.Tensor
    head_weight: torch.Tensor  # (2 + 3 [+ 1], C, 3, 3)
    head_bias: torch.Tensor
    segmentation: bool


def _affine(norm: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel (scale, shift) of an eval-mode norm for one avatar."""
    if isinstance(norm, AdaptiveNorm):
        bn, weight, bias = norm.norm_layer, norm.weight[0], norm.bias[0]  # type: ignore[index]
    elif isinstance(norm, nn.BatchNorm2d):
        bn, weight, bias = norm, norm.weight, norm.bias
    else:
        raise TypeError(f"cannot fold {type(norm).__name__}")
    scale = weight / torch.sqrt(bn.running_var + bn.eps)
    return scale, bias - bn.running_mean * scale


def _fold_block(block: ResBlock) -> FoldedBlock:
    norm1, _, conv1, norm2, _ = block.block_feats
    _, conv2 = block.block
    _, skip = block.skip
    if not isinstance(skip, AdaptiveConv1x1) or skip.weight is None:
        raise RuntimeError("adaptive parameters are not assigned")
    s1, t1 = _affine(norm1)
    s2, t2 = _affine(norm2)
    return FoldedBlock(
        scale1=s1.view(1, -1, 1, 1),
        shift1=t1.view(1, -1, 1, 1),
        conv1_weight=(conv1.weight * s2.view(-1, 1, 1, 1)).contiguous(memory_format=CL),
        conv1_bias=conv1.bias * s2 + t2,
        phase_weights=tuple(phase_kernels(conv2.weight)),
        conv2_bias=conv2.bias,
        skip_weight=skip.weight[0].contiguous(memory_format=CL),
        skip_bias=skip.bias[0],  # type: ignore[index]
    )


def fold_generator(gen: nn.Module, segmentation: bool) -> FoldedGenerator:
    """Fold ``gen`` (an inference generator whose adaptive parameters hold one avatar) into plain tensors."""
    *blocks, final_norm, _ = gen.blocks
    scale, shift = _affine(final_norm)
    heads = [head[0] for head in gen.heads]
    return FoldedGenerator(
        blocks=tuple(_fold_block(b) for b in blocks),
        final_scale=scale.view(1, -1, 1, 1),
        final_shift=shift.view(1, -1, 1, 1),
        head_weight=torch.cat([h.weight for h in heads]).contiguous(memory_format=CL),
        head_bias=torch.cat([h.bias for h in heads]),
        segmentation=segmentation,
    )


def _upsample_conv(h: torch.Tensor, block: FoldedBlock, skip: torch.Tensor) -> torch.Tensor:
    """conv3x3(upsample2(h)) + upsample2(skip), computed per output phase at low resolution."""
    n, _, height, width = h.shape
    padded = F.pad(h, (1, 1, 1, 1))
    out = torch.empty(n, skip.shape[1], 2 * height, 2 * width, dtype=h.dtype, device=h.device, memory_format=CL)
    for index, weight in enumerate(block.phase_weights):
        a, b = divmod(index, 2)
        window = padded[:, :, a : a + height + 1, b : b + width + 1]
        out[:, :, a::2, b::2] = F.conv2d(window, weight, block.conv2_bias).add_(skip)
    return out


def run_folded(
    folded: FoldedGenerator, pose_embeds: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(raw UV deltas (tanh), raw LF RGB (tanh), segmentation logits) for pose embeddings (N, C, s, s)."""
    x = pose_embeds.contiguous(memory_format=CL)
    for block in folded.blocks:
        h = F.leaky_relu(torch.addcmul(block.shift1, x, block.scale1), NEGATIVE_SLOPE)
        h = F.leaky_relu(F.conv2d(h, block.conv1_weight, block.conv1_bias, padding=1), NEGATIVE_SLOPE, inplace=True)
        skip = F.conv2d(x, block.skip_weight, block.skip_bias)
        x = _upsample_conv(h, block, skip)
    x = F.leaky_relu(torch.addcmul(folded.final_shift, x, folded.final_scale), NEGATIVE_SLOPE, inplace=True)
    heads = F.conv2d(x, folded.head_weight, folded.head_bias, padding=1).contiguous()  # NCHW: contiguous heads
    uv, rgb = torch.tanh(heads[:, 0:2]), torch.tanh(heads[:, 2:5])
    return uv, rgb, heads[:, 5:6] if folded.segmentation else None
