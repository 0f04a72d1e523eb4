"""Sharded evaluation: launch environment, sharding, and torchrun runs that must write a single process's record.

The torchrun tests start ``python -m torch.distributed.run --standalone`` (a free port on localhost) with two gloo
processes on CPU; pytest-socket only guards this process, not those children.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import write_bilayer_dataset

from bench.config import RunConfig, default_config, full_sampling, with_overrides
from bench.data.types import SequenceRef
from bench.distributed import DistributedError, Launch, launch_from_environment, rank_device, shard_jobs
from bench.distributed.launch import timeout_from_environment
from bench.distributed.states import MetricStates, check_gathered
from bench.errors import ConfigError
from bench.protocols import Job
from bench.runner import RunSummary, run_benchmark

FID = "fid.inception-2015-12-05.2048"
CHEAP_AND_FID = ("l1", "psnr", "ssim", FID)
BASELINES = ("copy-source", "oracle")
EVALUATION_ONLY = ["--models", ",".join(BASELINES), "--no-latency", "--no-report"]  # as BASELINES below

# --- launch environment --------------------------------------------------------------------------------------------

TORCHRUN = {"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "MASTER_ADDR": "node0", "MASTER_PORT": "29500"}


def test_torchrun_variables_are_read() -> None:
    assert launch_from_environment(TORCHRUN) == Launch(1, 4, 1, "torchrun")


def test_slurm_variables_are_read_when_torchrun_is_absent() -> None:
    env = {"SLURM_PROCID": "5", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1", "MASTER_ADDR": "n1", "MASTER_PORT": "1"}
    assert launch_from_environment(env) == Launch(5, 8, 1, "slurm")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, r"no RANK and WORLD_SIZE \(torchrun\) nor SLURM_PROCID .* `torchrun --nproc_per_node N"),
        ({"RANK": "0", "WORLD_SIZE": "2"}, r"under torchrun: MASTER_ADDR and MASTER_PORT not set; .*scontrol"),
        ({**TORCHRUN, "RANK": "one"}, r"RANK='one' is not an integer"),
        ({**TORCHRUN, "RANK": "4"}, r"rank 4 of world size 4 \(local rank 1\) is not valid"),
    ],
)
def test_bad_launch_environments_say_how_to_launch(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        launch_from_environment(env)


def test_rank_devices_and_timeout() -> None:
    assert rank_device("cuda", 3) == "cuda:3" and rank_device("cpu", 3) == "cpu"
    with pytest.raises(ConfigError, match="pass --device cuda, and each rank uses cuda:LOCAL_RANK"):
        rank_device("cuda:1", 0)
    assert timeout_from_environment({}).total_seconds() == 30 * 60
    assert timeout_from_environment({"BILAYER_BENCH_DIST_TIMEOUT": "1.5"}).total_seconds() == 90
    with pytest.raises(ConfigError, match=r"BILAYER_BENCH_DIST_TIMEOUT='soon': expected a positive number"):
        timeout_from_environment({"BILAYER_BENCH_DIST_TIMEOUT": "soon"})


# --- sharding ------------------------------------------------------------------------------------------------------


def _jobs(lengths: list[int]) -> list[Job]:
    jobs = []
    for index, length in enumerate(lengths):
        seq = SequenceRef("test", f"p{index:02d}", "v", "s", ())
        jobs.append(Job("self", seq, 0, seq, tuple(range(1, length + 1))))
    return jobs


def test_shards_partition_the_jobs_and_balance_frames() -> None:
    jobs = _jobs([7, 7, 3, 8, 2, 7, 5, 1, 9, 4])
    for world in (1, 2, 3, 4, 16):
        shards = [shard_jobs(jobs, world, rank) for rank in range(world)]
        assert sorted(j.id for shard in shards for j in shard) == sorted(j.id for j in jobs)
        for shard in shards:  # each rank keeps the original order of its jobs
            assert [jobs.index(j) for j in shard] == sorted(jobs.index(j) for j in shard)
        loads = [sum(len(j.driver_indices) for j in shard) for shard in shards]
        assert max(loads) - min(loads) <= max(len(j.driver_indices) for j in jobs)
        assert shards == [shard_jobs(list(jobs), world, rank) for rank in range(world)]  # a pure function
    assert [sum(len(j.driver_indices) for j in shard_jobs(jobs, 2, r)) for r in range(2)] == [27, 26]
    with pytest.raises(ValueError, match="rank 2 is not in a world of 2"):
        shard_jobs(jobs, 2, 2)


def test_a_lost_record_is_an_error() -> None:
    frames = pd.DataFrame({"model": ["m", "m"], "protocol": ["self"] * 2, "l1": [0.5, 0.25]})
    keys = [("m", "self", "l1")]
    check_gathered(frames, MetricStates({}, keys, np.array([[0.75, 0.75, 2.0]])))
    with pytest.raises(DistributedError, match=r"m/self/l1 add up to 0.5 over 1 frames, .* 0.75 over 2 frames"):
        check_gathered(frames.iloc[:1], MetricStates({}, keys, np.array([[0.75, 0.75, 2.0]])))


# --- torchrun ------------------------------------------------------------------------------------------------------


def _torchrun(args: list[str], out: Path | None, script: Path | None = None) -> subprocess.CompletedProcess:
    """``bilayer-bench run --distributed ARGS`` on two processes; ``out`` None: no --out (a --resume takes none)."""
    entry = [str(script)] if script is not None else ["-m", "bench"]
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    command += [
        *entry,
        "run",
        "--distributed",
        *args,
        *(("--out", str(out)) if out is not None else ()),
        "--no-progress",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "BILAYER_BENCH_DIST_TIMEOUT": "5"}
    return subprocess.run(command, capture_output=True, text=True, timeout=900, env=env, check=False)


def _only_run_dir(out: Path) -> Path:
    (run_dir,) = out.iterdir()
    return run_dir


def _assert_same_record(single: Path, sharded: Path) -> None:
    """Everything but timings and the environment equal; FID (float64 sums in another order) to 1e-12."""
    for name in ("frames.csv", "sequences.csv", "failures.csv", "config.toml", "data.json", "weights.json"):
        assert (sharded / name).read_bytes() == (single / name).read_bytes(), name
    one, many = (json.loads((d / "results.json").read_text()) for d in (single, sharded))
    assert many["environment"]["distributed"]["world_size"] == 2 and "distributed" not in one["environment"]
    for key in ("status", "jobs", "config", "data", "weights", "metrics", "skipped_metrics", "failures"):
        assert many[key] == one[key], key
    assert len(many["summary"]) == len(one["summary"])
    fid_rows = 0
    for ours, theirs in zip(one["summary"], many["summary"], strict=True):
        if ours["metric"] == FID:
            fid_rows += 1
            assert theirs["value"] == pytest.approx(ours["value"], rel=1e-12, abs=1e-9)
        assert {**ours, "value": None} == {**theirs, "value": None}
        assert ours["metric"] == FID or ours["value"] == theirs["value"]
    assert fid_rows > 0
    timings = [pd.read_csv(d / "timings.csv") for d in (single, sharded)]
    assert len(timings[0]) == len(timings[1])


def _corrupt_small_dataset(root: Path) -> Path:
    data = write_bilayer_dataset(root, persons=2, videos=1, sequences=2, frames=3)
    (data / "imgs" / "test" / "id01" / "vid0" / "seq1" / "2.jpg").write_bytes(b"not a jpeg")
    return data


def _baselines_config(data: Path) -> RunConfig:
    """The sanity baselines over every frame of ``data``, cheap metrics and FID, evaluation only."""
    return with_overrides(
        full_sampling(default_config()),
        models=BASELINES,
        metrics=CHEAP_AND_FID,
        threads=1,
        data__root=str(data),
        latency__measure=False,
        report=False,
    )


def test_two_processes_write_the_record_of_one(tmp_path: Path) -> None:
    """gloo, 2 processes, FID included; a corrupt frame fails its job on one rank and is recorded as in one."""
    data = _corrupt_small_dataset(tmp_path / "data")
    config = _baselines_config(data)
    single = run_benchmark(config, out_root=tmp_path / "single", progress=False)
    assert single.status == "partial" and list(single.failures.job) == ["self:id01/vid0/seq1"] * 2
    args = ["--data", str(data), "--metrics", ",".join(CHEAP_AND_FID), "--threads", "1", *EVALUATION_ONLY]
    done = _torchrun(args, tmp_path / "sharded")
    assert done.returncode == 1, done.stderr[-3000:]  # 1: a job failed, as the single-process CLI says
    assert "self:id01/vid0/seq1" in done.stderr and "fix them and continue with" in done.stderr
    assert done.stdout.count("run directory:") == 1  # rank 0 reports
    _assert_same_record(single.run_dir, _only_run_dir(tmp_path / "sharded"))


WORKER = """
import os
import sys

