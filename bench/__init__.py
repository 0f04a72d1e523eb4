"""Benchmark suite for one-shot talking-head models.

``bench.evaluate(model, data=..., preset=..., metrics=...)`` is the Python API (:mod:`bench.api`); it is imported on
first use, so that ``import bench`` (and the command line's start) stays light.
"""

from __future__ import annotations

from typing import Any

__all__ = ["evaluate"]


def __getattr__(name: str) -> Any:
    if name == "evaluate":
        from bench.api import evaluate

        return evaluate
    raise AttributeError(f"module 'bench' has no attribute {name!r}")
