"""The job list of a run, decided and checked before anything is written.

:func:`plan_jobs` takes the protocols' jobs (:func:`bench.protocols.build_jobs`) and appends one job per sequence
that discovery found unusable (an empty folder, a broken video, a symbolic-link loop): that job fails with the
sequence's problem, so ``failures.csv`` names it and every other sequence runs. A run without a single runnable
job, or two jobs with one id (they would share their records), is a :class:`~bench.errors.ConfigError` in one
line before any folder is made.
"""

from __future__ import annotations

from collections import Counter

from bench.config import ProtocolConfig
from bench.data import Dataset
from bench.errors import ConfigError
from bench.protocols import Job, SkippedSequence

__all__ = ["plan_jobs"]

_SHOWN = 3


def _no_jobs(dataset: Dataset, skipped: list[SkippedSequence], protocol: ProtocolConfig) -> ConfigError:
    where = f"{dataset.root} (split {dataset.split!r}, protocols {', '.join(protocol.kinds)})"
    longest = max((len(s.frames) for s in dataset.sequences), default=0)
    if dataset.sequences and protocol.source_frame >= longest:
        return ConfigError(
            f"source_frame = {protocol.source_frame} is beyond every sequence of {where}: the longest has {longest} "
            f"frame(s); use a source_frame below {longest} (0 is the first frame)"
        )
    reasons = [f"{s.sequence}: {s.reason}" for s in skipped[:_SHOWN]]
    reasons += [f"{s.problem}" for s in dataset.unusable[: max(_SHOWN - len(reasons), 0)]]
    more = len(skipped) + len(dataset.unusable) - len(reasons)
    detail = "; ".join(reasons) + (f"; and {more} more" if more > 0 else "")
    return ConfigError(
        f"no job to run on {where}: {len(dataset.sequences)} usable sequence(s), {len(dataset.unusable)} unusable"
        f"{': ' + detail if detail else ''}; check the data set, --max-sequences and [protocol]"
    )


def plan_jobs(dataset: Dataset, protocol: ProtocolConfig, jobs: list[Job], skipped: list[SkippedSequence]) -> list[Job]:
    """The jobs of a run: ``jobs`` and ``skipped``, what :func:`~bench.protocols.build_jobs` made of
    ``dataset.sequences``, checked, with the failing jobs of ``dataset.unusable`` after them."""
    if not jobs:
        raise _no_jobs(dataset, skipped, protocol)
    jobs = [*jobs, *(Job(protocol.kinds[0], s, 0, s, ()) for s in dataset.unusable)]
    counts = Counter(j.id for j in jobs)
    repeated = [job_id for job_id, count in counts.items() if count > 1]
    if repeated:
        raise ConfigError(
            f"job id {repeated[0]!r} names {counts[repeated[0]]} jobs of {dataset.root}, whose records would "
            "collide; rename the sequences so that their PERSON/VIDEO/SEQUENCE names differ"
        )
    return jobs
