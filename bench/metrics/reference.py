"""Reference-side features computed once per real frame for every model of a job.

In a job every model's output is compared with the same reference tensor (:class:`bench.jobs.JobRunner` passes the
job's one ``JobFrames`` to each model in turn), so a pair metric whose reference side depends only on the real
frames (LPIPS trunk features, ArcFace embeddings) keeps the features of the last reference batch it saw and reuses
them while the same tensor comes back. Memory: one batch of features per metric, i.e. one job; nothing is written,
so resuming a run changes nothing. dlib's landmarks and descriptors are memoised by frame content instead
(:mod:`bench.metrics.dlib_metrics`), FID's real-side features once per job by the runner.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import torch

__all__ = ["ReferenceMemo"]

T = TypeVar("T")


class ReferenceMemo(Generic[T]):
    """``memo(reference, *extra)``: ``compute(reference, *extra)``, reused while the same tensors come back
    unmodified (the same objects, same in-place version). ``frames`` counts the reference frames computed."""

    def __init__(self, compute: Callable[..., T]) -> None:
        self._compute = compute
        self._key: tuple[object, ...] | None = None
        self._version = -1
        self._value: T | None = None
        self.frames = 0

    def __call__(self, reference: torch.Tensor, *extra: object) -> T:
        key = (reference, *extra)
        same = (
            self._key is not None
            and len(self._key) == len(key)
            and all(a is b for a, b in zip(self._key, key, strict=True))
            and reference._version == self._version
        )
        if not same or self._value is None:
            self._value = self._compute(reference, *extra)
            self._key, self._version = key, reference._version
            self.frames += int(reference.shape[0])
        return self._value
