from __future__ import annotations

from pathlib import Path

from bench.config import ProtocolConfig
from bench.data.types import FrameRef, SequenceRef
from bench.protocols import build_jobs, cross_reenactment, self_reenactment


def _seq(person: str, video: str = "v", seq: str = "s", frames: int = 5) -> SequenceRef:
    refs = tuple(FrameRef(name=str(i), image=Path(f"{person}/{i}.jpg")) for i in range(frames))
    return SequenceRef("test", person, video, seq, refs)


def test_self_reenactment_excludes_the_source_and_applies_stride_and_limit() -> None:
    jobs, skipped = self_reenactment(
        [_seq("a", frames=6)], ProtocolConfig(source_frame=2, driver_stride=2, max_drivers=2)
    )
    assert skipped == []
    (job,) = jobs
    assert job.source_index == 2 and job.driver is job.source
    assert job.driver_indices == (0, 3)  # others: 0,1,3,4,5 -> every 2nd: 0,3,5 -> first 2
    assert job.has_ground_truth and job.id == "self:a/v/s"


def test_self_reenactment_skips_short_sequences_with_a_reason() -> None:
    jobs, skipped = self_reenactment([_seq("a", frames=1), _seq("b", frames=3)], ProtocolConfig(source_frame=0))
    assert [j.source.person for j in jobs] == ["b"]
    assert skipped[0].sequence == "a/v/s" and "needs at least 2" in skipped[0].reason


def test_cross_reenactment_pairs_identities_deterministically() -> None:
    sequences = [_seq("c"), _seq("a", seq="s2"), _seq("a", seq="s1"), _seq("b")]
    jobs, _ = cross_reenactment(sequences, ProtocolConfig())
    pairs = [(j.source.id, j.driver.id) for j in jobs]
    assert pairs == [("a/v/s1", "b/v/s"), ("b/v/s", "c/v/s"), ("c/v/s", "a/v/s1")]
    assert all(not j.has_ground_truth for j in jobs)
    assert jobs[0].driver_indices == (0, 1, 2, 3, 4)
    again, _ = cross_reenactment(list(reversed(sequences)), ProtocolConfig())
    assert [(j.source.id, j.driver.id) for j in again] == pairs


def test_cross_reenactment_needs_two_identities() -> None:
    jobs, skipped = cross_reenactment([_seq("a")], ProtocolConfig())
    assert jobs == [] and "at least two identities" in skipped[0].reason


def test_build_jobs_orders_protocols_as_configured() -> None:
    jobs, _ = build_jobs([_seq("b"), _seq("a")], ProtocolConfig(kinds=("cross", "self")))
    assert [j.protocol for j in jobs] == ["cross", "cross", "self", "self"]
    assert [j.id for j in jobs][2:] == ["self:a/v/s", "self:b/v/s"]
