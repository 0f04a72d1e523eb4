"""Issue 16: run records that can never mix or lose results.

Job ids and part file names are injective; ``--resume`` refuses finished parts made with another config, data
set or code version, redoes a corrupt part, and completes after a kill or a full disk; two runs started at once
on one ``--out`` get two folders; every CSV cell a spreadsheet would evaluate is neutralised.
"""

from __future__ import annotations

import csv
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest
from cli_errors import BASELINES_RUN, assert_one_line_error, cli, cli_error, run_dirs
from conftest import write_bilayer_dataset
from PIL import Image

from bench.cli import main
from bench.config import DataConfig, ProtocolConfig, RunConfig
from bench.csvfile import neutralise
from bench.errors import ConfigError, DataError
from bench.records import RunDirectory, file_stem
from bench.runner import run_benchmark

_RUN = BASELINES_RUN


def _config(root: Path, **changes: object) -> RunConfig:
    base = {
        "models": ("copy-source", "oracle"),
        "metrics": ("l1",),
        "data": DataConfig(root=str(root)),
        "protocol": ProtocolConfig(kinds=("self",)),
        "threads": 1,
    }
    return RunConfig(**{**base, **changes})  # type: ignore[arg-type]


def _copy_sequence(root: Path, source: str, name: str) -> None:
    for kind in ("imgs", "keypoints"):
        video = root / kind / "test" / "id00" / "vid0"
        shutil.copytree(video / source, video / name)


# Injective job ids and part names (class 1) --------------------------------------------------------------------


def test_file_stems_are_injective_and_short() -> None:
    names = ["s 1", "s_1", "s%201", "s.1", "s/1", "S_1", "self:a/b/c", "self:a/b/c.fid", "é", "\udce9", "~", ""]
    stems = [file_stem(n) for n in names]
    assert len(set(stems)) == len(names)
    assert all(set(s) <= set("ABCDEFabcdef0123456789%_-ghijklmnopqrstuvwxyzGHIJKLMNOPQRSTUVWXYZ") for s in stems)
    long = ["x" * 400 + str(i) for i in range(3)]
    assert len({file_stem(n) for n in long}) == 3 and all(len(file_stem(n)) <= 150 for n in long)
    assert file_stem("fomm.vox256", dots=True) == "fomm.vox256"


def test_sequences_differing_in_dropped_characters_are_both_evaluated(bilayer_root: Path, tmp_path: Path) -> None:
    _copy_sequence(bilayer_root, "seq0", "s 1")
    _copy_sequence(bilayer_root, "seq1", "s_1")
    result = run_benchmark(_config(bilayer_root, models=("copy-source",)), out_root=tmp_path, progress=False)
    assert result.status == "complete"
    frames = pd.read_csv(result.run_dir / "frames.csv")
    jobs = set(frames.job)
    assert {"self:id00/vid0/s 1", "self:id00/vid0/s_1"} <= jobs
    by_job = frames.groupby("job").l1.mean()  # each is scored on its own frames, not the other's
    assert by_job["self:id00/vid0/s 1"] == by_job["self:id00/vid0/seq0"]
    assert by_job["self:id00/vid0/s_1"] == by_job["self:id00/vid0/seq1"]
    parts = list((result.run_dir / "parts" / "copy-source").glob("*.json"))
    assert len(parts) == len(jobs) == 6
    assert {json.loads(part.read_text())["job"] for part in parts} == jobs


def test_two_sequences_with_one_id_are_an_error(tmp_path: Path) -> None:
    root = tmp_path / "vox"
    for clip in ("x", "x#x#0"):  # a plain name is its own person and video, sequence "0"
        (root / "test" / clip).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (32, 32), (i * 40, 0, 0)).save(root / "test" / clip / f"{i}.png")
    config = _config(root, data=DataConfig(root=str(root), layout="fomm"))  # refused when the data set opens
    with pytest.raises(DataError, match=r"sequence 'x/x/0' has the same name as .*rename one"):
        run_benchmark(config, out_root=tmp_path / "out", progress=False)
    assert run_dirs(tmp_path / "out") == []


# --resume checks the fingerprint of the finished parts (class 2) -----------------------------------------------


def _run_dir(out: str) -> Path:
    return Path(out.strip().splitlines()[-1].removeprefix("run directory: "))


def _finish(capsys: pytest.CaptureFixture[str], root: Path, out: Path) -> Path:
    assert main(["run", "--data", str(root), "--out", str(out), *_RUN]) == 0
    return _run_dir(capsys.readouterr().out)


