"""Helpers of the latency tests: a fake clock, a fixed landmark extractor, stage rows, a broken model.

(No tests in here; the name follows the latency tests so that it sits next to them.)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.latency.cost import FLOPS_CONVENTION, FLOPS_COUNTED
from bench.latency.record import StageRow
from bench.models.zoo import WEIGHT_MARKS


class FakeClock:
    """A clock that only moves when told; ``calls`` counts the advances (one per timed function call)."""

    def __init__(self) -> None:
        self.now = 100.0
        self.calls = 0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.calls += 1


class FixedLandmarks:
    """A driver landmark extractor that returns a fixed plausible face (or misses every face) and counts calls."""

    name = "fixed"
    description = "fixed test landmarks"

    def __init__(self, miss: bool = False) -> None:
        self.miss = miss
        self.calls = 0

    def __call__(self, images: Sequence[np.ndarray], tensor: torch.Tensor) -> np.ndarray:
        self.calls += 1
        if self.miss:
            return np.full((len(images), 68, 2), np.nan, dtype=np.float32)
        size = images[0].shape[0]
        angles = np.linspace(0, 2 * np.pi, 68, endpoint=False)
        points = np.stack([size / 2 + size / 4 * np.cos(angles), size / 2 + size / 3.5 * np.sin(angles)], 1)
        return np.repeat(points[None].astype(np.float32), len(images), axis=0)


def stage_row(model: str, stage: str, *, median_s: float, weights_label: str = "none", flops: int = 10**6) -> StageRow:
    samples = (median_s * 0.9, median_s, median_s * 1.2)
    return StageRow(
        model=model,
        label=model + WEIGHT_MARKS[weights_label],
        weights_label=weights_label,
        stage=stage,
        per="avatar" if stage == "prepare" else "frame",
        includes=f"{stage} of {model}",
        batch=1,
        n=3,
        median_s=median_s,
        p90_s=median_s * 1.16,
        p99_s=median_s * 1.196,
        iqr_s=median_s * 0.15,
        min_s=median_s * 0.9,
        mean_s=sum(samples) / 3,
        flops=flops,
        flops_convention=FLOPS_CONVENTION,
        flops_counted=FLOPS_COUNTED,
        achieved_fraction=0.01,
        peak_memory_bytes=2**20,
        memory_method="test",
        params={"net": 1000},
        samples_s=samples,
    )


class BrokenModel:
    def prepare(self, source: Any) -> None:
        return None

    def animate(self, state: None, driver: Any) -> torch.Tensor:
        raise RuntimeError("broken on purpose")


def create_broken(weights: Any = None, seed: int = 0) -> BrokenModel:
    return BrokenModel()


def random_face_alignment_files(folder: Path) -> None:
    """face-alignment's FAN and S3FD with random weights, saved under their release file names (hashes differ)."""
    from face_alignment.detection.sfd.net_s3fd import s3fd
    from face_alignment.models import FAN

    torch.manual_seed(0)
    torch.save(FAN(4).state_dict(), folder / "2DFAN4-11f355bf06.pth.tar")
    torch.save(s3fd().state_dict(), folder / "s3fd-619a316812.pth")


CALLS: list[str] = []
"""Every prepare/animate call of the recording models, in order (the interleaving test reads it)."""


class RecordingModel:
    """A model that only records its calls (to see the order the harness runs stages in)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def prepare(self, source: Any) -> Any:
        CALLS.append(self.name)
        return source

    def animate(self, state: Any, driver: Any) -> torch.Tensor:
        CALLS.append(self.name)
        return driver.image


def create_recording_first(weights: Any = None, seed: int = 0) -> RecordingModel:
    return RecordingModel("first")


def create_recording_second(weights: Any = None, seed: int = 0) -> RecordingModel:
    return RecordingModel("second")
