"""The command line: help, one-line errors, and the run command writing a run directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cli import main


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        capture_output=True,
        check=False,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
    )


def test_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["run", "--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "--resume" in out and "--random-weights" in out


def test_missing_data_root_is_one_line_naming_the_path() -> None:
    result = _cli("run", "--data", "/no/such/dir", "--no-progress")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "/no/such/dir" in lines[0] and lines[0].startswith("bilayer-bench: error:")


def test_unknown_model_suggests_a_name(bilayer_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "--data", str(bilayer_root), "--models", "oracel", "--out", str(tmp_path), "--no-progress"])
    assert code == 2
    assert "Did you mean 'oracle'" in capsys.readouterr().err


def test_run_prints_the_table_and_the_run_directory(
    bilayer_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "run",
            "--data",
            str(bilayer_root),
            "--out",
            str(tmp_path),
            "--no-progress",
            "--threads",
            "1",
            "--metrics",
            "l1,psnr,ssim",
            "--models",
            "copy-source,oracle",
            "--no-latency",
            "--no-report",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "l1 ↓" in out and "psnr ↑" in out and "ssim ↑" in out
    oracle = next(line for line in out.splitlines() if line.startswith("oracle"))
    assert oracle.split()[1:] == ["self", "12", "0.0000", "inf", "1.0000"]
    cross = [line.split() for line in out.splitlines() if "cross" in line]
    assert cross == [["copy-source", "cross", "8", "-", "-", "-"], ["oracle", "cross", "8", "-", "-", "-"]]
    run_dir = Path(out.strip().splitlines()[-1].removeprefix("run directory: "))
    assert (run_dir / "results.json").is_file()


def test_failures_give_exit_code_one_and_the_resume_command(
    bilayer_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = bilayer_root / "imgs" / "test" / "id00" / "vid0" / "seq1" / "1.jpg"
    bad.write_bytes(b"")
    args = ["--models", "copy-source,oracle", "--metrics", "l1", "--no-latency", "--no-report"]
    code = main(["run", "--data", str(bilayer_root), "--out", str(tmp_path), "--no-progress", *args])
    err = capsys.readouterr().err
    assert code == 1
    assert str(bad) in err and "bilayer-bench run --resume" in err


def test_models_and_weights_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "copy-source" in out and "oracle" in out
