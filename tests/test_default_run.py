"""The main job on the embedded default data set, end to end."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from bench.cli import main
from bench.config import DataConfig, default_config, full_sampling, with_overrides
from bench.data.default import ensure_default_dataset
from bench.records import INPUTS, sample_folder, sample_frame_name
from bench.runner import run_benchmark

MAIN_JOB_MODELS = ("copy-source", "oracle", "bilayer.paper", "fomm.vox256")


@dataclass(frozen=True)
class MainJob:
    code: int
    out: str
    run_dir: Path
    summary: pd.DataFrame


@pytest.fixture(scope="module")
def main_job(tmp_path_factory: pytest.TempPathFactory) -> MainJob:
    """`bilayer-bench run` with no argument, as the README's first command runs it, on a machine without the real
    weights (an empty weights folder and torch hub)."""
    empty = tmp_path_factory.mktemp("no-weights")
    out = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BILAYER_BENCH_WEIGHTS", str(empty))
        patch.setenv("TORCH_HOME", str(empty))
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            code = main(["run", "--out", str(out), "--no-progress"])
    (run_dir,) = out.iterdir()
    results = json.loads((run_dir / "results.json").read_text())
    return MainJob(code, buffer.getvalue(), run_dir, pd.DataFrame(results["summary"]))


def test_main_job_lists_both_models_labelled_beside_the_baselines(main_job: MainJob) -> None:
    assert main_job.code == 0, main_job.out
    table = main_job.out.split("cost per generated frame")[0]
    for model in MAIN_JOB_MODELS:
        assert f"\n{model}" in table
    assert "bilayer.paper [RANDOM WEIGHTS]" in table and "fomm.vox256 [RANDOM WEIGHTS]" in table
    assert "copy-source [RANDOM" not in table
    assert "prepare ms/avatar ↓" in table and "end-to-end ms/frame ↓" in table  # the latency columns
    bilayer_row = next(line for line in table.splitlines() if line.startswith("bilayer.paper") and " self " in line)
    prepare, per_frame = (float(cell) for cell in bilayer_row.split()[-2:])
    assert prepare > per_frame > 0  # a bi-layer avatar costs more to prepare than a frame to animate
    assert "ran with RANDOM WEIGHTS" in main_job.out and "bilayer-bench weights fetch" in main_job.out
    weights = json.loads((main_job.run_dir / "weights.json").read_text())
    assert {m: weights[m]["weights_label"] for m in ("bilayer.paper", "fomm.vox256")} == {
        "bilayer.paper": "random",
        "fomm.vox256": "random",
    }


def test_main_job_measures_latency_of_the_same_models(main_job: MainJob) -> None:
    record = json.loads((main_job.run_dir / "latency.json").read_text())
    stages = {(s["model"], s["stage"]) for s in record["stages"]}
    for model in MAIN_JOB_MODELS:
        assert (model, "prepare") in stages and (model, "animate") in stages
    assert "short settings" in record["settings"]["sampling_label"]
    assert "short settings" in main_job.out and "prepare" in main_job.out
    assert not record["failures"]


def test_main_job_ends_with_its_report(main_job: MainJob) -> None:
    report = main_job.run_dir / "report"
    html = (report / "report.html").read_text()
    assert f"report: {report / 'report.html'}" in main_job.out
    assert main_job.out.rstrip().splitlines()[-1] == f"run directory: {main_job.run_dir}"
    for model in MAIN_JOB_MODELS:
        assert model in html
    assert "[RANDOM WEIGHTS]" in html
    assert (report / "figures" / "quality-vs-latency.png").is_file()


def test_oracle_is_perfect_copy_source_is_not(main_job: MainJob) -> None:
    table = main_job.summary.set_index(["model", "protocol", "metric"]).value
    assert table["oracle", "self", "l1"] == 0.0
    assert table["oracle", "self", "psnr"] == "inf"  # results.json writes infinity as the string "inf"
    assert table["oracle", "self", "ssim"] == pytest.approx(1.0, abs=1e-6)
    assert table["copy-source", "self", "l1"] > 0.01
    assert table["copy-source", "self", "psnr"] < 35.0
    assert table["copy-source", "self", "ssim"] < 0.95


def test_main_job_samples_the_default_data_set_as_it_says(main_job: MainJob) -> None:
    """One sequence per identity, every other driving frame up to four, every frame of every job saved."""
    results = json.loads((main_job.run_dir / "results.json").read_text())
    assert results["data"]["embedded_default"] is True
    assert len(results["data"]["manifest_sha256"]) == 64
    assert results["data"]["jobs"] == {"self": 4, "cross": 4}
    frames = pd.read_csv(main_job.run_dir / "frames.csv", dtype={"driver_frame": str})
    oracle = frames[frames.model == "oracle"]
    assert oracle[oracle.protocol == "self"].groupby("job").driver_frame.apply(list).map(len).tolist() == [4] * 4
    assert set(oracle[oracle.protocol == "self"].driver_frame) == {"00001", "00003", "00005", "00007"}
    assert oracle.groupby("protocol").size().to_dict() == {"self": 16, "cross": 16}
    assert oracle.source_sequence.str.split("/").str[0].nunique() == 4
    for row in frames.itertuples():
        name = sample_frame_name(row.frame_index, row.driver_frame)
        assert (sample_folder(main_job.run_dir, row.model, row.protocol, row.job) / name).is_file()
        assert (sample_folder(main_job.run_dir, INPUTS, row.protocol, row.job) / name).is_file()
    skipped = {s["name"]: s["reason"] for s in results["skipped_metrics"]}
    assert "lpips.alex.v0.1" in skipped and "not found" in skipped["lpips.alex.v0.1"]
    assert {"l1", "psnr", "ssim"} <= set(results["metrics"])


def test_data_without_a_config_is_evaluated_in_full() -> None:
    """--data ROOT with no config file: every sequence and driving frame, not the main job's short sample."""
    from bench.cli import _run_config, build_parser

    config = _run_config(build_parser().parse_args(["run", "--data", "/somewhere"]))
    assert (config.data.max_sequences, config.protocol.driver_stride, config.protocol.max_drivers) == (0, 1, 0)
    assert config.data.root == "/somewhere" and config.models == MAIN_JOB_MODELS
    assert default_config().data.max_sequences == 4


def test_corrupt_frame_in_a_copy_of_the_default_data_set(tmp_path: Path) -> None:
    copy = shutil.copytree(ensure_default_dataset(), tmp_path / "copy")
    bad = copy / "imgs" / "test" / "grace_hopper" / "v01" / "s00" / "00003.jpg"
    bad.write_bytes(bad.read_bytes()[:300])  # a truncated JPEG
    config = with_overrides(
        full_sampling(default_config()), models=("copy-source",), metrics=("l1",), data=DataConfig(root=str(copy))
    )
    result = run_benchmark(config, out_root=tmp_path / "runs", progress=False)
    assert result.status == "partial"
    failed = set(result.failures.job)
    assert failed == {"self:grace_hopper/v01/s00"}
    assert (result.failures.file == str(bad)).all()
    frames = pd.read_csv(result.run_dir / "frames.csv")
    assert frames[frames.protocol == "self"].job.nunique() == 15
