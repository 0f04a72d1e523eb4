"""The machine's measured matmul rate at the run's dtype: the yardstick that makes latencies comparable.

A square ``size`` x ``size`` matrix product (``torch.mm`` into a preallocated output, random normal inputs of the
run's dtype on the run's device) is timed with the run's timer in chunks: one at the start of every round of the
run and one after the last round, so that the yardstick spans the same minutes as the stages it measures. The
rate is ``2 * size**3`` FLOPs (a multiply-add counts 2, as the FLOP counts of the stages) over each sample's
time. Its median over all chunks is the calibration rate; a stage's achieved fraction is
``flops / median_s / rate``. It is a yardstick, not the hardware's peak: a stage whose kernels run faster than
the calibration matmul (oneDNN convolutions against MKL's sgemm on an AMD CPU, say) exceeds 1. Each chunk's
median is kept too (the first is "before", the last "after"): a large spread says the machine's speed changed
during the run (other load, frequency scaling).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from bench.latency.config import StagePolicy
from bench.latency.timing import Timer, measure, summarize

__all__ = ["Calibration", "matmul_samples"]


def matmul_samples(device: str, dtype: torch.dtype, size: int, policy: StagePolicy, timer: Timer) -> list[float]:
    """Seconds of each timed ``size``-square matmul."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator).to(device=device, dtype=dtype)
    b = torch.randn(size, size, generator=generator).to(device=device, dtype=dtype)
    out = torch.empty(size, size, device=device, dtype=dtype)
    with torch.inference_mode():
        return measure(lambda: torch.mm(a, b, out=out), policy, timer)


@dataclass(frozen=True)
class Calibration:
    """Matmul samples (seconds) in chunks: one per round of the run, then one after the last."""

    dtype: str
    size: int
    device: str
    chunks: tuple[tuple[float, ...], ...]

    @property
    def flops_per_matmul(self) -> int:
        return 2 * self.size**3

    def rates(self, samples: Sequence[float]) -> list[float]:
        return [self.flops_per_matmul / s if s > 0 else float("inf") for s in samples]

    @property
    def samples_s(self) -> tuple[float, ...]:
        return tuple(s for chunk in self.chunks for s in chunk)

    @property
    def flops_per_s(self) -> float:
        return summarize(self.rates(self.samples_s)).median

    def to_dict(self) -> dict[str, Any]:
        everything = summarize(self.rates(self.samples_s))
        per_chunk = [summarize(self.rates(chunk)).median for chunk in self.chunks]
        return {
            "dtype": self.dtype,
            "size": self.size,
            "device": self.device,
            "method": f"torch.mm of two {self.size}x{self.size} {self.dtype} matrices, 2*size^3 FLOPs per product "
            "(multiply-add = 2 FLOPs); median rate over samples taken in chunks at the start of every round and after "
            "the last; a yardstick, not the hardware peak (a stage's achieved fraction can exceed 1)",
            "flops_per_matmul": self.flops_per_matmul,
            "flops_per_s": everything.median,
            "iqr": everything.iqr,
            "before_flops_per_s": per_chunk[0] if per_chunk else None,
            "after_flops_per_s": per_chunk[-1] if len(per_chunk) > 1 else None,
            "chunk_flops_per_s": per_chunk,
            "chunk_sizes": [len(chunk) for chunk in self.chunks],
            "samples": self.rates(self.samples_s),
            "samples_s": list(self.samples_s),
        }
