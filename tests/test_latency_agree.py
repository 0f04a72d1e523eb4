"""Agreement of two latency runs (`bilayer-bench latency --agree`): the rule, its floor, and what it refuses."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from test_latency_helpers import stage_row

from bench.cli import main
from bench.errors import ConfigError
from bench.latency.agree import TIMER_FLOOR_S, agreement, format_agreement
from bench.latency.calibrate import Calibration
from bench.latency.config import LatencyConfig
from bench.latency.record import LatencyRecord, StageRow, write_record


def _record(rows: list[StageRow], matmul_s: float = 0.001, **settings: object) -> LatencyRecord:
    return LatencyRecord(
        environment={"device": "cpu"},
        settings={**LatencyConfig().settings(), "threads": 2, **settings},
        calibration=Calibration("float32", 64, "cpu", ((matmul_s,), (matmul_s,))).to_dict(),
        stages=tuple(rows),
    )


def _rows(animate_s: float, iqr_s: float) -> list[StageRow]:
    prepare = stage_row("bilayer.paper", "prepare", median_s=3.0)
    return [prepare, replace(stage_row("bilayer.paper", "animate", median_s=animate_s), iqr_s=iqr_s)]


def test_the_same_medians_agree() -> None:
    rows, only = agreement(_record(_rows(0.040, 0.003)), _record(_rows(0.040, 0.003)))
    assert [r.agrees for r in rows] == [True, True] and only == []
    assert rows[1].difference_s == 0 and rows[1].calibrated_relative == 0


@pytest.mark.parametrize(
    ("second_s", "first_iqr", "second_iqr", "agrees"),
    [
        (0.042, 0.003, 0.001, True),  # 2 ms apart, the first run's IQR is 3 ms
        (0.042, 0.001, 0.003, True),  # the larger IQR of the two counts
        (0.043, 0.003, 0.003, True),  # exactly on the boundary
        (0.0431, 0.003, 0.003, False),
        (0.035, 0.001, 0.002, False),  # 5 ms apart, IQRs of 1 and 2 ms
    ],
)
def test_medians_agree_within_the_larger_iqr(
    second_s: float, first_iqr: float, second_iqr: float, agrees: bool
) -> None:
    rows, _ = agreement(_record(_rows(0.040, first_iqr)), _record(_rows(second_s, second_iqr)))
    animate = rows[1]
    assert animate.agrees is agrees
    assert animate.tolerance_s == pytest.approx(max(first_iqr, second_iqr))
    assert animate.difference_s == pytest.approx(abs(second_s - 0.040))


def test_microsecond_stages_use_the_stated_timer_floor() -> None:
    first = [replace(stage_row("copy-source", "animate", median_s=2e-6), iqr_s=2e-7)]
    within = [replace(stage_row("copy-source", "animate", median_s=2e-6 + TIMER_FLOOR_S * 0.9), iqr_s=2e-7)]
    beyond = [replace(stage_row("copy-source", "animate", median_s=2e-6 + TIMER_FLOOR_S * 1.1), iqr_s=2e-7)]
    assert agreement(_record(first), _record(within))[0][0].agrees
    assert not agreement(_record(first), _record(beyond))[0][0].agrees


def test_calibrated_difference_removes_a_machine_speed_change() -> None:
    # the second machine state is 20% slower at the matmul and at the model alike
    rows, _ = agreement(_record(_rows(0.040, 0.001)), _record(_rows(0.048, 0.001), matmul_s=0.0012))
    animate = rows[1]
    assert not animate.agrees  # the verdict is on the plain medians
    assert animate.relative == pytest.approx(0.008 / 0.044)
    assert animate.calibrated_relative == pytest.approx(0.0, abs=1e-12)


def test_records_of_different_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"differ in threads \(2 vs 4\).*same settings"):
        agreement(_record(_rows(0.04, 0.001)), _record(_rows(0.04, 0.001), threads=4))
    with pytest.raises(ConfigError, match="differ in dtype"):
        agreement(_record(_rows(0.04, 0.001)), _record(_rows(0.04, 0.001), dtype="float16"))


def test_rows_of_one_record_only_are_listed() -> None:
    second = [*_rows(0.04, 0.001), stage_row("fomm.vox256", "animate", median_s=0.5)]
    rows, only = agreement(_record(_rows(0.04, 0.001)[:1]), _record(second))
    assert [(r.model, r.stage) for r in rows] == [("bilayer.paper", "prepare")]
    assert only == [
        "bilayer.paper animate: only in the second record",
        "fomm.vox256 animate: only in the second record",
    ]
    text = format_agreement(rows, only)
    assert "not compared: fomm.vox256 animate: only in the second record" in text
    assert "1 of 1 stages agree" in text


def test_cli_agree_exit_codes_and_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_record(_record(_rows(0.040, 0.003)), tmp_path / "a")
    write_record(_record(_rows(0.042, 0.003)), tmp_path / "b")
    write_record(_record(_rows(0.050, 0.003)), tmp_path / "c")
    assert main(["latency", "--agree", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert "rule: |median difference| <= max(IQR of either run, 10 us timer floor); 2 of 2 stages agree" in out
    assert main(["latency", "--agree", str(tmp_path / "a"), str(tmp_path / "c" / "latency.json")]) == 1
    assert "DISAGREE" in capsys.readouterr().out
    assert main(["latency", "--agree", str(tmp_path / "a"), str(tmp_path / "missing")]) == 2
    assert "latency record not found" in capsys.readouterr().err
    assert main(["latency", "bilayer.paper", "--agree", str(tmp_path / "a"), str(tmp_path / "b")]) == 2
    assert "--agree compares two records and measures nothing" in capsys.readouterr().err
