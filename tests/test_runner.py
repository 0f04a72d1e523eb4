"""The evaluation loop and its run records: sanity baselines, failures kept per job, kill and resume."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import pandas as pd
import pytest

from bench.config import DataConfig, RunConfig, SpaceConfig
from bench.protocols import Job
from bench.records import INPUTS, RESULTS_SCHEMA, RESULTS_SCHEMA_VERSION, RunDirectory, sample_folder
from bench.runner import run_benchmark


def _config(root: Path, **kwargs: object) -> RunConfig:
    """Cheap metrics unless a test asks for others (the network metrics have tests of their own)."""
    kwargs.setdefault("metrics", ("l1", "psnr", "ssim"))
    return RunConfig(data=DataConfig(root=str(root)), threads=1, **kwargs)  # type: ignore[arg-type]


def _value(summary: pd.DataFrame, model: str, metric: str, protocol: str = "self") -> float:
    row = summary[(summary.model == model) & (summary.metric == metric) & (summary.protocol == protocol)]
    return float(row.value.iloc[0])


def test_oracle_is_perfect_and_copy_source_is_not(bilayer_root: Path, tmp_path: Path) -> None:
    metrics = ("l1", "psnr", "ssim", "fid.inception-2015-12-05.2048")
    result = run_benchmark(_config(bilayer_root, metrics=metrics), out_root=tmp_path / "runs", progress=False)
    assert result.status == "complete" and result.failures.empty
    assert _value(result.summary, "oracle", "l1") == 0.0
    assert _value(result.summary, "oracle", "psnr") == float("inf")
    assert _value(result.summary, "oracle", "ssim") == pytest.approx(1.0)
    assert _value(result.summary, "copy-source", "l1") > 0.05
    assert _value(result.summary, "copy-source", "ssim") < 0.9
    distances = result.summary[result.summary.metric.isin(["l1", "psnr", "ssim"])]
    assert set(distances.protocol) == {"self"}  # no ground-truth metric applies to cross-reenactment
    fid = result.summary[result.summary.metric == "fid.inception-2015-12-05.2048"].set_index(["model", "protocol"])
    assert abs(fid.loc[("oracle", "self"), "value"]) < 1e-6 * fid.loc[("copy-source", "self"), "value"]
    assert fid.loc[("copy-source", "self"), "value"] > 0 and fid.loc[("copy-source", "cross"), "n_frames"] == 8


def test_run_directory_contents(bilayer_root: Path, tmp_path: Path) -> None:
    run_dir = run_benchmark(_config(bilayer_root), out_root=tmp_path / "runs", progress=False).run_dir
    for name in (
        "config.toml",
        "environment.json",
        "data.json",
        "weights.json",
        "frames.csv",
        "sequences.csv",
        "timings.csv",
        "failures.csv",
        "results.json",
    ):
        assert (run_dir / name).is_file(), name
    results = json.loads((run_dir / "results.json").read_text())
    assert results["schema"] == RESULTS_SCHEMA and results["schema_version"] == RESULTS_SCHEMA_VERSION
    assert results["jobs"] == {"expected": 12, "ok": 12, "failed": 0}  # (4 self + 2 cross) x 2 models
    assert results["metrics"]["ssim"]["variant"] == "ssim.gauss11-1.5.valid"
    assert results["weights"]["oracle"]["weights_label"] == "none"
    assert results["environment"]["torch_threads"] == 1
    assert results["data"]["jobs"] == {"self": 4, "cross": 2}
    frames = pd.read_csv(run_dir / "frames.csv")
    assert len(frames) == 2 * (4 * 3 + 2 * 4)  # self: 3 drivers per sequence; cross: 4 frames per pair
    self_rows = frames[frames.protocol == "self"]
    assert (self_rows.source_frame == 0).all() and not (self_rows.driver_frame == 0).any()
    timings = pd.read_csv(run_dir / "timings.csv")
    assert set(timings.stage) == {"prepare", "animate"} and (timings.ms >= 0).all()
    first_self = frames[frames.protocol == "self"].job.iloc[0]
    saved = sample_folder(run_dir, "oracle", "self", first_self)
    assert sorted(p.name for p in saved.iterdir()) == ["00_1.png", "01_2.png"]  # samples_per_job = 2, first job
    assert sorted(p.name for p in sample_folder(run_dir, INPUTS, "self", first_self).iterdir()) == [
        "00_1.png",
        "01_2.png",
        "source.png",
    ]
    assert len(list((run_dir / "samples" / "oracle" / "self").iterdir())) == 1  # only the first job of the protocol


def test_corrupt_frame_fails_its_job_and_keeps_the_others(bilayer_root: Path, tmp_path: Path) -> None:
    bad = bilayer_root / "imgs" / "test" / "id01" / "vid0" / "seq1" / "2.jpg"
    bad.write_bytes(b"garbage")
    result = run_benchmark(_config(bilayer_root, protocol=_self_only()), out_root=tmp_path / "runs", progress=False)
    assert result.status == "partial"
    assert set(result.failures.job) == {"self:id01/vid0/seq1"}
    assert all(str(bad) in error for error in result.failures.error)
    assert (result.failures.file == str(bad)).all()
    frames = pd.read_csv(result.run_dir / "frames.csv")
    assert sorted(set(frames.job)) == ["self:id00/vid0/seq0", "self:id00/vid0/seq1", "self:id01/vid0/seq0"]
    bad.unlink()  # fix the data set by removing the frame, then resume: only the failed job runs again
    (bilayer_root / "keypoints" / "test" / "id01" / "vid0" / "seq1" / "2.npy").unlink()
    resumed = run_benchmark(_config(bilayer_root, protocol=_self_only()), resume=result.run_dir, progress=False)
    assert resumed.status == "complete" and resumed.failures.empty


def _self_only():
    from bench.config import ProtocolConfig

    return ProtocolConfig(kinds=("self",))


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        ("fake_models:create_nan", "NaN or infinite pixels"),
        ("fake_models:create_wrong_shape", r"returned \(\d, 1, 32, 32\), expected .*\(\d, 3, 32, 32\)"),
    ],
)
def test_bad_model_outputs_are_recorded(
    bilayer_root: Path, tmp_path: Path, register_model: Callable[[str, str], None], factory: str, message: str
) -> None:
    register_model("broken", factory)
    result = run_benchmark(_config(bilayer_root, models=("broken", "oracle")), out_root=tmp_path, progress=False)
    assert set(result.failures.model) == {"broken"}
    assert result.failures.error.str.contains(message).all()
    assert _value(result.summary, "oracle", "l1") == 0.0


class _Killed(Exception):
    pass


def test_killed_run_resumes_to_the_same_records(bilayer_root: Path, tmp_path: Path) -> None:
    config = _config(bilayer_root)
    whole = run_benchmark(config, out_root=tmp_path / "whole", progress=False).run_dir

    seen: list[str] = []

    def kill_after_three(job: Job) -> None:
        seen.append(job.id)
        if len(seen) == 3:
            raise _Killed

    with pytest.raises(_Killed):
        run_benchmark(config, out_root=tmp_path / "killed", progress=False, on_job_done=kill_after_three)
    (interrupted,) = (tmp_path / "killed").iterdir()
    assert not (interrupted / "results.json").exists()
    assert len(RunDirectory.open(interrupted).read_parts()) == 3 * 2

    ran: list[str] = []
    run_benchmark(config, resume=interrupted, progress=False, on_job_done=lambda job: ran.append(job.id))
    for name in ("frames.csv", "sequences.csv", "failures.csv"):
        assert (interrupted / name).read_bytes() == (whole / name).read_bytes(), name
    summary = [json.loads((d / "results.json").read_text())["summary"] for d in (whole, interrupted)]
    assert summary[0] == summary[1]
    assert len(ran) == 6  # every job is visited, but the finished ones are skipped
    timings = pd.read_csv(interrupted / "timings.csv")
    assert len(timings[timings.stage == "prepare"]) == 12  # each (model, job) ran exactly once overall


def test_resume_of_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    from bench.errors import ConfigError

    with pytest.raises(ConfigError, match="not a run directory"):
        RunDirectory.open(tmp_path)


def test_models_needing_weights_fail_clearly_or_run_labelled_random(
    bilayer_root: Path, tmp_path: Path, register_model: Callable[..., None]
) -> None:
    from bench.errors import WeightsError
    from bench.table import format_summary
    from bench.weights import WeightsLocations

    register_model("needs-vox", "fake_models:create_shift", ("fomm.vox-cpk",))
    empty = WeightsLocations(weights_dir=tmp_path / "weights", use_packages=False)
    config = _config(bilayer_root, models=("needs-vox",))
    with pytest.raises(WeightsError, match=r"vox-cpk.pth.tar .* not found.*WEIGHTS_DIR/vox-cpk.pth.tar"):
        run_benchmark(config, out_root=tmp_path / "runs", locations=empty, progress=False)

    random = _config(bilayer_root, models=("needs-vox", "oracle"), random_weights=True)
    result = run_benchmark(random, out_root=tmp_path / "runs", locations=empty, progress=False)
    assert "needs-vox [RANDOM WEIGHTS]" in format_summary(result.summary, result.counts)
    frames = pd.read_csv(result.run_dir / "frames.csv")
    assert set(frames[frames.model == "needs-vox"].weights) == {"random"}
    assert set(frames[frames.model == "oracle"].weights) == {"none"}
    results = json.loads((result.run_dir / "results.json").read_text())
    assert {r["weights"] for r in results["summary"] if r["model"] == "needs-vox"} == {"random"}
    assert results["weights"]["needs-vox"]["weights_label"] == "random"
    assert _value(result.summary, "needs-vox", "l1") > 0.0  # the shifted driver is close, not equal


def test_landmark_models_refuse_a_layout_without_landmarks(tmp_path: Path) -> None:
    from PIL import Image

    from bench.errors import ConfigError

    clip = tmp_path / "vox" / "test" / "clip"
    clip.mkdir(parents=True)
    for i in range(3):
        Image.new("RGB", (32, 32), (i * 40, 0, 0)).save(clip / f"{i}.png")
    config = RunConfig(models=("oracle", "bilayer.tiny"), data=DataConfig(root=str(tmp_path / "vox"), layout="fomm"))
    with pytest.raises(ConfigError, match=r"bilayer.tiny needs the 68 landmarks .* fomm layout"):
        run_benchmark(config, out_root=tmp_path / "runs", progress=False)
    ok = run_benchmark(
        RunConfig(
            models=("oracle",), metrics=("l1",), data=config.data, protocol=_self_only(), space=SpaceConfig("frame")
        ),
        out_root=tmp_path / "runs",
        progress=False,
    )
    assert ok.status == "complete"


class _Recorder:
    """A model with the optional per-sequence hook: records what it was given."""

    calls: ClassVar[list[int]] = []

    def prepare(self, source: object) -> str:
        return "prepared"

    def begin_sequence(self, state: str, drivers: object, protocol: str) -> str:
        _Recorder.calls.append(len(drivers))  # type: ignore[arg-type]
        return state + "+sequence"

    def animate(self, state: str, driver: object) -> object:
        assert state == "prepared+sequence"
        return driver.image  # type: ignore[attr-defined]


def create_recorder(weights: object = None, seed: int = 0) -> _Recorder:
    return _Recorder()


def test_begin_sequence_gets_all_drivers_once_and_is_timed(
    bilayer_root: Path, tmp_path: Path, register_model: Callable[..., None]
) -> None:
    _Recorder.calls = []
    register_model("recorder", "test_runner:create_recorder")
    config = _config(bilayer_root, models=("recorder",), protocol=_self_only(), batch_size=2)
    result = run_benchmark(config, out_root=tmp_path, progress=False)
    assert _Recorder.calls == [4, 4, 4, 4]  # one call per sequence: the source, then all 3 driving frames
    timings = pd.read_csv(result.run_dir / "timings.csv")
    assert (timings.stage == "begin_sequence").sum() == 4
    assert (timings.stage == "animate").sum() == 8  # 3 drivers in batches of 2
