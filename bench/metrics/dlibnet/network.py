"""dlib's face recognition ResNet (``dlib_face_recognition_resnet_model_v1.dat``) as a torch module.

The network is dlib's "metric network" (dlib's ``dnn_face_recognition_ex.cpp`` and the Python binding declare it
as ``anet_type``): a 7x7/2 convolution to 32 channels, 3x3/2 max pooling, residual blocks of two 3x3
convolutions (3 at 32 channels; 4 at 64; 3 at 128; 3 and 1 at 256, the first of each group after the first
with stride 2 and an average-pooled 2x2/2 shortcut), global average pooling and a 128-output linear layer
without bias. Every convolution is followed by an affine layer (batch norm frozen into a per-channel scale and
shift), folded here into the convolution's weights and bias. Where a shortcut has fewer channels or a larger
size than its block, dlib adds the two as if the smaller were zero-padded at the end of each dimension; so
does :func:`add_padded`. Kernel sizes, strides and paddings are read from the file.

The input is a 150x150 RGB chip (:mod:`bench.metrics.dlibnet.chips`), each value entering as
``(pixel - mean[channel]) / 256`` with the means stored in the file (122.782, 117.001, 104.298). The output is
the embedding itself: dlib does not L2-normalise it (norms are near 1.4 on faces).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bench.errors import WeightsError
from bench.metrics.dlibnet.serialization import Affine, Conv, FullyConnected, Pool, read_network

__all__ = ["TOPOLOGY", "DlibResNet", "add_padded", "embed_chips", "load_dlib_resnet"]


def _block(down: bool) -> list[str]:
    body = ["tag1", "con", "affine", "relu", "con", "affine"]
    return body + (["tag2", "skip1", "avg_pool", "add_prev2", "relu"] if down else ["add_prev1", "relu"])


_GROUPS = ((3, False), (4, True), (3, True), (3, True), (1, True))  # (blocks, first one downsamples)
TOPOLOGY: tuple[str, ...] = (
    "con",
    "affine",
    "relu",
    "max_pool",
    *(token for blocks, down in _GROUPS for i in range(blocks) for token in _block(down and i == 0)),
    "avg_pool",
    "fc",
)
"""The wrappers of ``anet_type`` from the input up (``tagN``/``skipN`` are dlib's tags and skips)."""


def add_padded(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """dlib's ``add_prev``: ``a + b`` over (N, C, H, W), the smaller zero-padded at the end of each dimension."""
    if a.shape == b.shape:
        return a + b
    size = [max(x, y) for x, y in zip(a.shape[1:], b.shape[1:], strict=True)]

    def pad(t: torch.Tensor) -> torch.Tensor:
        return F.pad(t, (0, size[2] - t.shape[3], 0, size[1] - t.shape[2], 0, size[0] - t.shape[1]))

    return pad(a) + pad(b)


def _folded(conv: Conv, affine: Affine) -> nn.Conv2d:
    """The convolution followed by its affine layer, as one convolution (folded in float64)."""
    out_channels, in_channels, kh, kw = conv.weight.shape
    layer = nn.Conv2d(in_channels, out_channels, (kh, kw), stride=conv.stride, padding=conv.padding)
    gamma, beta = affine.gamma.astype(np.float64), affine.beta.astype(np.float64)
    bias = conv.bias.astype(np.float64) if conv.bias is not None else np.zeros(out_channels)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(conv.weight.astype(np.float64) * gamma[:, None, None, None]))
        layer.bias.copy_(torch.from_numpy(bias * gamma + beta))
    return layer


class _Residual(nn.Module):
    def __init__(self, first: nn.Conv2d, second: nn.Conv2d, shortcut: Pool | None) -> None:
        super().__init__()
        self.first, self.second = first, second
        self.shortcut = None if shortcut is None else nn.AvgPool2d(shortcut.window, shortcut.stride, shortcut.padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        body = self.second(F.relu(self.first(x), inplace=True))
        shortcut = x if self.shortcut is None else self.shortcut(x)
        total = body.add_(shortcut) if body.shape == shortcut.shape else add_padded(body, shortcut)
        return F.relu(total, inplace=True)


class DlibResNet(nn.Module):
    """(N, 3, 150, 150) RGB chips, values 0-255 (uint8 or float) -> (N, 128) float32 face descriptors."""

    def __init__(
        self,
        mean: tuple[float, float, float],
        size: tuple[int, int],
        stem: nn.Conv2d,
        pool: Pool,
        blocks: list[_Residual],
        fc: FullyConnected,
    ) -> None:
        super().__init__()
        self.size = size
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.stem = stem
        self.pool = nn.MaxPool2d(pool.window, pool.stride, pool.padding)
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(fc.weight.shape[0], fc.weight.shape[1], bias=fc.bias is not None)
        with torch.no_grad():
            self.fc.weight.copy_(torch.from_numpy(fc.weight.T))
            if fc.bias is not None:
                self.fc.bias.copy_(torch.from_numpy(fc.bias))

    def forward(self, chips: torch.Tensor) -> torch.Tensor:
        if chips.ndim != 4 or tuple(chips.shape[1:]) != (3, *self.size):
            rows, cols = self.size
            raise ValueError(f"expected chips of shape (N, 3, {rows}, {cols}), got {tuple(chips.shape)}")
        x = (chips.to(self.mean.dtype) - self.mean) / 256.0
        x = self.blocks(self.pool(F.relu(self.stem(x), inplace=True)))
        return self.fc(x.mean(dim=(2, 3)))


def _build(path: Path) -> DlibResNet:
    source, layers, _loss = read_network(path, TOPOLOGY)
    for (token, layer), position in zip(layers, range(len(layers)), strict=True):
        if layer is None and not token.startswith(("tag", "skip")):
            raise WeightsError(f"{path}: layer {position} ({token}) is disabled; this network has none")
    stem, pool, average, fc = layers[0][1], layers[3][1], layers[-2][1], layers[-1][1]
    if not (isinstance(pool, Pool) and isinstance(average, Pool) and average.window == (0, 0)):
        raise WeightsError(f"{path}: unexpected pooling layers {pool}, {average}")
    blocks, start = [], 4
    for count, down in _GROUPS:
        for i in range(count):
            tokens = _block(down and i == 0)
            part = [layer for _token, layer in layers[start : start + len(tokens)]]
            shortcut = part[8] if down and i == 0 else None
            blocks.append(_Residual(_folded(part[1], part[2]), _folded(part[4], part[5]), shortcut))  # type: ignore[arg-type]
            start += len(tokens)
    return DlibResNet(source.mean, (source.rows, source.cols), _folded(stem, layers[1][1]), pool, blocks, fc)  # type: ignore[arg-type]


def load_dlib_resnet(path: Path | str, device: str | torch.device = "cpu") -> DlibResNet:
    """The network of a ``dlib_face_recognition_resnet_model_v1.dat`` file, in eval mode on ``device``."""
    return _build(Path(path)).eval().to(device)


def embed_chips(network: DlibResNet, chips: Sequence[np.ndarray], batch_size: int = 32) -> np.ndarray:
    """(N, 128) float64 descriptors of N (150, 150, 3) uint8 RGB chips, in batches on the network's device."""
    device = network.mean.device
    out = np.empty((len(chips), network.fc.out_features))
    with torch.inference_mode():
        for start in range(0, len(chips), batch_size):
            batch = torch.from_numpy(np.stack(chips[start : start + batch_size])).to(device)
            out[start : start + len(batch)] = network(batch.permute(0, 3, 1, 2)).double().cpu().numpy()
    return out