import bench.runner
from bench.cli import main

original = bench.runner.run_benchmark


def run_benchmark(*args, **kwargs):
    if os.environ["RANK"] == "1":
        def fail(job):
            raise OSError("disk full (injected on rank 1)")

        kwargs["on_job_done"] = fail
    return original(*args, **kwargs)


bench.runner.run_benchmark = run_benchmark
sys.exit(main(sys.argv[1:]))
"""


def test_an_exception_on_one_rank_stops_every_rank(tmp_path: Path) -> None:
    data = write_bilayer_dataset(tmp_path / "data", persons=2, videos=1, sequences=2, frames=3, size=16)
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    start = time.monotonic()
    args = ["--data", str(data), "--metrics", "l1", "--threads", "1", *EVALUATION_ONLY]  # no paper-size model to build
    done = _torchrun(args, tmp_path / "runs", script=script)
    assert time.monotonic() - start < 240  # far below the process group's timeout: nobody waits for rank 1
    assert done.returncode != 0
    cause = "rank 1: OSError: disk full (injected on rank 1)"
    assert f"error: sharded run stopped on rank 0 because {cause}" in done.stderr
    assert f"error: sharded run stopped on rank 1 because {cause}" in done.stderr
    assert not (_only_run_dir(tmp_path / "runs") / "results.json").exists()


def _resumable_run(config: RunConfig, out: Path, stop_after: int) -> Path:
    class Stop(Exception):
        pass

    seen: list[Any] = []

    def stop(job: Job) -> None:
        seen.append(job)
        if len(seen) == stop_after:
            raise Stop

    with pytest.raises(Stop):
        run_benchmark(config, out_root=out, progress=False, on_job_done=stop)
    return _only_run_dir(out)


@pytest.mark.slow
def test_two_processes_resume_a_single_process_run(tmp_path: Path) -> None:
    data = write_bilayer_dataset(tmp_path / "data", persons=3, videos=1, sequences=2, frames=3)
    config = _baselines_config(data)
    whole = run_benchmark(config, out_root=tmp_path / "whole", progress=False)
    interrupted = _resumable_run(config, tmp_path / "interrupted", stop_after=4)
    done = _torchrun(["--resume", str(interrupted)], None)
    assert done.returncode == 0, done.stderr[-3000:]
    _assert_same_record(whole.run_dir, interrupted)


@pytest.mark.slow
def test_two_processes_on_the_default_data_set_write_the_record_of_one(tmp_path: Path) -> None:
    """The issue's check: the default run (default metrics, FID included) sharded over two processes."""
    config = with_overrides(default_config(), models=BASELINES, threads=1, latency__measure=False, report=False)
    single: RunSummary = run_benchmark(config, out_root=tmp_path / "single", progress=False)
    assert single.status == "complete" and FID in set(single.summary.metric)
    done = _torchrun(["--threads", "1", *EVALUATION_ONLY], tmp_path / "sharded")
    assert done.returncode == 0, done.stderr[-3000:]
    _assert_same_record(single.run_dir, _only_run_dir(tmp_path / "sharded"))
