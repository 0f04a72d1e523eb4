"""Records and committed reports read the same on every machine: paths relative to the run, else from a named
machine folder (bench.portable), with what each name stood for in environment.json."""

from __future__ import annotations

import json
import shutil
import sysconfig
from pathlib import Path

import pytest

from bench.config import DataConfig, RunConfig
from bench.portable import MACHINE_PATHS, PathStyle
from bench.protocols import Job
from bench.runner import run_benchmark
from tests.conftest import write_bilayer_dataset


def test_run_style_writes_paths_relative_to_the_run_else_from_a_machine_folder(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "20261201-000000-default"
    site = sysconfig.get_paths()["purelib"]
    style = PathStyle.for_run(run)
    assert style.text(f"{run}/samples/a.png") == "samples/a.png"
    assert style.text(str(run)) == "."
    assert style.text(f"see {run}/failures.csv.") == "see failures.csv."
    assert style.text(f"{site}/face_recognition_models/x.dat") == "$SITE_PACKAGES/face_recognition_models/x.dat"
    assert style.text(f"torch hub ({Path.home()}/elsewhere)") == "torch hub (~/elsewhere)"
    # only whole paths and whole folder names: another path that merely contains the prefix is left alone
    assert style.text(f"{run}-2/x") == f"{run}-2/x"
    assert style.text(f"/outer{run}/x") == f"/outer{run}/x"
    assert style.value({"a": [f"{run}/x", 3], MACHINE_PATHS: {"~": [str(Path.home())]}}) == {
        "a": ["x", 3],
        MACHINE_PATHS: {"~": [str(Path.home())]},  # the one place that says what the names stand for
    }


def test_report_style_names_each_runs_parent_bench_runs(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "20261201-000000-default"
    site = sysconfig.get_paths()["purelib"]
    text = f"run ({run}); weights {site}/m/x.dat; {tmp_path}/runs-other/x"
    out = PathStyle.for_report([run]).text(text)
    assert out == f"run (bench-runs/20261201-000000-default); weights $SITE_PACKAGES/m/x.dat; {tmp_path}/runs-other/x"
    relative = Path("out/tmp/runs-1/r")  # a relative run path, as `nox -s report` passes its own
    style = PathStyle.for_report([relative])
    assert style.text(f"run ({relative}); --out {relative.parent} --x") == "run (bench-runs/r); --out bench-runs --x"


def test_portable_report_writes_the_record_copies_portably(tmp_path: Path) -> None:
    from bench.report.build import _copy_records
    from bench.report.load import ReportInputs

    run = tmp_path / "runs" / "r"
    run.mkdir(parents=True)
    (run / "config.toml").write_text(f'weights_dir = "{Path.home()}/w"\nroot = "{run}/data"\n')

    class Run:  # what _copy_records reads of a RunRecord
        path, tag = run, "R1"

    _copy_records(ReportInputs((Run(),)), tmp_path / "out", PathStyle.for_report([run]))  # type: ignore[arg-type]
    copied = (tmp_path / "out" / "records" / "R1-r" / "config.toml").read_text()
    assert copied == 'weights_dir = "~/w"\nroot = "bench-runs/r/data"\n'
    _copy_records(ReportInputs((Run(),)), tmp_path / "verbatim", None)  # type: ignore[arg-type]
    assert (tmp_path / "verbatim" / "records" / "R1-r" / "config.toml").read_text() == (run / "config.toml").read_text()


class _Killed(Exception):
    pass


def test_run_records_hold_no_machine_path_and_a_moved_run_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("BILAYER_BENCH_CACHE", str(cache))
    root = write_bilayer_dataset(cache / "data" / "mine")
    config = RunConfig(data=DataConfig(root=str(root)), threads=1, metrics=("l1", "psnr"))
    whole = run_benchmark(config, out_root=tmp_path / "whole", progress=False).run_dir

    for path in whole.rglob("*"):
        if path.suffix in {".json", ".csv"}:
            text = path.read_text(encoding="utf-8")
            if path.name in {"environment.json", "results.json"}:  # both hold environment.json's machine_paths
                record = json.loads(text)
                record = record.get("environment", record)
                record.pop(MACHINE_PATHS)
                text = json.dumps(record)
            assert str(tmp_path) not in text, path
    data = json.loads((whole / "data.json").read_text())
    assert data["root"] == "$BILAYER_BENCH_CACHE/data/mine"
    environment = json.loads((whole / "environment.json").read_text())
    assert str(cache) in environment[MACHINE_PATHS]["$BILAYER_BENCH_CACHE"]

    seen: list[str] = []

    def kill_after_two(job: Job) -> None:
        seen.append(job.id)
        if len(seen) == 2:
            raise _Killed

    with pytest.raises(_Killed):
        run_benchmark(config, out_root=tmp_path / "killed", progress=False, on_job_done=kill_after_two)
    (interrupted,) = (tmp_path / "killed").iterdir()
    moved = shutil.move(interrupted, tmp_path / "elsewhere" / interrupted.name)
    run_benchmark(config, resume=Path(moved), progress=False)
    for name in ("frames.csv", "sequences.csv", "failures.csv"):
        assert (Path(moved) / name).read_bytes() == (whole / name).read_bytes(), name


def test_the_console_names_this_machines_paths_while_the_record_names_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench.cli import main

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    root = write_bilayer_dataset(tmp_path / "data")
    args = ["run", "--data", str(root), "--models", "copy-source", "--metrics", "l1,lpips.alex.v0.1", "--no-progress"]
    args += ["--allow-missing-metrics", "--no-latency", "--no-report", "--out", str(tmp_path / "runs")]
    assert main(args) == 0
    hub = f"{tmp_path}/torch/hub/checkpoints"
    assert f"torch hub ({hub})" in capsys.readouterr().out  # what the user can act on
    (run,) = (tmp_path / "runs").iterdir()
    (skipped,) = json.loads((run / "metrics.json").read_text())["skipped"]
    assert "torch hub ($TORCH_HUB/checkpoints)" in skipped["reason"]
