"""The regression check: an unchanged tree reproduces the committed reference; a perturbed weight is caught.

``test_unchanged_tree_matches_the_committed_reference`` is the CI quality regression: it reruns
``bench/configs/regression.toml`` and compares with ``reports/regression/reference.json``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from test_report_records import write_latency_record

from bench.cli import main
from bench.errors import ConfigError
from bench.regression.compare import (
    LatencyTolerance,
    QualityTolerance,
    compare_latency,
    compare_quality,
    compare_settings,
    format_drifts,
    within,
)
from bench.regression.measure import latency_values, regression_config
from bench.regression.reference import (
    LatencyValue,
    QualityValue,
    ReferenceRecord,
    default_reference_path,
    read_reference,
    write_reference,
)
from bench.report.load import read_latency

REFERENCE = Path(__file__).resolve().parents[1] / "reports" / "regression" / "reference.json"


def _q(
    metric: str, value: float, model: str = "m", protocol: str = "self", n: int = 10, weights: str = "none"
) -> QualityValue:
    return QualityValue(model, weights, protocol, metric, value, n)


# The real thing ------------------------------------------------------------------------------------------------


def test_regression_config_is_deterministic_and_cheap() -> None:
    config = regression_config()
    assert config.device == "cpu" and config.threads > 0 and config.data.is_embedded_default
    assert set(config.models) == {"copy-source", "oracle", "bilayer.tiny", "fomm.tiny"}
    assert set(config.metrics) == {"l1", "psnr", "ssim"} and set(config.protocol.kinds) == {"self", "cross"}
    assert default_reference_path() == REFERENCE and REFERENCE.is_file()


def test_unchanged_tree_matches_the_committed_reference(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["regression", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "regression check passed" in out


def _perturbed(factory: Callable[..., Any]) -> Callable[..., Any]:
    """``factory`` whose model gets +1e-2 on its last parameter (the output layer's bias)."""

    def create(weights: Any = None, seed: int = 0) -> Any:
        model = factory(weights=weights, seed=seed)
        module = model if isinstance(model, torch.nn.Module) else model.model
        parameter = list(module.parameters())[-1]
        with torch.no_grad():
            parameter += 1e-2
        return model

    return create


def test_a_perturbed_weight_fails_with_a_table_naming_the_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import baselines.fomm.factory

    monkeypatch.setattr(baselines.fomm.factory, "create_tiny", _perturbed(baselines.fomm.factory.create_tiny))
    code = main(["regression", "--models", "fomm.tiny", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 1, out
    table = out[out.index("REGRESSION") :]
    header = next(line for line in table.splitlines() if line.startswith("metric"))
    assert header.split() == ["metric", "model", "protocol", "reference", "now", "difference", "tolerance"]
    moved = [line.split() for line in table.splitlines() if line.startswith(("l1 ", "psnr ", "ssim "))]
    assert {row[0] for row in moved} == {"l1", "psnr", "ssim"}
    assert all(row[1] == "fomm.tiny" and row[2] == "self" for row in moved)


# The comparison ------------------------------------------------------------------------------------------------


def test_within_tolerance_nan_and_inf() -> None:
    tol = QualityTolerance(atol=1e-6, rtol=1e-5)
    assert within(1.0, 1.0 + 9e-6, tol) and not within(1.0, 1.0 + 2e-5, tol)
    assert within(0.0, 9e-7, tol) and not within(0.0, 2e-6, tol)
    assert within(math.nan, math.nan, tol) and not within(math.nan, 1.0, tol) and not within(1.0, math.nan, tol)
    assert within(math.inf, math.inf, tol) and not within(math.inf, -math.inf, tol) and not within(math.inf, 1e30, tol)


def test_compare_quality_reports_moved_missing_extra_and_counts() -> None:
    reference = [_q("l1", 0.5), _q("psnr", math.inf), _q("ssim", 0.7), _q("frames", 10)]
    now = [_q("l1", 0.5 + 1e-3), _q("psnr", math.inf), _q("lpips", 0.1), _q("frames", 9, n=9)]
    drifts = {(d.metric, d.model, d.protocol): d for d in compare_quality(reference, now)}
    assert set(drifts) == {("l1", "m", "self"), ("ssim", "m", "self"), ("lpips", "m", "self"), ("frames", "m", "self")}
    assert drifts["l1", "m", "self"].difference == "+0.001" and drifts["l1", "m", "self"].tolerance.startswith("atol")
    assert drifts["ssim", "m", "self"].now == "missing" and drifts["ssim", "m", "self"].difference == "row gone"
    assert drifts["lpips", "m", "self"].reference == "missing"
    assert drifts["lpips", "m", "self"].difference == "extra row"
    assert drifts["frames", "m", "self"].difference == "-1"
    assert compare_quality(reference, reference) == []
    only = compare_quality(reference, [_q("l1", 0.9, model="other")], models=["other"])
    assert [(d.metric, d.model, d.difference) for d in only] == [("l1", "other", "extra row")]


def test_compare_quality_reports_a_change_of_weights_label() -> None:
    drifts = compare_quality([_q("frames", 10, weights="random")], [_q("frames", 10, weights="verified")])
    assert [(d.metric, d.reference, d.now) for d in drifts] == [("weights label", "random", "verified")]


def test_compare_latency_uses_ratios_of_calibrated_work() -> None:
    def value(model: str, units: float) -> LatencyValue:
        return LatencyValue(model, "animate", "frame", units / 1e4, units)  # 10 ms for 100 units

    reference = [value("a", 100.0), value("b", 100.0), value("c", 100.0)]
    now = [value("a", 190.0), value("b", 45.0), value("d", 1.0)]
    drifts = {(d.model, d.difference) for d in compare_latency(reference, now, LatencyTolerance(2.0))}
    assert drifts == {("b", "x0.45"), ("c", "row gone"), ("d", "extra row")}
    assert compare_settings({"threads": 2, "dtype": "float32"}, {"threads": 4, "dtype": "float32"})[0].now == "4"
    tiny = [LatencyValue("copy-source", "animate", "frame", 3e-6, 3e5)]
    assert compare_latency(tiny, [LatencyValue("copy-source", "animate", "frame", 9e-6, 9e5)]) == []  # under 1 ms
    slow = compare_latency(tiny, [LatencyValue("copy-source", "animate", "frame", 2e-3, 2e8)])
    assert [d.model for d in slow] == ["copy-source"]


def test_format_drifts_is_an_aligned_table() -> None:
    from bench.regression.compare import Drift

    text = format_drifts([Drift("ssim", "fomm.tiny", "self", "0.58", "0.57", "-0.01", "atol 1e-06 + rtol 1e-05")])
    lines = text.splitlines()
    assert lines[0].split() == ["metric", "model", "protocol", "reference", "now", "difference", "tolerance"]
    assert set(lines[1]) <= {"-", " "} and lines[2].split()[:2] == ["ssim", "fomm.tiny"]


def test_reference_round_trip_keeps_nan_and_inf(tmp_path: Path) -> None:
    record = ReferenceRecord(
        "regression",
        (_q("psnr", math.inf), _q("csim", math.nan), _q("l1", 0.125)),
        (LatencyValue("m", "animate", "frame", 0.01, 1e9),),
        {"flops_per_s": 1e11},
        {"threads": 2},
        "abc",
    )
    write_reference(tmp_path / "ref.json", record)
    again = read_reference(tmp_path / "ref.json")
    assert compare_quality(record.quality, again.quality) == [] and again.latency == record.latency
    assert again.calibration == {"flops_per_s": 1e11} and again.data_manifest_sha256 == "abc"
    with pytest.raises(ConfigError, match="regression --update"):
        read_reference(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text('{"schema": "other"}')
    with pytest.raises(ConfigError, match=r"bad\.json: not a readable regression reference"):
        read_reference(tmp_path / "bad.json")


def test_latency_values_from_a_record(tmp_path: Path) -> None:
    values = latency_values(read_latency(write_latency_record(tmp_path / "lat", flops_per_s=2e11)))
    first = next(v for v in values if v.model == "copy-source" and v.stage == "animate")
    assert first.work_units == pytest.approx(0.004 * 2e11) and first.per == "frame"


def _reference_with_latency(tmp_path: Path) -> Path:
    record = read_latency(write_latency_record(tmp_path / "ref-lat"))
    path = tmp_path / "reference.json"
    write_reference(
        path,
        ReferenceRecord("regression", (), tuple(latency_values(record)), record.calibration, record.settings),
    )
    return path


def test_cli_latency_compare_passes_on_a_faster_machine_and_fails_on_real_drift(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reference = _reference_with_latency(tmp_path)
    # twice the FLOP/s and half the time: the same work, calibrated
    faster = write_latency_record(tmp_path / "faster", flops_per_s=2e11, scale=0.5)
    args = ["regression", "--skip-quality", "--reference", str(reference), "--latency"]
    assert main([*args, str(faster)]) == 0
    assert "regression check passed" in capsys.readouterr().out
    slower = write_latency_record(tmp_path / "slower", scale=3.0)
    assert main([*args, str(slower)]) == 1
    out = capsys.readouterr().out
    assert "latency (work units)" in out and "fomm.tiny" in out and "x3" in out


def test_cli_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["regression", "--skip-quality"]) == 2
    assert "--latency" in capsys.readouterr().err
    assert main(["regression", "--update", "--models", "oracle"]) == 2
    assert "--update records every model" in capsys.readouterr().err
    assert main(["regression", "--skip-quality", "--latency", str(tmp_path), "--reference", str(tmp_path / "x")]) == 2
    assert "regression --update" in capsys.readouterr().err


def test_update_of_the_latency_part_keeps_quality(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "reference.json"
    write_reference(path, ReferenceRecord("regression", (_q("l1", 0.5),)))
    record = write_latency_record(tmp_path / "lat")
    args = ["regression", "--update", "--skip-quality", "--latency", str(record), "--reference", str(path)]
    assert main(args) == 0
    assert "kept from the previous reference" in capsys.readouterr().out
    again = read_reference(path)
    assert again.quality == (_q("l1", 0.5),) and len(again.latency) == 6
    assert again.calibration["flops_per_s"] == 1e11 and again.latency_settings["threads"] == 2
    assert main(["regression", "--skip-quality", "--latency", str(record), "--reference", str(path)]) == 0
