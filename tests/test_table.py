"""The console's results table: metric columns, and the latency columns of a run that measured latency."""

from __future__ import annotations

import pandas as pd

from bench.table import format_summary


def _inputs() -> tuple[pd.DataFrame, pd.DataFrame]:
    summary = pd.DataFrame(
        [
            {
                "model": m,
                "protocol": "self",
                "metric": "l1",
                "value": v,
                "higher_is_better": False,
                "metric_weights": "none",
            }
            for m, v in (("oracle", 0.0), ("fomm.vox256", 0.2))
        ]
    )
    counts = pd.DataFrame(
        [
            {"model": "oracle", "weights": "none", "protocol": "self", "frames": 4},
            {"model": "fomm.vox256", "weights": "random", "protocol": "self", "frames": 4},
        ]
    )
    return summary, counts


def test_latency_columns_per_model() -> None:
    summary, counts = _inputs()
    text = format_summary(summary, counts, latency={"fomm.vox256": {"prepare": 280.14, "frame": 845.6}})
    header, _, oracle, fomm, *notes = text.splitlines()
    assert "prepare ms/avatar ↓" in header and header.rstrip().endswith("end-to-end ms/frame ↓")
    assert fomm.split()[-2:] == ["280.1", "845.6"] and "[RANDOM WEIGHTS]" in fomm
    assert oracle.split()[-2:] == ["-", "-"]
    assert any("short settings" in line for line in notes)


def test_no_latency_no_columns() -> None:
    summary, counts = _inputs()
    text = format_summary(summary, counts)
    assert "ms/avatar" not in text and "short settings" not in text
