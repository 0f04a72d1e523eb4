"""The main job on the embedded default data set, end to end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from bench.config import DataConfig, default_config, with_overrides
from bench.data.default import ensure_default_dataset
from bench.runner import RunSummary, run_benchmark


@pytest.fixture(scope="module")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> RunSummary:
    return run_benchmark(default_config(), out_root=tmp_path_factory.mktemp("runs"), progress=False)


def test_oracle_is_perfect_copy_source_is_not(default_run: RunSummary) -> None:
    assert default_run.status == "complete"
    table = default_run.summary.set_index(["model", "protocol", "metric"]).value
    assert table["oracle", "self", "l1"] == 0.0
    assert table["oracle", "self", "psnr"] == float("inf")
    assert table["oracle", "self", "ssim"] == pytest.approx(1.0, abs=1e-6)
    assert table["copy-source", "self", "l1"] > 0.01
    assert table["copy-source", "self", "psnr"] < 35.0
    assert table["copy-source", "self", "ssim"] < 0.95


def test_default_run_covers_the_data_set(default_run: RunSummary) -> None:
    results = json.loads((default_run.run_dir / "results.json").read_text())
    assert results["data"]["embedded_default"] is True
    assert len(results["data"]["manifest_sha256"]) == 64
    assert results["data"]["num_sequences"] == 16 and results["data"]["num_frames"] == 128
    assert results["data"]["jobs"] == {"self": 16, "cross": 4}
    frames = pd.read_csv(default_run.run_dir / "frames.csv")
    assert len(frames[(frames.model == "oracle") & (frames.protocol == "self")]) == 16 * 7
    assert len(frames[(frames.model == "oracle") & (frames.protocol == "cross")]) == 4 * 8
    cross = json.loads((default_run.run_dir / "data.json").read_text())
    assert cross["skipped"] == []
    skipped = {s["name"]: s["reason"] for s in results["skipped_metrics"]}
    assert "lpips.alex.v0.1" in skipped and "not found" in skipped["lpips.alex.v0.1"]
    assert {"l1", "psnr", "ssim"} <= set(results["metrics"])


def test_corrupt_frame_in_a_copy_of_the_default_data_set(tmp_path: Path) -> None:
    copy = shutil.copytree(ensure_default_dataset(), tmp_path / "copy")
    bad = copy / "imgs" / "test" / "grace_hopper" / "v01" / "s00" / "00003.jpg"
    bad.write_bytes(bad.read_bytes()[:300])  # a truncated JPEG
    config = with_overrides(default_config(), models=("copy-source",), metrics=("l1",), data=DataConfig(root=str(copy)))
    result = run_benchmark(config, out_root=tmp_path / "runs", progress=False)
    assert result.status == "partial"
    failed = set(result.failures.job)
    assert failed == {"self:grace_hopper/v01/s00"}
    assert (result.failures.file == str(bad)).all()
    frames = pd.read_csv(result.run_dir / "frames.csv")
    assert frames[frames.protocol == "self"].job.nunique() == 15
