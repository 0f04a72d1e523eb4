"""Timing helpers shared by the speed scripts in this folder (run as scripts, not collected by pytest)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["flops", "matmul_rate", "samples", "summary"]


def samples(fn: Callable[[], object], runs: int, warmup: int = 2) -> list[float]:
    """Wall-clock seconds of ``runs`` calls after ``warmup`` discarded ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def summary(times: list[float]) -> dict[str, float]:
    q1, q2, q3 = statistics.quantiles(times, n=4)
    return {"median_s": q2, "iqr_s": q3 - q1, "min_s": min(times), "max_s": max(times), "runs": len(times)}


def flops(fn: Callable[[], object]) -> float:
    """FLOPs of one call (a multiply-add counts 2), as torch.utils.flop_counter sees them."""
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return float(counter.get_total_flops())


def matmul_rate(runs: int, size: int = 2048) -> float:
    """The machine's float32 matmul rate in GFLOP/s (median of ``runs``)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    return 2 * size**3 / statistics.median(samples(lambda: a @ b, runs)) / 1e9
