"""``bilayer-bench score`` (issue 19 part 5): frames generated elsewhere, laid out like the data set, scored like a
run. The outputs a run saves (``--save-outputs``) re-scored give exactly that run's numbers, for whole-frame and
crop models; a missing or mis-sized frame is named and the rest scored; the FOMM layout (a video clip's frames as
a folder or a video); the imgs/ level optional."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_errors import cli_error, run_dirs
from PIL import Image

from bench.cli import main

QUICK = ("--metrics", "l1,psnr,ssim", "--no-progress", "--threads", "1")
FRAME_COLUMNS = ["job", "driver_sequence", "driver_frame", "l1", "psnr", "ssim"]


def _frames(run: Path, model: str) -> pd.DataFrame:
    frames = pd.read_csv(run / "frames.csv", dtype={"source_frame": str, "driver_frame": str})
    own = frames[(frames["model"] == model) & (frames["protocol"] == "self")]
    return own[FRAME_COLUMNS].sort_values(["job", "driver_frame"]).reset_index(drop=True)


def _summary(run: Path, model: str) -> dict[str, float]:
    rows = json.loads((run / "results.json").read_text())["summary"]
    return {r["metric"]: r["value"] for r in rows if r["model"] == model and r["protocol"] == "self"}


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run of a whole-frame (fomm.tiny), a crop (bilayer.tiny) and a sanity model, saving every output."""
    out = tmp_path_factory.mktemp("runs")
    args = ["run", "--models", "copy-source,fomm.tiny,bilayer.tiny", "--save-outputs", "--max-sequences", "2"]
    assert main([*args, "--no-latency", "--no-report", "--out", str(out), *QUICK]) == 0
    (run,) = run_dirs(out)
    return run


@pytest.mark.parametrize(
    ("model", "geometry"), [("fomm.tiny", "frame"), ("bilayer.tiny", "crop"), ("copy-source", "frame")]
)
def test_scoring_a_runs_saved_outputs_gives_its_numbers(saved_run: Path, tmp_path: Path, model: str, geometry: str):
    generated = saved_run / "outputs" / model
    assert sorted(p.suffix for p in generated.rglob("*.*")) == [".png"] * len(_frames(saved_run, model))
    code = main(["score", str(generated), "--config", str(saved_run / "config.toml"), "--geometry", geometry,
                 "--name", model, "--out", str(tmp_path), "--no-progress"])  # fmt: skip
    assert code == 0
    (scored,) = run_dirs(tmp_path)
    pd.testing.assert_frame_equal(_frames(scored, model), _frames(saved_run, model), check_exact=True)
    assert _summary(scored, model) == _summary(saved_run, model)
    assert json.loads((scored / "results.json").read_text())["weights"][model]["origin"].startswith("outputs in ")


def test_missing_and_mis_sized_frames_are_named_and_the_rest_scored(
    saved_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    generated = tmp_path / "theirs"
    shutil.copytree(saved_run / "outputs" / "fomm.tiny" / "imgs", generated)  # without the imgs/ level
    files = sorted(generated.rglob("*.png"))
    files[0].unlink()
    Image.open(files[1]).resize((100, 100)).save(files[1])
    capsys.readouterr()
    code = main(["score", str(generated), "--config", str(saved_run / "config.toml"), "--out", str(tmp_path / "o"),
                 "--name", "fomm.tiny", "--no-progress"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1
    assert str(files[0].with_suffix("")) in err and "not found" in err
    assert str(files[1]) in err and "100x100" in err and "256x256" in err
    (scored,) = run_dirs(tmp_path / "o")
    missing = pd.read_csv(scored / "missing_outputs.csv")
    assert len(missing) == 2
    theirs, ours = _frames(scored, "fomm.tiny"), _frames(saved_run, "fomm.tiny")
    assert len(theirs) == len(ours) - 2
    kept = ours.merge(theirs[["job", "driver_frame"]], on=["job", "driver_frame"])
    pd.testing.assert_frame_equal(theirs, kept, check_exact=True)


def _fomm_data(root: Path) -> list[np.ndarray]:
    """A FOMM-layout data set: one clip as a folder of frames, one as an mp4."""
    import av

    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(4)]
    folder = root / "test" / "id1#vidA#000001#000004"
    folder.mkdir(parents=True)
    for i, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"{i:07d}.png")
    with av.open(str(root / "test" / "clip.mp4"), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return frames


def test_fomm_layout_outputs_as_folders(tmp_path: Path) -> None:
    """A run on a FOMM-layout data set saves an mp4 clip's outputs as a folder of its frames; score reads them."""
    data = tmp_path / "vox"
    _fomm_data(data)
    common = ["--data", str(data), "--layout", "fomm", "--space", "frame"]
    args = ["run", "--models", "fomm.tiny", "--save-outputs", *common, "--no-latency", "--no-report"]
    assert main([*args, "--out", str(tmp_path / "runs"), *QUICK]) == 0
    (run,) = run_dirs(tmp_path / "runs")
    generated = run / "outputs" / "fomm.tiny"
    assert (generated / "test" / "clip").is_dir() and (generated / "test" / "id1#vidA#000001#000004").is_dir()
    code = main(["score", str(generated), *common, "--name", "fomm.tiny", "--out", str(tmp_path / "o"), *QUICK])
    assert code == 0
    (scored,) = run_dirs(tmp_path / "o")
    pd.testing.assert_frame_equal(_frames(scored, "fomm.tiny"), _frames(run, "fomm.tiny"), check_exact=True)


@pytest.mark.parametrize("case", ["no-folder", "nothing-matches", "cross-only"])
def test_score_errors_are_one_line(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    generated = tmp_path / "gen"
    if case != "no-folder":
        generated.mkdir()
        (generated / "stray.png").write_bytes(b"")
    extra: list[str] = []
    if case == "cross-only":
        config = tmp_path / "cross.toml"
        config.write_text('models = ["copy-source"]\n[protocol]\nkinds = ["cross"]\n')
        extra = ["--config", str(config)]
    names = {"no-folder": (generated, "not found"), "nothing-matches": (generated, "none of the"),
             "cross-only": ("self",)}[case]  # fmt: skip
    cli_error(capsys, "score", generated, *extra, "--max-sequences", "1", "--out", tmp_path / "o", names=names)
    assert run_dirs(tmp_path / "o") == []
