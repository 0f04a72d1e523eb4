"""`nox -s gpu -- --device cpu` (issue 20): the GPU command's dry run on the CPU, as the nox session runs it
(`python -m bench.gpu` in a subprocess), into a fresh folder, and what a user's bad flag gets."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from cli_errors import assert_one_line_error

from bench.data.synth.spec import SynthSpec
from bench.data.synth.writer import generate_dataset
from bench.gpu.cli import main
from bench.gpu.matrix import DRY_RUN_MODELS, GPU_MODELS, plan
from bench.latency.record import read_record

RUNS_ON_CPU = ("float32-eager-b1", "float32-eager-b8")  # --quick on the CPU: float32, eager, batch 1 and 8
SMALL_DATA = SynthSpec(
    persons=("astronaut", "procedural_00"), videos_per_person=1, sequences_per_video=2, frames_per_sequence=5, size=128
)


@dataclass(frozen=True)
class DryRun:
    out: Path
    process: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory: pytest.TempPathFactory) -> DryRun:
    """`python -m bench.gpu --device cpu --quick` on a small synthetic data set of the embedded default's generator
    (the embedded set itself takes most of a minute to generate on 2 cores; the command is the same). Not noise
    frames: the tiny random-weight models ran about 100 times slower on them here (376 ms a frame instead of 3)."""
    data = tmp_path_factory.mktemp("gpu-data") / "data"
    generate_dataset(data, SMALL_DATA)
    out = tmp_path_factory.mktemp("gpu") / "reports-gpu"
    command = [sys.executable, "-m", "bench.gpu", "--device", "cpu", "--quick", "--out", str(out), "--data", str(data)]
    command += ["--threads", "1"]  # on a shared 2-core machine, 2 threads that wait for each other took twice as long
    process = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=dict(os.environ),
        stdin=subprocess.DEVNULL,
    )
    return DryRun(out, process)


def test_dry_run_exits_0_and_writes_the_folder(dry_run: DryRun) -> None:
    assert dry_run.process.returncode == 0, dry_run.process.stderr[-3000:]
    out = dry_run.out
    for path in ("README.md", "tables/latency_matrix.md", "tables/latency_matrix.csv", "default/summary.txt"):
        assert (out / path).is_file(), path
    png = (out / "figures" / "latency_by_configuration.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    assert sorted(p.name for p in (out / "records").iterdir()) == sorted(RUNS_ON_CPU)


def test_every_record_is_a_latency_record_of_both_tiny_models(dry_run: DryRun) -> None:
    for key in RUNS_ON_CPU:
        record = read_record(dry_run.out / "records" / key)
        assert record.settings["device"] == "cpu" and record.settings["dtype"] == "float32"
        assert record.settings["batch"] == int(key.rsplit("b", 1)[1]) and record.settings["compile"] is False
        assert "--quick sampling of `python -m bench.gpu`" in record.settings["sampling_label"]
        assert {(r.model, r.stage) for r in record.stages} >= {(m, "animate") for m in DRY_RUN_MODELS}
        assert not record.failures
        assert (dry_run.out / "records" / key / "latency_samples.csv").is_file()


def test_table_has_a_row_per_model_and_configuration(dry_run: DryRun) -> None:
    with (dry_run.out / "tables" / "latency_matrix.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 * 3 * 2 * 2  # models x dtypes x compile x batch: every cell has its row
    ran = [r for r in rows if r["status"] == "ok"]
    assert {(r["model"], r["dtype"], r["compile"], r["batch"]) for r in ran} == {
        (m, "float32", "False", b) for m in DRY_RUN_MODELS for b in ("1", "8")
    }
    for row in ran:
        median, fps = float(row["animate_median_ms"]), float(row["frames_per_s"])
        assert median > 0 and fps == pytest.approx(1000 / median, rel=1e-3)
        assert float(row["animate_iqr_ms"]) >= 0 and row["label"].endswith("[RANDOM WEIGHTS]")
        assert row["record"] == f"records/float32-eager-b{row['batch']}"
    skipped = [r for r in rows if r["status"] != "ok"]
    assert all(r["status"].startswith("skipped: ") for r in skipped)
    assert all("torch.compile skipped on the CPU dry run" in r["status"] for r in skipped if r["compile"] == "True")
    table = (dry_run.out / "tables" / "latency_matrix.md").read_text(encoding="utf-8")
    assert (
        table.count("\n| bilayer.tiny [RANDOM WEIGHTS] |") == 12
        and table.count("\n| fomm.tiny [RANDOM WEIGHTS] |") == 12
    )


def test_readme_says_cpu_dry_run_and_what_it_left_out(dry_run: DryRun) -> None:
    readme = (dry_run.out / "README.md").read_text(encoding="utf-8")
    assert readme.startswith("# CPU dry run of the GPU latency matrix")
    assert "**This is a CPU dry run, not a GPU measurement.**" in readme
    assert "- device: CPU" in readme and "torch " in readme and "CUDA none" in readme
    assert "torch.compile skipped on the CPU dry run" in readme and "float16 skipped by --quick" in readme
    assert "Made by `python -m bench.gpu --device cpu --quick" in readme and "(UTC) in " in readme
    assert "| latency float32-eager-b8 | ok |" in readme and "| default run | complete |" in readme
    assert "](figures/latency_by_configuration.png)" in readme


def test_default_run_is_in_the_folder(dry_run: DryRun) -> None:
    (run_dir,) = (p for p in (dry_run.out / "default").iterdir() if p.is_dir())
    results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    assert {row["model"] for row in results["summary"]} >= {"copy-source", "oracle", *DRY_RUN_MODELS}
    assert "bilayer.tiny [RANDOM WEIGHTS]" in (dry_run.out / "default" / "summary.txt").read_text(encoding="utf-8")


def test_gpu_plan_runs_all_24_cells_and_the_cpu_plan_says_why_it_does_not() -> None:
    gpu = plan("cuda", quick=False)
    assert len(gpu) * len(GPU_MODELS) == 24 and not any(p.skip for p in gpu)
    assert [p.cell.compile for p in gpu] == [False] * 6 + [True] * 6  # eager first: compilation is the long part
    cpu = plan("cpu", quick=False)
    assert {p.cell.key for p in cpu if not p.skip} == {
        f"{d}-eager-b{b}" for d in ("float32", "float16", "bfloat16") for b in (1, 8)
    }


@pytest.mark.parametrize(
    ("flags", "names"),
    [
        (["--device", "tpu"], ("--device", "tpu")),
        (["--budget", "-5"], ("--budget",)),
        (["--nope"], ("--nope",)),
        (["--device", "cuda"], ("CUDA is not available", "--device cpu")),  # this CPU machine
    ],
)
def test_bad_flags_are_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, flags: list[str], names: tuple[str, ...]
) -> None:
    code = main([*flags, "--out", str(tmp_path / "out")])
    assert_one_line_error(code, capsys.readouterr().err, *names)
    assert not (tmp_path / "out").exists()


def test_a_cpu_dry_run_does_not_replace_a_gpu_run_or_a_foreign_folder(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "gpu").mkdir()
    (tmp_path / "gpu" / "README.md").write_text("# GPU latency matrix (`python -m bench.gpu`)\n", encoding="utf-8")
    code = main(["--device", "cpu", "--quick", "--out", str(tmp_path / "gpu")])
    assert_one_line_error(code, capsys.readouterr().err, "holds a GPU run")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep", encoding="utf-8")
    code = main(["--device", "cpu", "--quick", "--out", str(tmp_path / "mine")])
    assert_one_line_error(code, capsys.readouterr().err, "not empty and not a folder of `python -m bench.gpu`")
    assert (tmp_path / "mine" / "notes.txt").read_text(encoding="utf-8") == "keep"
