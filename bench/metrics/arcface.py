"""ArcFace IR-SE-50 identity embedder, state_dict-compatible with InsightFace_Pytorch's ``model_ir_se50.pth``.

The released file is the state_dict of InsightFace_Pytorch's ``Backbone(50, 0.6, 'ir_se')``. This module
rebuilds that network in our own structure with the same parameter names and shapes, so the file loads strictly.

Key layout (BN = BatchNorm ``weight, bias, running_mean, running_var, num_batches_tracked``)::

    input_layer.0.weight            conv 3x3, 3 -> 64, stride 1, pad 1, no bias   (64, 3, 3, 3)
    input_layer.1.*                 BN2d(64)
    input_layer.2.weight            PReLU(64)                                     (64,)
    body.{0..23}                    24 IR-SE units; stages of (3, 4, 14, 3) units with depths (64, 128, 256, 512),
                                    the first unit of each stage has stride 2 (112 -> 56 -> 28 -> 14 -> 7)
      .res_layer.0.*                BN2d(in)
      .res_layer.1.weight           conv 3x3, in -> d, stride 1, pad 1, no bias   (d, in, 3, 3)
      .res_layer.2.weight           PReLU(d)                                      (d,)
      .res_layer.3.weight           conv 3x3, d -> d, stride s, pad 1, no bias    (d, d, 3, 3)
      .res_layer.4.*                BN2d(d)
      .res_layer.5.fc1.weight       SE squeeze, 1x1 conv d -> d/16, no bias       (d/16, d, 1, 1)
      .res_layer.5.fc2.weight       SE excite, 1x1 conv d/16 -> d, no bias        (d, d/16, 1, 1)
      .shortcut_layer.0.weight      only where in != d (units 3, 7, 21): 1x1 conv, stride s, no bias (d, in, 1, 1)
      .shortcut_layer.1.*           ... followed by BN2d(d); where in == d the shortcut is a stride-s subsampling
                                    (``MaxPool2d(1, s)``, no parameters)
    output_layer.0.*                BN2d(512)
    output_layer.1                  Dropout(0.6) (identity at inference)
    output_layer.2                  flatten (512, 7, 7) -> 25088 (channel-major)
    output_layer.3.weight / .bias   Linear 25088 -> 512                           (512, 25088), (512,)
    output_layer.4.*                BN1d(512)

SE: global average pool, fc1, ReLU, fc2, sigmoid, rescale. A unit returns ``res_layer(x) + shortcut(x)`` with no
activation after the sum. The embedding is L2-normalised. Input as at InsightFace_Pytorch inference: RGB in
[0, 1], 112x112, normalised by ``(x - 0.5) / 0.5`` (done inside :meth:`ArcFaceIRSE50.forward`).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from bench.errors import WeightsError
from bench.weights import ResolvedWeight, WeightsLocations, require
from bench.weights.load import load_state_dict

__all__ = ["ARCFACE_INPUT_SIZE", "ARCFACE_STAGES", "ArcFaceIRSE50", "load_arcface", "load_arcface_state"]

ARCFACE_WEIGHTS = "arcface.ir-se50"
ARCFACE_URL = "https://github.com/TreB1eN/InsightFace_Pytorch (README, pretrained IR-SE50)"
ARCFACE_INPUT_SIZE = 112
ARCFACE_STAGES: tuple[tuple[int, int], ...] = ((64, 3), (128, 4), (256, 14), (512, 3))  # (depth, units)
_SE_REDUCTION = 16
_EMBEDDING = 512


class _SqueezeExcite(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, channels // _SE_REDUCTION, 1, bias=False)
        self.fc2 = nn.Conv2d(channels // _SE_REDUCTION, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = x.mean(dim=(2, 3), keepdim=True)
        gate = torch.sigmoid(self.fc2(torch.relu(self.fc1(gate))))
        return x * gate


class _Subsample(nn.Module):
    """Identity shortcut that keeps every ``stride``-th pixel (a 1x1 max pool), no parameters."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, :: self.stride, :: self.stride]


