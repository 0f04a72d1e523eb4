"""Faster evaluation of the residual blocks of ``prepare`` (embedder, texture generator, enhancer), same function.

The modules stay as loaded; this interpreter walks their layers in channels-last memory layout and replaces
three patterns by cheaper equivalents:
* x2 nearest upsampling followed by a 3x3 conv: four 2x2 convs at low resolution, one per output phase;
* a 3x3 conv followed by 2x2 average pooling: one 4x4 conv with stride 2 (the pooled kernel);
* 1x1 skip convs commute with both resamplings, so they run at the low resolution.
Derived kernels are cached per conv and recomputed if its weight changes.
"""

from __future__ import annotations

import weakref

import torch
import torch.nn.functional as F
from torch import nn

from bilayer.layers import AdaptiveConv1x1, ResBlock

__all__ = ["phase_kernels", "pooled_kernel", "run_block", "run_layers", "run_sequence"]

CL = torch.channels_last
_cache: weakref.WeakKeyDictionary[nn.Module, tuple[tuple[int, int], dict[str, object]]] = weakref.WeakKeyDictionary()


def phase_kernels(weight: torch.Tensor) -> list[torch.Tensor]:
    """2x2 kernels of a 3x3 conv after x2 nearest upsampling, for output phases (a, b) in row-major order.

    Phase 0 of an axis reads low-resolution offsets (-1, 0) with taps (w0, w1 + w2); phase 1 reads (0, +1)
    with taps (w0 + w1, w2).
    """

    def split(w: torch.Tensor, axis: int) -> tuple[torch.Tensor, torch.Tensor]:
        t0, t1, t2 = w.unbind(axis)
        return torch.stack([t0, t1 + t2], axis), torch.stack([t0 + t1, t2], axis)

    rows = split(weight, 2)
    return [k.contiguous(memory_format=CL) for r in rows for k in split(r, 3)]


def pooled_kernel(weight: torch.Tensor) -> torch.Tensor:
    """4x4 stride-2 kernel equal to a 3x3 conv (padding 1) followed by 2x2 average pooling."""
    out = weight.new_zeros(*weight.shape[:2], 4, 4)
    for a in (0, 1):
        for b in (0, 1):
            out[:, :, a : a + 3, b : b + 3] += weight
    return (out / 4).contiguous(memory_format=CL)


def _derived(conv: nn.Conv2d, kind: str) -> object:
    key = (conv.weight.data_ptr(), conv.weight._version)
    entry = _cache.get(conv)
    if entry is None or entry[0] != key:
        entry = (key, {})
        _cache[conv] = entry
    store = entry[1]
    if kind not in store:
        makers = {"cl": lambda w: w.contiguous(memory_format=CL), "phases": phase_kernels, "pooled": pooled_kernel}
        store[kind] = makers[kind](conv.weight.detach())
    return store[kind]


def _conv(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    return F.conv2d(x, _derived(conv, "cl"), conv.bias, conv.stride, conv.padding)  # type: ignore[arg-type]


def _upsample_conv(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    n, _, height, width = x.shape
    padded = F.pad(x, (1, 1, 1, 1))
    out = torch.empty(n, conv.out_channels, 2 * height, 2 * width, dtype=x.dtype, device=x.device, memory_format=CL)
    for index, kernel in enumerate(_derived(conv, "phases")):  # type: ignore[arg-type]
        a, b = divmod(index, 2)
        out[:, :, a::2, b::2] = F.conv2d(padded[:, :, a : a + height + 1, b : b + width + 1], kernel, conv.bias)
    return out


def _one_by_one(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    if isinstance(layer, AdaptiveConv1x1) and layer.weight is not None and layer.weight.shape[0] == 1:
        return F.conv2d(x, layer.weight[0], layer.bias[0])  # type: ignore[index]
    return _conv(layer, x) if isinstance(layer, nn.Conv2d) else layer(x)


def run_layers(layers: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """Run a sequence of layers, fusing upsample+conv3x3 and conv3x3+avgpool."""
    items = list(layers)
    i = 0
    while i < len(items):
        layer, after = items[i], items[i + 1] if i + 1 < len(items) else None
        if isinstance(layer, nn.Upsample) and isinstance(after, nn.Conv2d) and after.kernel_size == (3, 3):
            x, i = _upsample_conv(after, x), i + 2
        elif isinstance(layer, nn.Conv2d) and isinstance(after, nn.AvgPool2d) and layer.kernel_size == (3, 3):
            x, i = F.conv2d(x, _derived(layer, "pooled"), layer.bias, stride=2, padding=1), i + 2  # type: ignore[arg-type]
        elif isinstance(layer, nn.Conv2d):
            x, i = _conv(layer, x), i + 1
        else:
            x, i = layer(x), i + 1
    return x


def _add_skip(main: torch.Tensor, block: ResBlock, x: torch.Tensor) -> torch.Tensor:
    skip = block.skip
    if isinstance(skip, nn.Identity):
        return main.add_(x)
    layers = list(skip)
    if isinstance(layers[0], nn.Upsample):  # 1x1 conv at low resolution, added to every output phase
        low = _one_by_one(layers[1], x)
        for a in (0, 1):
            for b in (0, 1):
                main[:, :, a::2, b::2] += low
        return main
    if len(layers) == 2 and isinstance(layers[1], nn.AvgPool2d):  # pooling first: 4x fewer multiply-adds
        return main.add_(_one_by_one(layers[0], F.avg_pool2d(x, 2)))
    return main.add_(run_layers(skip, x))


def run_block(block: ResBlock, x: torch.Tensor, *, with_feats: bool = False):
    """A :class:`ResBlock` (not the efficient-upsampling kind) on a channels-last input."""
    feats = run_layers(block.block_feats, x)
    main = run_layers(block.block, feats)
    out = _add_skip(main, block, x)
    return (out, feats) if with_feats else out


def run_sequence(layers: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """A network body mixing plain layers and residual blocks (enhancer, texture generator, encoder)."""
    for layer in layers:
        if isinstance(layer, ResBlock):
            x = run_block(layer, x)
        elif isinstance(layer, nn.Conv2d):
            x = _conv(layer, x)
        else:
            x = layer(x)
    return x
