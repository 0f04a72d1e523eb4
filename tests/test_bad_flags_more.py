"""Hostile flags of the report and weights commands: one line, exit 2, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_errors import cli_error


def test_report_grid_metric_that_is_no_metric(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cli_error(capsys, "report", tmp_path, "--out", tmp_path / "r", "--grid-metric", "bogus", names=("--grid-metric",))
    assert not (tmp_path / "r").exists()


def test_weights_fetch_into_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = tmp_path / "weights.txt"
    file.write_text("not a folder")
    cli_error(capsys, "weights", "fetch", "fomm.vox-cpk", "--weights-dir", file, names=(file, "is a file"))
    assert file.read_text() == "not a folder"


def test_run_with_a_weights_folder_that_does_not_exist(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A typo in --weights-dir must not turn into random weights without a word."""
    missing = tmp_path / "wieghts"
    args = ("run", "--models", "copy-source", "--weights-dir", missing, "--out", tmp_path / "out", "--no-latency")
    cli_error(capsys, *args, names=(missing, "no such folder"))
    assert not (tmp_path / "out").exists()


def test_weights_listing_of_a_folder_that_does_not_exist(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`weights --weights-dir TYPO` would list every file as missing: one line naming the folder instead."""
    missing = tmp_path / "wieghts"
    cli_error(capsys, "weights", "--weights-dir", missing, names=(missing, "no such folder"))
    assert not missing.exists()