def test_resume_refuses_a_changed_config(
    capsys: pytest.CaptureFixture[str], bilayer_root: Path, tmp_path: Path
) -> None:
    run = _finish(capsys, bilayer_root, tmp_path / "out")
    next(run.glob("parts/oracle/*.json")).unlink()  # as if killed before the last job
    config = run / "config.toml"
    config.write_text(config.read_text().replace("seed = 0", "seed = 1"))
    line = cli_error(capsys, "run", "--resume", run, "--no-progress", names=(run, "seed 0 -> 1", "configuration"))
    assert "would mix them" in line
    config.write_text(config.read_text().replace("seed = 1", "seed = 0"))
    assert main(["run", "--resume", str(run), "--no-progress"]) == 0
    assert json.loads((run / "results.json").read_text())["status"] == "complete"


def test_resume_refuses_a_changed_data_manifest(
    capsys: pytest.CaptureFixture[str], bilayer_root: Path, tmp_path: Path
) -> None:
    (bilayer_root / "MANIFEST.json").write_text('{"clips": 4}')
    run = _finish(capsys, bilayer_root, tmp_path / "out")
    (bilayer_root / "MANIFEST.json").write_text('{"clips": 5}')
    cli_error(capsys, "run", "--resume", run, "--no-progress", names=(run, "data set (manifest_sha256"))


def test_resume_refuses_changed_frames_of_a_finished_job(
    capsys: pytest.CaptureFixture[str], bilayer_root: Path, tmp_path: Path
) -> None:
    run = _finish(capsys, bilayer_root, tmp_path / "out")
    for kind, suffix in (("imgs", "jpg"), ("keypoints", "npy")):
        (bilayer_root / kind / "test" / "id00" / "vid0" / "seq0" / f"3.{suffix}").unlink()
    line = cli_error(capsys, "run", "--resume", run, "--no-progress", names=("another data set (frames of",))
    assert "id00/vid0/seq0" in line and "4 more with other differences" not in line


def test_resume_refuses_parts_without_a_fingerprint(
    capsys: pytest.CaptureFixture[str], bilayer_root: Path, tmp_path: Path
) -> None:
    run = _finish(capsys, bilayer_root, tmp_path / "out")
    part = next(run.glob("parts/oracle/*.json"))
    payload = json.loads(part.read_text())
    del payload["fingerprint"]
    part.write_text(json.dumps(payload))
    cli_error(capsys, "run", "--resume", run, "--no-progress", names=("older version",))


def test_a_corrupt_part_is_redone_and_the_others_kept(bilayer_root: Path, tmp_path: Path) -> None:
    config = _config(bilayer_root)
    result = run_benchmark(config, out_root=tmp_path, progress=False)
    parts = sorted(result.run_dir.glob("parts/*/*.json"))
    before = {p: p.stat().st_mtime_ns for p in parts}
    frames = pd.read_csv(result.run_dir / "frames.csv")
    parts[0].write_text('{"model": "copy-source", "rows": [')  # cut short by a crash of the disk
    resumed = run_benchmark(config, resume=result.run_dir, progress=False)
    assert resumed.status == "complete"
    assert json.loads(parts[0].read_text())["status"] == "ok"
    assert [p for p in parts[1:] if p.stat().st_mtime_ns != before[p]] == []
    pd.testing.assert_frame_equal(pd.read_csv(result.run_dir / "frames.csv"), frames)


_KILL_AFTER_TWO = """
import os, signal, sys
from pathlib import Path
from bench.config import load_config
from bench.runner import run_benchmark
done = []
def kill(job):
    done.append(job)
    if len(done) == 2:
        os.kill(os.getpid(), signal.SIGKILL)
run_benchmark(load_config(sys.argv[1]), out_root=Path(sys.argv[2]), progress=False, on_job_done=kill)
"""


