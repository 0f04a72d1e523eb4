"""The next job's data is loaded on a worker thread while the current one computes (bench.prefetch)."""

from __future__ import annotations

import threading

import pytest

from bench.prefetch import Prefetcher


def test_the_next_key_loads_while_the_caller_works_on_this_one() -> None:
    started = {key: threading.Event() for key in "abc"}
    threads: dict[str, str] = {}

    def load(key: str) -> str:
        threads[key] = threading.current_thread().name
        started[key].set()
        return key.upper()

    with Prefetcher(load, list("abc")) as ahead:
        assert started["a"].wait(5)  # the first starts on entry
        assert not started["b"].is_set()  # one ahead only
        first = ahead.take("a")
        assert first.value == "A" and first.work_ms >= 0 and first.wait_ms >= 0
        assert started["b"].wait(5)  # b is loading before the caller asks for it
        assert not started["c"].is_set()
        assert [ahead.take(key).value for key in "bc"] == ["B", "C"]
    assert set(threads.values()) != {threading.current_thread().name}  # not on the caller's thread


def test_errors_come_back_from_their_own_key_and_order_is_enforced() -> None:
    def load(key: int) -> int:
        if key == 1:
            raise KeyError("bad frame")
        return key

    with Prefetcher(load, [0, 1, 2]) as ahead:
        assert ahead.take(0).value == 0
        with pytest.raises(KeyError, match="bad frame"):
            ahead.take(1)
        assert ahead.take(2).value == 2
    with Prefetcher(load, [0, 2]) as ahead, pytest.raises(ValueError, match="out of order"):
        ahead.take(2)
