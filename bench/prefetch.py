"""Load the next job's data on a worker thread while the current job computes.

Decoding (PIL, PyAV), masks and the cut into the evaluation space spend their time in C code that releases the
GIL, so one worker thread overlaps them with the models and metrics of the job before: on a GPU the device does not
wait for the CPU between jobs, on a CPU the two share its cores. Jobs are loaded in order, one ahead; what the
loader raises comes back, unchanged, from :meth:`Prefetcher.take` of that job. ``work_ms`` is the time the loading
took on the worker, ``wait_ms`` the time the loop waited for it (the part of it that did not overlap).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["Loaded", "Prefetcher"]

T = TypeVar("T")
K = TypeVar("K")


@dataclass(frozen=True)
class Loaded(Generic[T]):
    value: T
    work_ms: float  # loading, on the worker
    wait_ms: float  # what the caller waited for it


class Prefetcher(Generic[K, T]):
    """``with Prefetcher(load, keys) as jobs:`` then ``jobs.take(key)`` for each of ``keys``, in their order; while
    the caller works on one, the next ``ahead`` are loaded."""

    def __init__(self, load: Callable[[K], T], keys: Sequence[K], ahead: int = 1) -> None:
        if ahead < 1:
            raise ValueError(f"ahead must be at least 1, got {ahead}")
        self._load = load
        self._keys = list(keys)
        self._ahead = ahead
        self._taken = 0  # index into _keys of the next key to take
        self._futures: dict[int, Future[tuple[T, float]]] = {}
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bench-prefetch")

    def __enter__(self) -> Prefetcher[K, T]:
        self._submit_through(self._ahead - 1)
        return self

    def __exit__(self, *_: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _timed(self, key: K) -> tuple[T, float]:
        start = time.perf_counter()
        value = self._load(key)
        return value, (time.perf_counter() - start) * 1e3

    def _submit_through(self, last: int) -> None:
        for index in range(self._taken, min(last, len(self._keys) - 1) + 1):
            if index not in self._futures:
                self._futures[index] = self._pool.submit(self._timed, self._keys[index])

    def take(self, key: K) -> Loaded[T]:
        """``key``'s data (what the loader raised is raised here), once the next keys' loading has started."""
        index = self._taken
        if index >= len(self._keys) or self._keys[index] != key:
            raise ValueError(f"take({key!r}) out of order: keys are taken in the order given")
        start = time.perf_counter()
        self._submit_through(index + self._ahead)
        self._taken += 1
        value, work = self._futures.pop(index).result()
        return Loaded(value, work, (time.perf_counter() - start) * 1e3)