class _IRSEUnit(nn.Module):
    def __init__(self, in_channels: int, depth: int, stride: int) -> None:
        super().__init__()
        self.res_layer = nn.Sequential(
            nn.BatchNorm2d(in_channels),
            nn.Conv2d(in_channels, depth, 3, 1, 1, bias=False),
            nn.PReLU(depth),
            nn.Conv2d(depth, depth, 3, stride, 1, bias=False),
            nn.BatchNorm2d(depth),
            _SqueezeExcite(depth),
        )
        self.shortcut_layer: nn.Module
        if in_channels == depth:
            self.shortcut_layer = _Subsample(stride)
        else:
            self.shortcut_layer = nn.Sequential(
                nn.Conv2d(in_channels, depth, 1, stride, bias=False),
                nn.BatchNorm2d(depth),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.res_layer(x) + self.shortcut_layer(x)


def _units() -> list[_IRSEUnit]:
    units: list[_IRSEUnit] = []
    channels = 64
    for depth, count in ARCFACE_STAGES:
        for index in range(count):
            units.append(_IRSEUnit(channels, depth, 2 if index == 0 else 1))
            channels = depth
    return units


class ArcFaceIRSE50(nn.Module):
    """IR-SE-50: RGB (N, 3, 112, 112) in [0, 1] -> L2-normalised embeddings (N, 512)."""

    def __init__(self, dropout: float = 0.6) -> None:
        super().__init__()
        self.input_layer = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.PReLU(64))
        self.body = nn.Sequential(*_units())
        final = ARCFACE_STAGES[-1][0]
        side = ARCFACE_INPUT_SIZE // 2 ** len(ARCFACE_STAGES)
        self.output_layer = nn.Sequential(
            nn.BatchNorm2d(final),
            nn.Dropout(dropout),
            nn.Flatten(),
            nn.Linear(final * side * side, _EMBEDDING),
            nn.BatchNorm1d(_EMBEDDING),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        size = ARCFACE_INPUT_SIZE
        if images.ndim != 4 or tuple(images.shape[1:]) != (3, size, size):
            raise ValueError(
                f"ArcFace IR-SE-50 expects aligned RGB faces (N, 3, {size}, {size}) in [0, 1], "
                f"got shape {tuple(images.shape)}; align them with bench.metrics.align.align_faces"
            )
        features = self.body(self.input_layer((images - 0.5) / 0.5))
        return nn.functional.normalize(self.output_layer(features), dim=1)


def _check_keys(model: nn.Module, state: dict[str, object], source: Path) -> dict[str, torch.Tensor]:
    """Strict key and shape check; a missing BatchNorm ``num_batches_tracked`` counter (not a weight) is filled in."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    misshaped = [
        f"{k} {tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__} "
        f"(expected {tuple(expected[k].shape)})"
        for k, v in state.items()
        if k in expected and (not isinstance(v, torch.Tensor) or v.shape != expected[k].shape)
    ]
    problems = [
        f"{label} {len(keys)}: {', '.join(keys[:5])}{' ...' if len(keys) > 5 else ''}"
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped))
        if keys
    ]
    if problems:
        raise WeightsError(
            f"{source}: not the state_dict of InsightFace_Pytorch's Backbone(50, 0.6, 'ir_se') "
            f"({'; '.join(problems)}); use model_ir_se50.pth from {ARCFACE_URL}"
        )
    return {k: v for k, v in {**expected, **state}.items() if isinstance(v, torch.Tensor)}  # all state keys checked


def load_arcface_state(model: ArcFaceIRSE50, path: Path) -> None:
    """Load a ``model_ir_se50.pth`` state_dict into ``model`` strictly; unreadable or foreign files raise."""
    state = load_state_dict(
        path, "the ArcFace IR-SE-50 weights", f"download model_ir_se50.pth again from {ARCFACE_URL}"
    )
    model.load_state_dict(_check_keys(model, state, path), strict=True)


def load_arcface(
    locations: WeightsLocations, device: torch.device | str = "cpu"
) -> tuple[ArcFaceIRSE50, ResolvedWeight]:
    """IR-SE-50 in eval mode without gradients on ``device``, weights resolved offline through the registry."""
    resolved = require(ARCFACE_WEIGHTS, locations)
    assert resolved.path is not None  # require raises for a missing file
    model = ArcFaceIRSE50()
    load_arcface_state(model, resolved.path)
    return model.to(device).eval().requires_grad_(False), resolved
