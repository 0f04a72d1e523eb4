"""Committed reports read the same on every machine: machine paths in pages and tables are written portably."""

from __future__ import annotations

import sysconfig
from pathlib import Path

from bench.report.portable import path_replacements, portable_text


def test_machine_paths_become_portable(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "20261201-000000-default"
    site = sysconfig.get_paths()["purelib"]
    text = (
        f"run ({run}); weights {site}/face_recognition_models/models/x.dat; "
        f"hub ({Path.home()}/.cache/torch/hub/checkpoints); {Path.home()}"
    )
    out = portable_text(text, path_replacements([run]))
    assert out == (
        "run (bench-runs/20261201-000000-default); weights $SITE_PACKAGES/face_recognition_models/models/x.dat; "
        f"hub (~/.cache/torch/hub/checkpoints); {Path.home()}"
    )
    assert str(tmp_path) not in out


def test_a_prefix_only_replaces_whole_folder_names(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "r"
    text = f"{tmp_path}/runs-other/x and {tmp_path}/runs/r"
    assert portable_text(text, path_replacements([run])) == f"{tmp_path}/runs-other/x and bench-runs/r"


def test_portable_report_writes_the_record_copies_portably(tmp_path: Path) -> None:
    from bench.report.build import _copy_records
    from bench.report.load import ReportInputs

    run = tmp_path / "runs" / "r"
    run.mkdir(parents=True)
    (run / "config.toml").write_text(f'weights_dir = "{Path.home()}/w"\nroot = "{run}/data"\n')

    class Run:  # what _copy_records reads of a RunRecord
        path, tag = run, "R1"

    _copy_records(ReportInputs((Run(),)), tmp_path / "out", path_replacements([run]))  # type: ignore[arg-type]
    copied = (tmp_path / "out" / "records" / "R1-r" / "config.toml").read_text()
    assert copied == 'weights_dir = "~/w"\nroot = "bench-runs/r/data"\n'
    _copy_records(ReportInputs((Run(),)), tmp_path / "verbatim", [])  # type: ignore[arg-type]
    assert (tmp_path / "verbatim" / "records" / "R1-r" / "config.toml").read_text() == (run / "config.toml").read_text()
