"""The one atomic file writer (bench.atomic): whole files or none, unique temporary names, no leftovers."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from bench import atomic
from bench.atomic import atomic_write


def test_writes_text_and_bytes_replacing_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "new" / "folder" / "file.json"
    atomic_write(path, "first")
    atomic_write(path, b"\x00second")
    assert path.read_bytes() == b"\x00second"
    assert [p.name for p in path.parent.iterdir()] == ["file.json"]  # no temporary file left
    assert path.stat().st_mode & 0o777 == 0o666 & ~atomic._UMASK  # as open() would make it, not mkstemp's 0600


def test_csv_text_has_its_formulas_neutralised(tmp_path: Path) -> None:
    atomic_write(tmp_path / "t.csv", "name,value\n=cmd(),-0.5\n")
    assert (tmp_path / "t.csv").read_text() == "name,value\n'=cmd(),-0.5\n"
    atomic_write(tmp_path / "t.txt", "=cmd()")
    assert (tmp_path / "t.txt").read_text() == "=cmd()"


def test_a_failure_keeps_the_old_file_and_names_a_full_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "part.json"
    atomic_write(path, "old")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space left on device") as caught:
        atomic_write(path, "new")
    assert caught.value.filename == str(path)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["part.json"]
