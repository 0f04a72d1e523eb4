"""The metric states of a sharded run: what each process adds up over its jobs, and their reduction.

Per (model, protocol, frame metric) the float64 sum, sum of absolute values and count of the scored frame values;
per (set metric, model, protocol) the moment matrices of the real and generated features
(:class:`bench.aggregate.SetMoments`). Keys come in one order on every process, so ``all_reduce`` adds like to
like. FID comes from the reduced moments; the frame sums check the per-frame rows gathered on rank 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bench.aggregate import SetKey, SetMoments, frame_metric_sums, frames_table, set_metric_moments
from bench.config import RunConfig
from bench.distributed.comm import Communicator, DistributedError
from bench.metrics.evaluators import BuiltMetric
from bench.models import LoadedModel
from bench.records import RunDirectory

__all__ = ["MetricStates", "check_gathered", "local_states", "reduce_states"]


@dataclass(frozen=True)
class MetricStates:
    """What a process adds up over its jobs, reduced across processes: FID statistics and frame sums."""

    set_moments: dict[SetKey, SetMoments]
    frame_keys: list[tuple[str, str, str]]
    frame_sums: np.ndarray  # (K, 3): sum, sum of |value|, count per frame key


def local_states(
    parts: Sequence[dict[str, Any]],
    record: RunDirectory,
    config: RunConfig,
    models: Sequence[LoadedModel],
    metrics: Sequence[BuiltMetric],
) -> MetricStates:
    """States of this process's parts, with keys in one order on every process."""
    frame_names = [m.spec.name for m in metrics if m.spec.kind == "frame"]
    set_names = [m.spec.name for m in metrics if m.spec.kind == "set"]
    groups = sorted((m.spec.name, m.weights_label, kind) for m in models for kind in config.protocol.kinds)
    set_keys = [(name, *group) for name in set_names for group in groups]
    frame_keys = [(m.spec.name, kind, name) for m in models for kind in config.protocol.kinds for name in frame_names]
    return MetricStates(
        set_metric_moments(parts, set_keys, record.read_array, config.protocol.kinds[0]),
        frame_keys,
        frame_metric_sums(frames_table(parts, frame_names), frame_keys),
    )


def reduce_states(states: MetricStates, comm: Communicator) -> MetricStates:
    """Sum the states of every process (all_reduce); a process without features for a key adds zeros."""
    keys = list(states.set_moments)
    local = [states.set_moments[key] for key in keys]
    sizes = comm.all_reduce(np.array([[m.real.shape[0], m.fake.shape[0]] for m in local], dtype=np.int64), "max")
    jobs = comm.all_reduce(np.array([m.jobs for m in local], dtype=np.int64))
    reduced = {}
    for index, (key, state) in enumerate(zip(keys, local, strict=True)):
        sides = [
            comm.all_reduce(side if side.shape == (size, size) else np.zeros((size, size)))  # zeros: none here
            for side, size in zip((state.real, state.fake), sizes[index], strict=True)
        ]
        reduced[key] = SetMoments(int(jobs[index]), *sides)
    return MetricStates(reduced, states.frame_keys, comm.all_reduce(states.frame_sums))


def check_gathered(frames: pd.DataFrame, states: MetricStates) -> None:
    """The gathered per-frame rows must add up to the reduced frame sums (no record lost or doubled)."""
    rows = frame_metric_sums(frames, states.frame_keys)
    reduced = states.frame_sums
    with np.errstate(invalid="ignore"):
        close = np.abs(rows[:, 0] - reduced[:, 0]) <= 1e-9 * np.maximum(rows[:, 1], reduced[:, 1])
    both_nan = np.isnan(rows[:, 0]) & np.isnan(reduced[:, 0])  # +inf and -inf among the values
    same = (rows[:, 2] == reduced[:, 2]) & (close | (rows[:, 0] == reduced[:, 0]) | both_nan)
    for index in np.flatnonzero(~same):
        model, protocol, name = states.frame_keys[index]
        raise DistributedError(
            f"the gathered records of {model}/{protocol}/{name} add up to {float(rows[index, 0])} over "
            f"{rows[index, 2]:.0f} frames, the reduced metric state to {float(reduced[index, 0])} over "
            f"{reduced[index, 2]:.0f} frames: a record was lost or counted twice; run again with --resume"
        )
