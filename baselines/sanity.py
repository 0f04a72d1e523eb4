"""Sanity baselines that bracket every real model.

``copy-source`` returns the source frame for every driver (no motion at all): any model worth measuring must
beat it on self-reenactment. ``oracle`` returns the driving frame itself, which in self-reenactment is the
ground truth: it must score perfectly on every distance metric, which checks the pipeline end to end.

Both follow the model protocol: ``prepare(source)`` once per avatar, ``animate(state, driver)`` per batch of
frames; inputs carry ``image`` tensors of shape (N, 3, H, W) in [0, 1].
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import torch
import torch.nn.functional as F

__all__ = ["CopySource", "Oracle", "create_copy_source", "create_oracle"]


class _Frames(Protocol):
    image: torch.Tensor


class CopySource:
    """Returns the source frame, resized to the driver's size when they differ."""

    def prepare(self, source: _Frames) -> torch.Tensor:
        return source.image[:1]

    def animate(self, state: torch.Tensor, driver: _Frames) -> torch.Tensor:
        height, width = driver.image.shape[-2:]
        if state.shape[-2:] != (height, width):
            state = F.interpolate(state, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
        return state.expand(driver.image.shape[0], -1, -1, -1)


class Oracle:
    """Returns the driving frame: the ground truth of self-reenactment."""

    def prepare(self, source: _Frames) -> None:
        return None

    def animate(self, state: None, driver: _Frames) -> torch.Tensor:
        return driver.image


def create_copy_source(weights: Mapping[str, Path] | None = None, seed: int = 0) -> CopySource:
    return CopySource()


def create_oracle(weights: Mapping[str, Path] | None = None, seed: int = 0) -> Oracle:
    return Oracle()