def test_killed_run_resumes_to_the_same_record(bilayer_root: Path, tmp_path: Path) -> None:
    """A real kill (SIGKILL after two jobs), then ``--resume`` in a new process: the record equals a clean run's."""
    config = tmp_path / "c.toml"
    config.write_text(
        f'models = ["copy-source", "oracle"]\nmetrics = ["l1"]\nthreads = 1\n[data]\nroot = "{bilayer_root}"\n'
    )
    killed = subprocess.run(
        [sys.executable, "-c", _KILL_AFTER_TWO, str(config), str(tmp_path / "killed")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    (run,) = run_dirs(tmp_path / "killed")
    assert not (run / "results.json").exists() and len(list(run.glob("parts/*/*.json"))) == 4
    resumed = cli("run", "--resume", run, "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    clean = cli("run", config, "--out", tmp_path / "clean", "--no-progress")
    assert clean.returncode == 0, clean.stderr
    (reference,) = run_dirs(tmp_path / "clean")
    pd.testing.assert_frame_equal(pd.read_csv(run / "frames.csv"), pd.read_csv(reference / "frames.csv"))


# A full disk (class 6) -----------------------------------------------------------------------------------------


def test_disk_full_is_one_line_and_resume_completes(
    capsys: pytest.CaptureFixture[str], bilayer_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fsync, written = os.fsync, []

    def full_after_three_parts(fd: int) -> None:
        target = os.readlink(f"/proc/self/fd/{fd}")
        if "/parts/" in target:
            written.append(target)
            if len(written) > 3:
                raise OSError(errno.ENOSPC, "No space left on device")
        fsync(fd)

    monkeypatch.setattr(os, "fsync", full_after_three_parts)
    code = main(["run", "--data", str(bilayer_root), "--out", str(tmp_path / "out"), *_RUN])
    line = assert_one_line_error(code, capsys.readouterr().err, "disk full", "--resume")
    (run,) = run_dirs(tmp_path / "out")
    assert f"bilayer-bench run --resume {run}" in line
    assert len(list(run.glob("parts/*/*.json"))) == 3  # finished parts kept, nothing half-written
    monkeypatch.setattr(os, "fsync", fsync)
    assert main(["run", "--resume", str(run), "--no-progress"]) == 0
    assert json.loads((run / "results.json").read_text())["status"] == "complete"


# Run folders made atomically (class 4) -------------------------------------------------------------------------


def test_run_folders_made_at_once_never_collide(tmp_path: Path) -> None:
    config, made, start = RunConfig(), [], threading.Barrier(8)

    def create() -> None:
        start.wait()
        made.append(RunDirectory.create(tmp_path, config, "20260101-000000").path)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(made)) == 8 and all((p / "config.toml").is_file() for p in made)
    assert {p.name for p in made} == {"20260101-000000-default", *(f"20260101-000000-default-{i}" for i in range(2, 9))}


def test_two_runs_started_at_once_on_one_out(bilayer_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    command = [sys.executable, "-m", "bench", "run", "--data", str(bilayer_root), "--out", str(out), *_RUN]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [p.communicate(timeout=600) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], results
    dirs = run_dirs(out)
    assert len(dirs) == 2 and all((d / "results.json").is_file() for d in dirs)
    assert {_run_dir(stdout) for stdout, _ in results} == set(dirs)


# CSV cells a spreadsheet would evaluate (class 11) -------------------------------------------------------------


def test_neutralise_leaves_numbers_and_plain_text() -> None:
    text = 'name,value\n=1+2,-0.5\n@SUM(A1),-inf\n+x,3\n-2+3,"a,b"\nplain,\n'
    assert neutralise(text) == "name,value\n'=1+2,-0.5\n'@SUM(A1),-inf\n'+x,3\n'-2+3,\"a,b\"\nplain,\n"
    assert neutralise("a,b\n1,-2\n") == "a,b\n1,-2\n"


def test_run_csvs_neutralise_formulas_in_names(bilayer_root: Path, tmp_path: Path) -> None:
    for kind in ("imgs", "keypoints", "segs"):
        (bilayer_root / kind / "test" / "id01").rename(bilayer_root / kind / "test" / "=HYPERLINK(1)")
    bad = bilayer_root / "imgs" / "test" / "id00" / "vid0" / "@seq"
    bad.mkdir()  # an empty sequence: its failure row names it
    result = run_benchmark(_config(bilayer_root), out_root=tmp_path, progress=False)
    for name in ("frames.csv", "sequences.csv", "failures.csv", "timings.csv"):
        with (result.run_dir / name).open(newline="") as handle:
            cells = [cell for row in csv.reader(handle) for cell in row]
        assert not [cell for cell in cells if cell.startswith(("=", "@", "+"))], name
    assert "'=HYPERLINK(1)/vid0/seq0" in (result.run_dir / "frames.csv").read_text()
    failures = pd.read_csv(result.run_dir / "failures.csv")
    assert set(failures.job) == {"self:id00/vid0/@seq"}  # inside a cell, not at its start: unchanged


def test_prepare_skipped_csv_neutralises_clip_names(tmp_path: Path) -> None:
    from bench.prepare.writer import ClipRecord, write_skipped_csv

    record = ClipRecord(
        key="=cmd/v/1", source="/x/=cmd/v/1.mp4", status="skipped", reason="unreadable", detail="-bad",
        source_bytes=0, source_mtime_ns=0, sha256=None, fps=None, frames_total=0, frames_kept=0, frames_no_face=0,
        frames_in_dropped_chunks=0, detections=0, seconds=0.0, landmarks={}, config_digest="", suite_version="",
        prepared="",
    )  # fmt: skip
    write_skipped_csv(tmp_path / "skipped.csv", [record])
    assert (tmp_path / "skipped.csv").read_text().splitlines()[1] == "'=cmd/v/1,/x/=cmd/v/1.mp4,unreadable,'-bad,0"


def test_no_jobs_error_is_a_config_error(tmp_path: Path) -> None:
    root = write_bilayer_dataset(tmp_path / "data", persons=1)
    with pytest.raises(ConfigError, match="no job to run"):
        run_benchmark(_config(root, protocol=ProtocolConfig(kinds=("cross",))), out_root=tmp_path / "o", progress=False)
    assert run_dirs(tmp_path / "o") == []
