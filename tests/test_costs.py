"""Model against metric time per generated frame (bench.costs): the accounting on known timings, and in a run."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from bench.config import DataConfig, RunConfig
from bench.costs import cost_table, format_costs, metric_timings_table, overhead_table
from bench.runner import run_benchmark


def _parts() -> list[dict]:
    def timing(metric: str, side: str, frames: int, ms: float) -> dict:
        return {"metric": metric, "side": side, "frames": frames, "ms": ms}

    model = {
        "model": "m",
        "protocol": "self",
        "job": "j1",
        "status": "ok",
        "timings": [
            {"stage": "prepare", "frames": 1, "ms": 100.0},
            {"stage": "animate", "frames": 4, "ms": 40.0},
            {"stage": "animate", "frames": 4, "ms": 40.0},
        ],
        "metric_timings": [
            timing("ssim", "pair", 8, 16.0),
            timing("fid", "generated", 8, 80.0),
            timing("fid", "real", 8, 40.0),
        ],
        "overhead": {"data_wait_ms": 4.0, "data_work_ms": 24.0, "other_ms": 12.0},
    }
    old = {  # a part written before metric timings were recorded (a resumed run): model time only
        "model": "old",
        "protocol": "self",
        "job": "j1",
        "status": "ok",
        "timings": [{"stage": "animate", "frames": 2, "ms": 10.0}],
    }
    failed = {"model": "m", "protocol": "self", "job": "j2", "status": "failed", "error": "x"}
    return [model, old, failed]


def _timings(parts: list[dict]) -> pd.DataFrame:
    rows = [{"model": p["model"], **t} for p in parts if p["status"] == "ok" for t in p["timings"]]
    return pd.DataFrame(rows)


def test_costs_of_known_timings() -> None:
    parts = _parts()
    metric_timings = metric_timings_table(parts)
    assert len(metric_timings) == 3 and set(metric_timings.side) == {"pair", "generated", "real"}
    costs = cost_table(_timings(parts), metric_timings, overhead_table(parts)).set_index("model")
    m = costs.loc["m"]
    assert m.frames == 8
    assert m.model_ms_per_frame == pytest.approx(180.0 / 8)  # prepare amortised over the job's frames
    assert m.animate_ms_per_frame == pytest.approx(10.0)
    assert m["ms_per_frame:ssim"] == pytest.approx(2.0) and m["ms_per_frame:fid"] == pytest.approx(10.0)
    assert m.metrics_ms_per_frame == pytest.approx(12.0)  # the real side is not the model's
    assert m.metrics_over_model == pytest.approx(12.0 / 22.5)
    assert (m.data_ms_per_frame, m.data_work_ms_per_frame, m.other_ms_per_frame) == pytest.approx((0.5, 3.0, 1.5))
    assert m.rest_share == pytest.approx((0.5 + 1.5) / (22.5 + 12.0 + 0.5 + 1.5))  # waiting counts, not the work
    old = costs.loc["old"]  # no overhead recorded: none counted
    assert old.metrics_ms_per_frame == 0.0 and old.model_ms_per_frame == 5.0 and old.rest_share == 0.0
    real = costs.loc["_real"]
    assert real.frames == 8 and real.metrics_ms_per_frame == pytest.approx(5.0)
    run = costs.loc["_run"]  # 10 generated frames: 180 + 10 ms of models, 96 + 40 of metrics, 4 + 12 of the rest
    assert run.frames == 10
    assert (run.model_ms_per_frame, run.metrics_ms_per_frame) == pytest.approx((19.0, 13.6))
    assert (run.data_ms_per_frame, run.other_ms_per_frame) == pytest.approx((0.4, 1.2))
    assert run.rest_share == pytest.approx(16.0 / (190.0 + 136.0 + 16.0))
    assert run["ms_per_frame:fid"] == pytest.approx(12.0)  # generated and real sides
    text = format_costs(costs.reset_index())
    line = "m: model 22.5 (animate 10.0), metrics 12.0 = 0.53x the model (fid 10.0, ssim 2.0); data and the rest 2.0"
    assert line in text
    assert "once per job for all models: 5.0 per real frame (fid 5.0)" in text
    assert "waiting for data 0.40 (loading took 2.4 on the prefetch thread), rest of the jobs 1.2: 4.7% outside" in text
    free = costs.reset_index().assign(metrics_over_model=[12.0 / 22.5, 1e4, float("nan"), 0.7])  # a sanity baseline
    assert "= >100x the model" in format_costs(free)


def test_a_run_records_its_costs(bilayer_root: Path, tmp_path: Path) -> None:
    config = RunConfig(data=DataConfig(root=str(bilayer_root)), threads=1, metrics=("l1", "ssim"))
    result = run_benchmark(config, out_root=tmp_path / "runs", progress=False)
    run_dir = result.run_dir
    metric_timings = pd.read_csv(run_dir / "metric_timings.csv")
    assert set(metric_timings.metric) == {"l1", "ssim"} and (metric_timings.ms >= 0).all()
    assert set(metric_timings.side) == {"pair"}
    costs = pd.read_csv(run_dir / "cost.csv").set_index("model")
    assert list(costs.index) == ["copy-source", "oracle", "_run"]
    costs = costs.drop("_run")
    assert (costs.frames == 4 * 3 + 2 * 4).all()  # every generated frame, also those no metric here scores (cross)
    assert (costs.metrics_ms_per_frame > 0).all()
    assert costs.metrics_ms_per_frame.to_numpy() == pytest.approx(
        (costs["ms_per_frame:l1"] + costs["ms_per_frame:ssim"]).to_numpy()
    )
    results = json.loads((run_dir / "results.json").read_text())
    assert [row["model"] for row in results["cost"]] == ["copy-source", "oracle", "_run"]
    assert result.costs is not None and len(result.costs) == 3
    assert (costs.data_work_ms_per_frame > 0).all() and (costs.other_ms_per_frame >= 0).all()
    assert ((costs.rest_share > 0) & (costs.rest_share < 1)).all()
