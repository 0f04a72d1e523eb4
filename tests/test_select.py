"""Which sequences a run evaluates: list files (sha256 recorded) and round-robin sampling over identities."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import write_bilayer_dataset

from bench.config import DataConfig, ProtocolConfig, RunConfig
from bench.data import open_dataset
from bench.data.select import round_robin
from bench.data.types import SequenceRef
from bench.errors import DataError
from bench.runner import run_benchmark
from bench.weights import file_sha256


def _refs(spec: dict[str, int]) -> list[SequenceRef]:
    return [SequenceRef("test", p, "v", f"s{i}", ()) for p, n in spec.items() for i in range(n)]


def test_round_robin_spans_identities_in_data_set_order() -> None:
    refs = _refs({"a": 3, "b": 1, "c": 2})
    assert [r.id for r in round_robin(refs, 3)] == ["a/v/s0", "b/v/s0", "c/v/s0"]
    assert [r.id for r in round_robin(refs, 5)] == ["a/v/s0", "a/v/s1", "b/v/s0", "c/v/s0", "c/v/s1"]
    assert len(round_robin(refs, 100)) == 6


def test_max_sequences_picks_across_persons(tmp_path: Path) -> None:
    root = write_bilayer_dataset(tmp_path / "d", persons=3, sequences=2, frames=2, size=16)
    dataset = open_dataset(DataConfig(root=str(root), max_sequences=3))
    assert [s.person for s in dataset.sequences] == ["id00", "id01", "id02"]


def test_a_sequence_list_is_evaluated_exactly_and_recorded(tmp_path: Path) -> None:
    root = write_bilayer_dataset(tmp_path / "d", persons=2, sequences=2, frames=3, size=16)
    listing = tmp_path / "list.txt"
    listing.write_text("# test clips\nid01/vid0/seq1\n\nid00/vid0/seq0  # first\n", encoding="utf-8")
    config = RunConfig(
        data=DataConfig(root=str(root), sequence_list=str(listing)),
        models=("copy-source",),
        metrics=("l1",),
        protocol=ProtocolConfig(kinds=("self",)),
        samples_per_job=0,
        threads=1,
    )
    result = run_benchmark(config, out_root=tmp_path / "runs", progress=False)
    data = json.loads((result.run_dir / "data.json").read_text())
    assert data["num_sequences"] == 2 and data["sequence_list"]["sha256"] == file_sha256(listing)
    frames = (result.run_dir / "frames.csv").read_text()
    assert "id01/vid0/seq1" in frames and "id00/vid0/seq0" in frames and "id00/vid0/seq1" not in frames


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("id00/vid0/seq0\nid00/vid0/seq0\n", "repeats"),
        ("id09/vid0/seq0\n", "not in the data set: id09/vid0/seq0"),
        ("id00/seq0\n", "is not PERSON/VIDEO/SEQUENCE"),
        ("# nothing\n", "names no sequence"),
    ],
)
def test_bad_sequence_lists_are_one_line(tmp_path: Path, text: str, match: str) -> None:
    root = write_bilayer_dataset(tmp_path / "d", persons=1, sequences=1, frames=2, size=16)
    listing = tmp_path / "list.txt"
    listing.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=match):
        open_dataset(DataConfig(root=str(root), sequence_list=str(listing)))
