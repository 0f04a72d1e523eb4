"""Running the command line as a user would, and what every user-input error must look like (issue 16):
exit code 2, exactly one line on stderr that starts with ``bilayer-bench: error:`` and names the file or flag,
and no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cli import main

BASELINES_RUN = ("--models", "copy-source,oracle", "--metrics", "l1", "--no-progress", "--threads", "1")
BASELINES_RUN += ("--no-latency", "--no-report")  # the evaluation only: no latency, no report

__all__ = ["assert_one_line_error", "cli", "cli_error", "run_dirs"]


def assert_one_line_error(code: int, stderr: str, *names: object) -> str:
    """The error line, after checking exit code 2, one line, no traceback, and every name in ``names``."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("bilayer-bench: error: "), stderr
    for name in names:
        assert str(name) in lines[0], (name, lines[0])
    assert code == 2, (code, stderr)
    return lines[0]


def cli_error(capsys: pytest.CaptureFixture[str], *args: object, names: tuple[object, ...] = ()) -> str:
    """Run ``bilayer-bench ARGS`` in this process; it must fail as a user-input error naming ``names``."""
    capsys.readouterr()
    code = main([str(a) for a in args])
    return assert_one_line_error(code, capsys.readouterr().err, *names)


def cli(*args: object, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run ``python -m bench ARGS`` in a subprocess (the environment of this test session)."""
    return subprocess.run(
        [sys.executable, "-m", "bench", *map(str, args)],
        capture_output=True,
        check=False,
        text=True,
        timeout=timeout,
        env=dict(os.environ),
        stdin=subprocess.DEVNULL,
    )


def run_dirs(out: Path) -> list[Path]:
    """The run directories under ``out`` (none when ``out`` was never created)."""
    return sorted(p for p in out.iterdir() if p.is_dir()) if out.is_dir() else []
