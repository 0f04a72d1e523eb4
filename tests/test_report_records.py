"""Reading what reports and regression checks are made from: run directories and latency records.

Also the helpers other report/regression tests use: a small real run, and synthetic latency records in the
schema of ``bilayer-bench latency``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import write_bilayer_dataset
from PIL import Image

from bench.config import DataConfig, RunConfig
from bench.errors import DataError
from bench.records import INPUTS, sample_folder, sample_frame_name
from bench.report.load import load_inputs, read_latency, read_run
from bench.report.provenance import status_phrase
from bench.runner import run_benchmark

MODELS = ("copy-source", "oracle", "fomm.tiny", "bilayer.tiny")


def make_run(root: Path, out: Path, *, models: Sequence[str] = MODELS, samples: int = 2, name: str = "small") -> Path:
    """A real run with tiny models and cheap metrics on a tiny data set (seconds)."""
    data = write_bilayer_dataset(root, size=64)
    config = RunConfig(
        name=name,
        models=tuple(models),
        metrics=("l1", "psnr", "ssim"),
        data=DataConfig(root=str(data)),
        threads=1,
        samples_per_job=samples,
    )
    return run_benchmark(config, out_root=out, progress=False).run_dir


def write_job_samples(run_dir: Path, *, size: int = 16, first_job_only: bool = False) -> pd.DataFrame:
    """Replace the run's samples/ by the per-job layout of bench.records, written here (not by the runner) for
    every frame of frames.csv (``first_job_only``: the first job of each protocol): each reference a fixed random
    image, each model's output that image plus noise growing with the model's position. Returns the frames
    written (model, protocol, job, frame_index, driver_frame)."""
    shutil.rmtree(run_dir / "samples", ignore_errors=True)
    frames = pd.read_csv(run_dir / "frames.csv", dtype=str, keep_default_na=False)
    frames["frame_index"] = frames["frame_index"].astype(int)
    if first_job_only:
        first = frames.groupby("protocol")["job"].transform("min")
        frames = frames[frames["job"] == first]
    rng = np.random.default_rng(0)
    models = list(dict.fromkeys(frames["model"]))

    def save(path: Path, pixels: np.ndarray) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path)

    for (protocol, job), group in frames.groupby(["protocol", "job"], sort=True):
        inputs = sample_folder(run_dir, INPUTS, protocol, job)
        save(inputs / "source.png", rng.integers(0, 256, (size, size, 3)))
        for row in group[["frame_index", "driver_frame"]].drop_duplicates().itertuples():
            name = sample_frame_name(row.frame_index, row.driver_frame)
            reference = rng.integers(0, 256, (size, size, 3)).astype(float)
            save(inputs / name, reference)
            for k, model in enumerate(models):
                if ((group["model"] == model) & (group["frame_index"] == row.frame_index)).any():
                    noise = rng.normal(0.0, 20.0 * k, reference.shape)
                    save(sample_folder(run_dir, model, protocol, job) / name, reference + noise)
    return frames[["model", "protocol", "job", "frame_index", "driver_frame"]]


def latency_payload(
    models: Sequence[str] = ("copy-source", "fomm.tiny"), *, flops_per_s: float = 1e11, scale: float = 1.0
) -> dict[str, object]:
    """A latency record in the schema of ``bilayer-bench latency`` (with an extra key a reader must tolerate)."""
    stages = []
    for i, model in enumerate(models):
        for stage, per, seconds in (
            ("prepare", "avatar", 0.02),
            ("animate", "frame", 0.004),
            ("end_to_end", "frame", 0.005),
        ):
            median = seconds * (i + 1) * scale
            stages.append(
                {
                    "model": model,
                    "weights_label": "random" if model.endswith(".tiny") else "none",
                    "stage": stage,
                    "per": per,
                    "includes": "model only",
                    "batch": 1,
                    "n": 5,
                    "median_s": median,
                    "p90_s": median * 1.2,
                    "p99_s": median * 1.3,
                    "iqr_s": median * 0.1,
                    "min_s": median * 0.9,
                    "mean_s": median,
                    "flops": 1e9,
                    "flops_convention": "multiply-add = 2",
                    "achieved_fraction": 0.1,
                    "peak_memory_bytes": 1 << 20,
                    "memory_method": "tracemalloc",
                    "params": {"generator": 1000},
                    "samples_s": [median * f for f in (0.9, 0.95, 1.0, 1.05, 1.1)],
                    "future_key": "ignored",
                }
            )
    return {
        "schema": "bilayer-bench/latency",
        "schema_version": 1,
        "environment": {"cpu": "Test CPU", "cpu_count": 2, "torch_threads": 2, "device": "cpu", "git": {}},
        "settings": {
            "device": "cpu",
            "dtype": "float32",
            "threads": 2,
            "resolution": 256,
            "batch": 1,
            "compile": False,
            "warmup": 3,
            "min_runs": 5,
            "min_time_s": 0.1,
        },
        "calibration": {"dtype": "float32", "size": 512, "flops_per_s": flops_per_s, "iqr": 0.01, "samples": 5},
        "stages": stages,
        "comparisons": [],
        "published": [],
    }


def write_latency_record(folder: Path, **kwargs: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "latency.json").write_text(json.dumps(latency_payload(**kwargs)), encoding="utf-8")  # type: ignore[arg-type]
    return folder


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("records")
    return make_run(base / "data", base / "runs", models=("copy-source", "oracle"), samples=0)


def test_run_directory_is_read_with_its_tables(small_run: Path) -> None:
    run = read_run(small_run)
    assert run.status == "complete" and run.jobs["ok"] == run.jobs["expected"]
    assert set(run.summary["metric"]) == {"l1", "psnr", "ssim"}
    assert run.summary.loc[(run.summary.model == "oracle") & (run.summary.metric == "psnr"), "value"].item() == float(
        "inf"
    )
    assert {"model", "stage", "frames", "ms"} <= set(run.timings.columns)
    assert run.weights_label("oracle") == "none" and run.latency is None


def test_interrupted_run_is_read_from_its_parts(small_run: Path, tmp_path: Path) -> None:
    import shutil

    copy = Path(shutil.copytree(small_run, tmp_path / "copy"))
    (copy / "results.json").unlink()
    run = read_run(copy)
    assert run.status == "unfinished" and run.jobs == {**read_run(small_run).jobs, "failed": 0}
    assert status_phrase(run).startswith("UNFINISHED") and "--resume" in status_phrase(run)
    assert set(run.timings["stage"]) == {"prepare", "animate"} and not run.sequences.empty
    full = read_run(small_run).summary.set_index(["model", "protocol", "metric"]).value
    again = run.summary.set_index(["model", "protocol", "metric"]).value
    assert again.loc[("copy-source", "self", "l1")] == pytest.approx(full.loc[("copy-source", "self", "l1")])


def test_latency_folder_is_told_apart_from_runs(small_run: Path, tmp_path: Path) -> None:
    record = write_latency_record(tmp_path / "lat")
    inputs = load_inputs([small_run, record])
    assert len(inputs.runs) == 1 and len(inputs.latency) == 1
    stages = inputs.latency[0].stages
    assert set(stages["stage"]) == {"prepare", "animate", "end_to_end"} and inputs.latency[0].flops_per_s == 1e11


def test_bad_inputs_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nowhere: not found"):
        load_inputs([tmp_path / "nowhere"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="neither a run directory"):
        load_inputs([tmp_path / "empty"])
    (tmp_path / "bad" / "latency.json").parent.mkdir()
    (tmp_path / "bad" / "latency.json").write_text('{"schema": "something/else"}')
    with pytest.raises(DataError, match="expected 'bilayer-bench/latency'"):
        read_latency(tmp_path / "bad")
    with pytest.raises(DataError, match="no run directory given"):
        load_inputs([write_latency_record(tmp_path / "only-latency")])
