"""The machine's measured matmul rate at the run's dtype: the yardstick that makes latencies comparable.

A square ``size`` x ``size`` matrix product (``torch.mm`` into a preallocated output, random normal inputs of the
run's dtype on the run's device) is timed with the run's timer and sampling rule, before the models and again
after them; the rate is ``2 * size**3`` FLOPs (a multiply-add counts 2, as the FLOP counts of the stages) over
each sample's time. Its median over both phases is the calibration rate; a stage's achieved fraction is
``flops / median_s / rate``. It is a yardstick, not the hardware's peak: a stage whose kernels run faster than
the calibration matmul (oneDNN convolutions against MKL's sgemm on an AMD CPU, say) exceeds 1. Before and after
medians are kept apart too: a large difference says the machine's speed changed during the run (other load,
frequency scaling).
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
    dtype: str
    size: int
    device: str
    before_s: tuple[float, ...]
    after_s: tuple[float, ...] = ()

    @property
    def flops_per_matmul(self) -> int:
        return 2 * self.size**3

    def rates(self, samples: Sequence[float]) -> list[float]:
        return [self.flops_per_matmul / s if s > 0 else float("inf") for s in samples]

    @property
    def flops_per_s(self) -> float:
        return summarize(self.rates(self.before_s + self.after_s)).median

    def to_dict(self) -> dict[str, Any]:
        everything = summarize(self.rates(self.before_s + self.after_s))
        return {
            "dtype": self.dtype,
            "size": self.size,
            "device": self.device,
            "method": f"torch.mm of two {self.size}x{self.size} {self.dtype} matrices, 2*size^3 FLOPs per product "
            "(multiply-add = 2 FLOPs); median rate over samples taken before and after the models; a yardstick, "
            "not the hardware peak (a stage's achieved fraction can exceed 1)",
            "flops_per_matmul": self.flops_per_matmul,
            "flops_per_s": everything.median,
            "iqr": everything.iqr,
            "before_flops_per_s": summarize(self.rates(self.before_s)).median,
            "after_flops_per_s": summarize(self.rates(self.after_s)).median if self.after_s else None,
            "samples": self.rates(self.before_s + self.after_s),
            "samples_s": list(self.before_s + self.after_s),
            "n_before": len(self.before_s),
        }
