"""Regression check: rerun ``bench/configs/regression.toml`` and compare with the committed reference record.

Quality values are deterministic on CPU (fixed threads, seeded models, the embedded default data set), so a
change in any model or metric moves them beyond a tight tolerance; latency is compared in calibrated work units
within a wide factor. ``bilayer-bench regression`` exits 1 with a table of what moved.
"""

from bench.regression.compare import Drift, LatencyTolerance, QualityTolerance, compare_latency, compare_quality
from bench.regression.reference import LatencyValue, QualityValue, ReferenceRecord, read_reference, write_reference

__all__ = [
    "Drift",
    "LatencyTolerance",
    "LatencyValue",
    "QualityTolerance",
    "QualityValue",
    "ReferenceRecord",
    "compare_latency",
    "compare_quality",
    "read_reference",
    "write_reference",
]
