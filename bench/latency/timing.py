"""Timers, the sampling loop and the statistics of a measurement.

A timer times one call of a function and returns seconds. On the CPU it is the wall clock
(``time.perf_counter``) around the call. On CUDA it is a pair of CUDA events recorded around the call after a
device synchronisation, read after synchronising on the end event: the time the device's stream takes from the
start event to the end of the call's last kernel, with any host work in between (the stream is idle at the start).

Statistics use linear interpolation between order statistics (numpy's default ``method="linear"``, Hyndman and
Fan's type 7): the median, p90, p99, the first and third quartiles and their difference (IQR).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from bench.latency.config import StagePolicy

__all__ = ["CudaEventTimer", "Summary", "Timer", "WallTimer", "make_timer", "measure", "summarize"]


class Timer(Protocol):
    name: str

    def time(self, fn: Callable[[], object]) -> float:
        """Seconds one call of ``fn`` takes."""
        ...


class WallTimer:
    """Wall-clock seconds of a call; ``clock`` is replaceable (tests use a fake one)."""

    name = "wall clock (time.perf_counter) around the call"

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock

    def time(self, fn: Callable[[], object]) -> float:
        start = self.clock()
        fn()
        return self.clock() - start


class CudaEventTimer:
    """CUDA events around the call, with the device synchronised before and after."""

    name = "CUDA events around the call, device synchronised before the start and on the end event"

    def __init__(self, device: str) -> None:
        import torch

        self.torch = torch
        self.device = torch.device(device)

    def time(self, fn: Callable[[], object]) -> float:
        cuda = self.torch.cuda
        with cuda.device(self.device):  # events on the current stream of the run's device
            start, end = cuda.Event(enable_timing=True), cuda.Event(enable_timing=True)
            cuda.synchronize(self.device)
            start.record()
            fn()
            end.record()
            end.synchronize()
        return start.elapsed_time(end) / 1e3


def make_timer(device: str) -> Timer:
    return CudaEventTimer(device) if device.startswith("cuda") else WallTimer()


def measure(fn: Callable[[], object], policy: StagePolicy, timer: Timer) -> list[float]:
    """``policy.warmup`` discarded calls, then timed calls until ``min_runs`` and ``min_time_s`` are both reached
    (or ``max_runs``). Returns the seconds of every timed call."""
    for _ in range(policy.warmup):
        fn()
    samples: list[float] = []
    total = 0.0
    while len(samples) < policy.max_runs and (len(samples) < policy.min_runs or total < policy.min_time_s):
        elapsed = timer.time(fn)
        samples.append(elapsed)
        total += elapsed
    return samples


@dataclass(frozen=True)
class Summary:
    """Statistics of a list of samples (seconds)."""

    n: int
    median: float
    p90: float
    p99: float
    q1: float
    q3: float
    min: float
    max: float
    mean: float

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1


def summarize(samples: Sequence[float]) -> Summary:
    """Median, p90, p99, quartiles (linear interpolation), min, max and mean; NaN everywhere for no samples."""
    if len(samples) == 0:
        nan = math.nan
        return Summary(0, nan, nan, nan, nan, nan, nan, nan, nan)
    values = np.asarray(samples, dtype=np.float64)
    q1, median, q3, p90, p99 = np.quantile(values, [0.25, 0.5, 0.75, 0.9, 0.99], method="linear")
    return Summary(
        n=len(values),
        median=float(median),
        p90=float(p90),
        p99=float(p99),
        q1=float(q1),
        q3=float(q3),
        min=float(values.min()),
        max=float(values.max()),
        mean=float(values.mean()),
    )
