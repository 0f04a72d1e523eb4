"""Evaluation protocols: which source frame is animated by which driving frames.

* ``self`` (self-reenactment): per sequence, the source is frame ``source_frame``; the other frames of the
  same sequence drive it and are the ground truth the output is compared with.
* ``cross`` (cross-reenactment): identities sorted by name; identity ``i`` (source: frame ``source_frame`` of
  its first sequence) is driven by the first sequence of identity ``(i + 1) % n``. No ground truth.

Both are deterministic functions of the data set and the :class:`~bench.config.ProtocolConfig`; the chosen
frames go into every per-frame record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.config import ProtocolConfig, ProtocolName
from bench.data.types import SequenceRef

__all__ = ["Job", "SkippedSequence", "build_jobs", "cross_reenactment", "self_reenactment"]


@dataclass(frozen=True)
class Job:
    """One source animated by a list of driving frames."""

    protocol: ProtocolName
    source: SequenceRef
    source_index: int
    driver: SequenceRef
    driver_indices: tuple[int, ...]

    @property
    def id(self) -> str:
        if self.protocol == "self":
            return f"self:{self.source.id}"
        return f"cross:{self.source.id}<-{self.driver.id}"

    @property
    def has_ground_truth(self) -> bool:
        return self.protocol == "self"


@dataclass(frozen=True)
class SkippedSequence:
    protocol: ProtocolName
    sequence: str
    reason: str


def _select(indices: Sequence[int], config: ProtocolConfig) -> tuple[int, ...]:
    chosen = tuple(indices[:: max(config.driver_stride, 1)])
    return chosen[: config.max_drivers] if config.max_drivers > 0 else chosen


def self_reenactment(
    sequences: Sequence[SequenceRef], config: ProtocolConfig
) -> tuple[list[Job], list[SkippedSequence]]:
    jobs: list[Job] = []
    skipped: list[SkippedSequence] = []
    for seq in sequences:
        count = len(seq.frames)
        if config.source_frame >= count or count < 2:
            reason = f"{count} frame(s); source_frame={config.source_frame} needs at least {config.source_frame + 2}"
            skipped.append(SkippedSequence("self", seq.id, reason))
            continue
        drivers = _select([i for i in range(count) if i != config.source_frame], config)
        jobs.append(Job("self", seq, config.source_frame, seq, drivers))
    return jobs, skipped


def cross_reenactment(
    sequences: Sequence[SequenceRef], config: ProtocolConfig
) -> tuple[list[Job], list[SkippedSequence]]:
    first: dict[str, SequenceRef] = {}
    for seq in sorted(sequences, key=lambda s: (s.person, s.video, s.sequence)):
        first.setdefault(seq.person, seq)
    persons = sorted(first)
    if len(persons) < 2:
        return [], [SkippedSequence("cross", p, "cross-reenactment needs at least two identities") for p in persons]
    jobs: list[Job] = []
    skipped: list[SkippedSequence] = []
    for i, person in enumerate(persons):
        source, driver = first[person], first[persons[(i + 1) % len(persons)]]
        if config.source_frame >= len(source.frames):
            reason = f"{len(source.frames)} frame(s); source_frame={config.source_frame} is out of range"
            skipped.append(SkippedSequence("cross", source.id, reason))
            continue
        jobs.append(Job("cross", source, config.source_frame, driver, _select(range(len(driver.frames)), config)))
    return jobs, skipped


_BUILDERS = {"self": self_reenactment, "cross": cross_reenactment}


def build_jobs(sequences: Sequence[SequenceRef], config: ProtocolConfig) -> tuple[list[Job], list[SkippedSequence]]:
    """Jobs of every configured protocol, in config order, each protocol's jobs sorted by id."""
    jobs: list[Job] = []
    skipped: list[SkippedSequence] = []
    for kind in config.kinds:
        kind_jobs, kind_skipped = _BUILDERS[kind](sequences, config)
        jobs.extend(sorted(kind_jobs, key=lambda j: j.id))
        skipped.extend(kind_skipped)
    return jobs, skipped
