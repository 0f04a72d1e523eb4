"""The console's results table (metric columns, and the latency columns of a run that measured latency) and the
one table printer every console table goes through (and its Markdown counterpart)."""

from __future__ import annotations

import pandas as pd
import pytest

from bench.report.formats import md_table
from bench.table import format_summary, format_table


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


def test_format_table_aligns_columns_under_a_rule() -> None:
    lines = format_table(["model", "n", "note"], [["oracle", "12", ""], ["fomm.vox256", "3", "random"]], "<>")
    assert lines == [
        "model         n  note",
        "-----------  --  ------",
        "oracle       12",  # no trailing blanks
        "fomm.vox256   3  random",
    ]


def test_format_table_rejects_bad_alignment_and_ragged_rows() -> None:
    with pytest.raises(ValueError, match=r"align must be '<' or '>' per column, at most 2 of them, got '<<>'"):
        format_table(["a", "b"], [], "<<>")
    with pytest.raises(ValueError, match=r"align must be .* got '<\^'"):
        format_table(["a", "b"], [], "<^")
    with pytest.raises(ValueError, match=r"row 2 has 1 cells, the header 2: \['x'\]"):
        format_table(["a", "b"], [["1", "2"], ["x"]])


def test_markdown_tables_share_the_alignment_rule() -> None:
    assert md_table(["Method", "L1", "Note"], [["oracle", "0.000", ""]], "<>") == [
        "| Method | L1 | Note |",
        "|:--|--:|:--|",
        "| oracle | 0.000 |  |",
    ]
    with pytest.raises(ValueError, match="align must be"):
        md_table(["a"], [], "<>")
