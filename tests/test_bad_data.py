"""Issue 16: bad data stops only the sequence (or clip) it belongs to, recorded with its reason, while everything
else runs: a decompression bomb, an empty sequence folder, a broken video, a symbolic-link loop, a clip name
``prepare`` cannot use. Names from the data set are escaped in the Markdown report."""

from __future__ import annotations

import csv
import json
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_errors import BASELINES_RUN, run_dirs
from PIL import Image

from bench.cli import main
from bench.config import DataConfig, ProtocolConfig, RunConfig
from bench.prepare.samples import write_clip
from bench.report import build_report, load_inputs
from bench.report.formats import md_escape
from bench.report.markdown_report import render_markdown
from bench.runner import run_benchmark

_RUN = BASELINES_RUN


def _png_header(path: Path, width: int, height: int) -> Path:
    """A valid PNG that claims ``width`` x ``height`` pixels; PIL refuses it when it is opened, before decoding."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return path


def _failures(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[Path, pd.DataFrame, str]:
    """Run the CLI expecting failed jobs (exit 1, no traceback); the run directory, its failures and stderr."""
    code = main(list(args))
    out, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in err, err
    run = Path(out.strip().splitlines()[-1].removeprefix("run directory: "))
    assert json.loads((run / "results.json").read_text())["status"] == "partial"
    return run, pd.read_csv(run / "failures.csv"), err


def test_decompression_bomb_is_a_bad_frame_of_its_sequence(
    capsys: pytest.CaptureFixture[str], bilayer_root: Path, tmp_path: Path
) -> None:
    bomb = _png_header(bilayer_root / "imgs" / "test" / "id01" / "vid0" / "seq1" / "1.jpg", 16000, 12000)
    run, failures, err = _failures(capsys, "run", "--data", str(bilayer_root), "--out", str(tmp_path), *_RUN)
    assert set(failures.job) == {"self:id01/vid0/seq1"} and (failures.file == str(bomb)).all()
    assert failures.error.str.contains("decompression-bomb limit").all() and str(bomb) in err
    frames = pd.read_csv(run / "frames.csv")
    assert sorted(set(frames[frames.protocol == "self"].job)) == [
        "self:id00/vid0/seq0",
        "self:id00/vid0/seq1",
        "self:id01/vid0/seq0",
    ]


def test_empty_sequence_and_symlink_loop_fail_only_themselves(
    capsys: pytest.CaptureFixture[str], bilayer_root: Path, tmp_path: Path
) -> None:
    video = bilayer_root / "imgs" / "test" / "id00" / "vid0"
    (video / "empty").mkdir()
    (video / "loop").symlink_to("loop")
    run, failures, _ = _failures(capsys, "run", "--data", str(bilayer_root), "--out", str(tmp_path), *_RUN)
    reasons = dict(zip(failures.job, failures.error, strict=False))
    assert "sequence has no frames" in reasons["self:id00/vid0/empty"]
    assert "symbolic link loop" in reasons["self:id00/vid0/loop"]
    assert set(failures.file) == {str(video / "empty"), str(video / "loop")}
    assert len(set(pd.read_csv(run / "frames.csv").job)) == 4 + 2  # every usable self and cross job ran


def test_fomm_layout_broken_video_loop_and_empty_clip_among_good_clips(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    split = tmp_path / "vox" / "test"
    rng = np.random.default_rng(0)
    for clip in ("id01#v#0001", "id02#v#0001"):
        (split / clip).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(split / clip / f"{i:02d}.png")
    (split / "id03#v#0001.mp4").write_bytes(rng.bytes(2048))
    (split / "id04#v#0001.mp4").symlink_to("id04#v#0001.mp4")
    (split / "id05#v#0001").mkdir()
    args = ("run", "--data", str(tmp_path / "vox"), "--layout", "fomm", "--space", "frame", "--out", str(tmp_path))
    run, failures, _ = _failures(capsys, *args, *_RUN)
    reasons = {job.split(":")[1].split("/")[0]: error for job, error in zip(failures.job, failures.error, strict=False)}
    assert set(reasons) == {"id03", "id04", "id05"}
    assert "cannot open video" in reasons["id03"]
    assert "symbolic link loop" in reasons["id04"]
    assert "clip folder has no frames" in reasons["id05"]
    frames = pd.read_csv(run / "frames.csv")
    assert {"self:id01/v/0001", "self:id02/v/0001"} <= set(frames.job)


def test_prepare_records_unusable_clips_and_goes_on(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    videos = tmp_path / "mp4"
    noise = list(np.random.default_rng(0).integers(0, 255, (4, 64, 64, 3), dtype=np.uint8))
    write_clip(videos / "id00" / "v00" / "00001.mp4", noise)
    write_clip(videos / "id#01" / "v00" / "00001.mp4", noise)  # FOMM names split on '#'
    (videos / "id02" / "v00").mkdir(parents=True)
    (videos / "id02" / "v00" / "00001.mp4").symlink_to("00001.mp4")
    code = main(["prepare", str(videos), str(tmp_path / "out"), "--landmarks", "dlib", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err  # no clip gave a sequence (the good one is too short)
    with (tmp_path / "out" / "skipped.csv").open(newline="") as handle:
        reasons = {row["clip"]: (row["reason"], row["detail"]) for row in csv.DictReader(handle)}
    assert reasons["id00/v00/00001"][0] == "too short"
    assert reasons["id#01/v00/00001"][0] == "bad name" and "contains '#'" in reasons["id#01/v00/00001"][1]
    assert reasons["id02/v00/00001"][0] == "unreadable" and "symbolic links" in reasons["id02/v00/00001"][1]


# Markdown report (class 12) ------------------------------------------------------------------------------------


def test_md_escape_makes_names_literal() -> None:
    assert md_escape("a|b*c_d`e") == "a\\|b\\*c\\_d\\`e"
    assert md_escape("<img src=x onerror=alert(1)>") == "\\<img src=x onerror=alert(1)\\>"
    assert "](" not in md_escape("[click](http://example.com)")
    assert md_escape("# title\nsecond line") == "\\# title second line"
    assert md_escape("fomm.tiny [RANDOM WEIGHTS]") == "fomm.tiny [RANDOM WEIGHTS]"


def test_markdown_report_escapes_data_set_names_and_titles(bilayer_root: Path, tmp_path: Path) -> None:
    hostile = "_x_ [link](javascript:alert(1)) <img src=x>"
    (bilayer_root / "imgs" / "test" / "id00" / "vid0" / hostile).mkdir()  # an empty sequence: a failure row
    config = RunConfig(
        name="<b>title</b>",
        models=("copy-source",),
        metrics=("l1",),
        data=DataConfig(root=str(bilayer_root)),
        protocol=ProtocolConfig(kinds=("self",)),
        threads=1,
    )
    run = run_benchmark(config, out_root=tmp_path / "runs", progress=False).run_dir
    report = build_report(load_inputs([run]), draw=False, title="Report of <b>title</b> *bold*")
    text = render_markdown(report)
    assert not re.search(r"(?<!\\)<(img|b>|/b>)", text) and "](javascript" not in text  # escaped: \<img
    assert md_escape(f"self:id00/vid0/{hostile}") in text
    assert text.startswith("# Report of \\<b\\>title\\</b\\> \\*bold\\*")
    assert run_dirs(tmp_path / "runs") == [run]
