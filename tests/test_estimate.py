"""The full-scale estimate (bench.estimate) on hand-computed cases, and the report's cost tables on a real run."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from test_report_records import make_run

from bench.estimate import VOXCELEB2_TEST, ClipCost, SplitSize, split_hours
from bench.report import build_report, load_inputs
from bench.report.costs import RANKS


def test_voxceleb2_test_split_size_is_stated() -> None:
    assert (VOXCELEB2_TEST.identities, VOXCELEB2_TEST.clips) == (118, 36_237)
    assert VOXCELEB2_TEST.frames == 7_191_000  # 79.9 h at 25 fps
    assert VOXCELEB2_TEST.driving_frames == 7_191_000 - 36_237  # each clip's source does not drive


def test_hours_by_hand() -> None:
    cost = ClipCost(prepare_ms=100.0, frame_ms=10.0)
    one = (36_237 * 100.0 + 7_154_763 * 10.0) / 3.6e6
    assert split_hours(cost) == pytest.approx(one)
    clips = math.ceil(36_237 / 8)  # 4530: the busiest rank
    eight = (clips * 100.0 + 7_154_763 * clips / 36_237 * 10.0) / 3.6e6
    assert split_hours(cost, ranks=8) == pytest.approx(eight)
    assert one / 8 < eight < one / 7.9  # nearly linear: the clips do not divide evenly
    tiny = SplitSize("t", 1, clips=3, hours=1 / 3600, fps=4.0, source="by hand")  # 4 frames, 1 drives
    assert split_hours(ClipCost(3600.0, 3600.0), tiny, ranks=2) == pytest.approx((2 * 3600 + 1 * 2 / 3 * 3600) / 3.6e6)
    assert split_hours(cost, frames=0) == pytest.approx(36_237 * 100.0 / 3.6e6)  # a protocol scoring no frame


@pytest.mark.parametrize("bad", [dict(prepare_ms=-1.0, frame_ms=1.0), dict(prepare_ms=1.0, frame_ms=math.nan)])
def test_bad_costs_and_ranks(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="finite and >= 0"):
        ClipCost(**bad)
    with pytest.raises(ValueError, match="ranks must be >= 1"):
        split_hours(ClipCost(1.0, 1.0), ranks=0)


def test_the_report_states_where_the_time_went_and_the_split_estimate(tmp_path: Path) -> None:
    run = make_run(tmp_path / "data", tmp_path / "runs")
    report = build_report(load_inputs([run]), draw=False)
    cost, per_metric = report.costs
    costs = pd.read_csv(run / "cost.csv").set_index("model")
    timings = pd.read_csv(run / "timings.csv")
    real = float(costs.loc["_real", "metrics_ms_per_frame"]) if "_real" in costs.index else 0.0
    row = next(r for r in cost.rows if r.model == "fomm.tiny")
    source = costs.loc["fomm.tiny"]
    own = timings[timings.model == "fomm.tiny"]
    avatar = own[own.stage.isin(["prepare", "begin_sequence"])].ms.sum() / (own.stage == "prepare").sum()
    frame = source.animate_ms_per_frame + source.metrics_ms_per_frame + real
    frame += source.data_ms_per_frame + source.other_ms_per_frame
    assert row.cells["prepare"].value == pytest.approx(avatar)
    assert row.cells["outside"].value == pytest.approx(100 * source.rest_share)
    for ranks in RANKS:
        expected = split_hours(ClipCost(avatar, frame), ranks=ranks)
        assert row.cells[f"hours_{ranks}"].value == pytest.approx(expected)
    assert "[RANDOM WEIGHTS]" in row.label and cost.rows[-1].label == "all models together"
    models = costs.drop(index=[m for m in ("_real", "_run") if m in costs.index])
    own = (models.animate_ms_per_frame + models.metrics_ms_per_frame + models.data_ms_per_frame
           + models.other_ms_per_frame).sum()  # fmt: skip
    avatars = timings[timings.stage.isin(["prepare", "begin_sequence"])].ms.sum() / timings[
        timings.stage == "prepare"
    ].job.nunique()
    together = split_hours(ClipCost(avatars, own + real))  # every model on each driving frame, the real side once
    assert cost.rows[-1].cells["hours_1"].value == pytest.approx(together)
    assert together > max(r.cells["hours_1"].value for r in cost.rows[:-1])
    assert {c.key for c in per_metric.columns} == {"l1", "psnr", "ssim"}  # make_run's metrics
    assert "7,191,000 frames" in " ".join(cost.notes) and "torchrun" in " ".join(cost.notes)


def test_a_damaged_or_old_cost_file_never_breaks_the_report(tmp_path: Path) -> None:
    run = make_run(tmp_path / "data", tmp_path / "runs")
    costs = pd.read_csv(run / "cost.csv").astype(object)
    costs.loc[0, "frames"], costs.loc[1, "animate_ms_per_frame"], costs.loc[0, "rest_share"] = "x", "inf", None
    costs.to_csv(run / "cost.csv", index=False)
    cost, _ = build_report(load_inputs([run]), draw=False).costs
    assert cost.rows[0].frames == 0 and math.isnan(cost.rows[0].cells["outside"].value)
    assert math.isnan(cost.rows[1].cells["animate"].value) and "hours_1" not in cost.rows[1].cells  # no estimate
    costs.drop(columns=["rest_share"]).to_csv(run / "cost.csv", index=False)  # a run from before it was recorded
    assert build_report(load_inputs([run]), draw=False).costs == ()
