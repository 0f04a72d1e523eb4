"""Metrics in runs: availability, skipping with a reason, explicit requests, labels, bootstrap intervals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from bench.config import DataConfig, ProtocolConfig, RunConfig
from bench.errors import WeightsError
from bench.metrics import METRICS
from bench.metrics.evaluators import build_metrics
from bench.runner import run_benchmark
from bench.table import format_summary
from bench.weights import WeightsLocations


def _empty(tmp_path: Path) -> WeightsLocations:
    return WeightsLocations(weights_dir=tmp_path / "none", use_packages=False)


def test_all_skips_metrics_without_weights_and_says_why(tmp_path: Path) -> None:
    built, skipped = build_metrics(["all"], _empty(tmp_path))
    assert {m.spec.name for m in built} >= {"l1", "psnr", "ssim"}
    reasons = {s.name: s.reason for s in skipped}
    assert "alexnet-owt-7be5be79.pth not found" in reasons["lpips.alex.v0.1"]
    assert "vgg16-397923af.pth" in reasons["lpips.vgg.v0.1"]
    derived = {name for name in METRICS.names() if METRICS.get(name).derived_from}  # KID: from FID's features
    assert derived == {"kid.inception-2015-12-05.2048"}
    assert {m.spec.name for m in built} | set(reasons) == set(METRICS.names()) - derived


def test_a_metric_asked_for_by_name_must_have_its_weights(tmp_path: Path) -> None:
    missing = r"asked for have missing weights \(lpips.alex.v0.1: alexnet-owt-7be5be79.pth"
    with pytest.raises(WeightsError, match=missing):
        build_metrics(["ssim", "lpips.alex.v0.1"], _empty(tmp_path))


def test_run_reports_lpips_with_a_trunk_in_the_weights_folder(bilayer_root: Path, tmp_path: Path) -> None:
    from bench.compat import ensure_torchvision

    ensure_torchvision()
    import torchvision

    torch.manual_seed(0)
    (tmp_path / "w").mkdir()
    torch.save(torchvision.models.alexnet().state_dict(), tmp_path / "w" / "alexnet-owt-7be5be79.pth")
    where = WeightsLocations(weights_dir=tmp_path / "w", use_packages=False, accept_mismatch=True)
    config = RunConfig(
        models=("copy-source", "oracle"),
        data=DataConfig(root=str(bilayer_root)),
        protocol=ProtocolConfig(kinds=("self",)),
        threads=1,
    )
    result = run_benchmark(config, out_root=tmp_path / "runs", locations=where, progress=False)
    table = result.summary.set_index(["model", "metric"])
    assert table.loc[("oracle", "lpips.alex.v0.1"), "value"] == 0.0
    assert table.loc[("copy-source", "lpips.alex.v0.1"), "value"] > 0.0
    assert table.loc[("oracle", "lpips.alex.v0.1"), "metric_weights"] == "unverified"
    rendered = format_summary(result.summary, result.counts)
    assert "lpips.alex.v0.1 ↓*" in rendered and "* computed with weights whose sha256 is not verified" in rendered
    assert rendered.index("l1 ↓") < rendered.index("ssim ↑") < rendered.index("lpips.alex.v0.1")  # registry order
    results = json.loads((result.run_dir / "results.json").read_text())
    assert sorted(s["name"] for s in results["skipped_metrics"]) == [
        "aed.dlib-resnet",
        "akd.dlib68",
        "akd.fan68",
        "csim.arcface-irse50",
        "csim.bilayer.irse50",
        "csim.dlib-resnet",
        "lpips.vgg.v0.1",
        "npe.dlib68",
        "npe.fan68",
    ]  # use_packages=False: the dlib files shipped by face-recognition-models are not looked for
    assert results["metrics"]["lpips.alex.v0.1"]["files"][0]["verification"] == "mismatch"
    row = next(r for r in results["summary"] if r["model"] == "copy-source" and r["metric"] == "ssim")
    assert row["ci95_low"] <= row["value"] <= row["ci95_high"]


def test_run_reports_csim_for_both_protocols(bilayer_root: Path, tmp_path: Path) -> None:
    from bench.metrics.arcface import ArcFaceIRSE50

    torch.manual_seed(0)
    (tmp_path / "w").mkdir()
    torch.save(ArcFaceIRSE50().state_dict(), tmp_path / "w" / "model_ir_se50.pth")
    where = WeightsLocations(weights_dir=tmp_path / "w", use_packages=False)
    config = RunConfig(
        models=("oracle",), metrics=("csim.arcface-irse50", "l1"), data=DataConfig(root=str(bilayer_root)), threads=1
    )
    result = run_benchmark(config, out_root=tmp_path / "runs", locations=where, progress=False)
    table = result.summary.set_index(["protocol", "metric"])
    assert table.loc[("self", "csim.arcface-irse50"), "value"] == pytest.approx(1.0, abs=1e-5)
    assert table.loc[("cross", "csim.arcface-irse50"), "value"] < 1.0  # another identity against the source
    assert ("cross", "l1") not in table.index  # distances need ground truth
    assert table.loc[("self", "csim.arcface-irse50"), "metric_weights"] == "unverified"  # hash not pinned
