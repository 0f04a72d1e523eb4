"""Misbehaving models for the runner's error paths (registered per test by the ``register_model`` fixture)."""

from __future__ import annotations

from typing import Any

import torch


class NaNModel:
    def prepare(self, source: Any) -> None:
        return None

    def animate(self, state: None, driver: Any) -> torch.Tensor:
        return torch.full_like(driver.image, float("nan"))


class WrongShapeModel:
    def prepare(self, source: Any) -> None:
        return None

    def animate(self, state: None, driver: Any) -> torch.Tensor:
        return driver.image[:, :1]


class ShiftModel:
    """Returns the driver shifted by one pixel: a model that is close to, but not exactly, the oracle."""

    def prepare(self, source: Any) -> None:
        return None

    def animate(self, state: None, driver: Any) -> torch.Tensor:
        return torch.roll(driver.image, shifts=1, dims=-1)


def create_nan(weights: Any = None, seed: int = 0) -> NaNModel:
    return NaNModel()


def create_wrong_shape(weights: Any = None, seed: int = 0) -> WrongShapeModel:
    return WrongShapeModel()


def create_shift(weights: Any = None, seed: int = 0) -> ShiftModel:
    return ShiftModel()


RECEIVED: list[dict[str, Any] | None] = []


def create_recording(weights: Any = None, seed: int = 0) -> ShiftModel:
    """Records the weights mapping it was built with."""
    RECEIVED.append(None if weights is None else dict(weights))
    return ShiftModel()
