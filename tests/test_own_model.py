"""A model and a metric of the user's (issue 19 part 3) and the Python API (part 4): the README guide's example
model run through ``--models examples.my_model:create``, an entry point, and ``bench.evaluate``, against a hand
computation on two frames; resume; and the one-line errors of what a user can get wrong."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_errors import cli_error, run_dirs
from PIL import Image

from bench.cli import main
from bench.data.default import ensure_default_dataset
from bench.metrics import METRICS
from bench.models import MODELS
from bench.weights import WEIGHTS

REPO = Path(__file__).resolve().parents[1]
BLEND, GAIN = 0.25, (0.9, 1.0, 1.1)
QUICK = ("--metrics", "l1,psnr", "--space", "frame", "--no-latency", "--no-report", "--no-progress")
QUICK += ("--max-sequences", "1", "--threads", "1")
FACTORY = "examples.my_model:create"


def _python(*args: object, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` from the repository root, as the guide's commands are typed."""
    return subprocess.run(
        [sys.executable, *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        timeout=600,
    )


@pytest.fixture(autouse=True)
def forget_plugins():
    """Models, metrics and weight files discovered in this process are dropped after each test."""
    registries = (MODELS, METRICS, WEIGHTS)
    before = [set(registry.names()) for registry in registries]
    yield
    for registry, names in zip(registries, before, strict=True):
        for name in set(registry.names()) - names:
            registry.unregister(name)


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("weights")
    done = _python("-m", "examples.my_model", "--save-weights", folder)
    assert done.returncode == 0, done.stderr
    assert (folder / "my_model_colour.pth").is_file()
    return folder


def _frame(root: Path, sequence: str, name: str) -> np.ndarray:
    (path,) = sorted((root / "imgs" / "test" / sequence).glob(f"{name}.*"))
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0


def _eight_bit(image: np.ndarray) -> np.ndarray:
    """Model outputs are scored as the 8-bit images they would be saved as (bench.space.as_8bit)."""
    return np.floor(image * np.float32(255.0) + np.float32(0.5)) / np.float32(255.0)


def _by_hand(frames: pd.DataFrame) -> None:
    """The first two self-reenactment frames: output = clamp(gain * (blend * source + (1 - blend) * driver)),
    compared in the frame space (the frames are 256 x 256: no resize) with the ground truth, the driver."""
    root = ensure_default_dataset(progress=False)
    rows = frames[frames["protocol"] == "self"].head(2)
    assert len(rows) == 2
    gain = np.asarray(GAIN, dtype=np.float32)
    for row in rows.itertuples():
        source = _frame(root, row.source_sequence, f"{row.source_frame:0>5}")
        truth = _frame(root, row.driver_sequence, f"{row.driver_frame:0>5}")
        output = _eight_bit(np.clip(gain * (BLEND * source + (1 - BLEND) * truth), 0.0, 1.0))
        l1 = np.abs(output - truth).mean()
        psnr = -10 * np.log10(((output - truth) ** 2).mean())
        assert row.l1 == pytest.approx(l1, rel=1e-5), row
        assert row.psnr == pytest.approx(psnr, abs=1e-3), row


def test_guide_run_matches_a_hand_computation_and_resumes(weights_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    done = _python("-m", "bench", "run", "--models", FACTORY, "--model-args", f"blend={BLEND}", "--weights-dir",
                   weights_dir, "--out", out, *QUICK)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert FACTORY in done.stdout
    (run,) = run_dirs(out)
    frames = pd.read_csv(run / "frames.csv", dtype={"source_frame": str, "driver_frame": str})
    _by_hand(frames)
    weights = (run / "weights.json").read_text()
    assert '"blend": 0.25' in weights and "my_model_colour.pth" in weights and '"origin": "module examples' in weights
    # resume: a lost part is recomputed, the numbers do not move
    part = next((run / "parts").glob("examples.my_model%3Acreate/self*.json"))
    part.unlink()
    again = _python("-m", "bench", "run", "--resume", run, "--no-progress")
    assert again.returncode == 0, again.stderr
    assert part.is_file()
    pd.testing.assert_frame_equal(
        frames, pd.read_csv(run / "frames.csv", dtype={"source_frame": str, "driver_frame": str})
    )


def test_python_api_gives_the_same_numbers(weights_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(REPO))
    import bench
    from examples.my_model import WEIGHT, create

    model = create(weights={WEIGHT: weights_dir / "my_model_colour.pth"}, blend=BLEND)
    result = bench.evaluate(
        model, metrics=["l1", "psnr"], space="frame", out=tmp_path, data__max_sequences=1, threads=1
    )
    assert result.status == "complete"
    assert set(result.frames["model"]) == {"BlendModel"}
    _by_hand(result.frames)
    row = result.summary.query("protocol == 'self' and metric == 'l1'")
    assert float(row["value"].iloc[0]) == pytest.approx(result.frames.query("protocol == 'self'")["l1"].mean())
    # a registered name beside the instance, in one run
    both = bench.evaluate(["copy-source", model], metrics=["l1"], space="frame", out=tmp_path, data__max_sequences=1)
    assert set(both.frames["model"]) == {"copy-source", "BlendModel"}


def test_entry_points_of_an_installed_package(
    weights_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A package that declares ``bilayer_bench.models`` and ``bilayer_bench.metrics`` entry points (a dist-info
    folder on the path, as pip installs one) is found by the names it declares."""
    site = tmp_path / "site"
    info = site / "my_blend-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: my-blend\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[bilayer_bench.models]\nmy-blend = examples.my_model:create\n\n"
        "[bilayer_bench.metrics]\nexample.brightness-gap = examples.my_metric:BRIGHTNESS_GAP\n"
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.chdir(REPO)
    capsys.readouterr()
    assert main(["models"]) == 0
    listed = capsys.readouterr().out
    assert "my-blend" in listed and "entry point bilayer_bench.models:my-blend of my-blend" in listed
    out = tmp_path / "runs"
    metrics = ("--metrics", "l1,psnr,example.brightness-gap")
    args = ["run", "--models", "my-blend", "--model-args", f"blend={BLEND}", "--weights-dir", str(weights_dir)]
    assert main([*args, "--out", str(out), *QUICK[2:], *metrics]) == 0
    (run,) = run_dirs(out)
    frames = pd.read_csv(run / "frames.csv", dtype={"source_frame": str, "driver_frame": str})
    _by_hand(frames)
    root = ensure_default_dataset(progress=False)
    row = frames[frames["protocol"] == "self"].iloc[0]
    truth = _frame(root, row.driver_sequence, row.driver_frame)
    source = _frame(root, row.source_sequence, row.source_frame)
    output = _eight_bit(np.clip(np.asarray(GAIN, np.float32) * (BLEND * source + (1 - BLEND) * truth), 0, 1))
    assert row["example.brightness-gap"] == pytest.approx(abs(output.mean() - truth.mean()), abs=1e-6)


def test_random_weights_where_the_file_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The default config's random_weights = "missing": the example's weight file absent, the run says RANDOM."""
    monkeypatch.chdir(REPO)
    assert main(["run", "--models", FACTORY, "--out", str(tmp_path), *QUICK]) == 0
    assert f"{FACTORY} [RANDOM WEIGHTS]" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (("--models", "nosuch_pkg.model:create"), ("nosuch_pkg.model", "PYTHONPATH")),
        (("--models", "examples.my_model:nosuch"), ("nosuch", "create")),
        (("--models", "examples.my_model:WEIGHT"), ("examples.my_model:WEIGHT", "not a factory")),
        (("--models", "examples.my_model:create", "--model-args", "blned=0.5"), ("blned", "blend")),
        (("--models", "examples.my_model:create", "--model-args", "blend=2"), ("blend must be in [0, 1]",)),
        (("--models", "examples.my_model:create", "--model-args", "blend"), ("--model-args", "KEY=VALUE")),
        (("--models", "examples.my_model:create", "--model-args", "seed=3"), ("seed",)),
        (("--models", "copy-source", "--model-args", "blend=0.5"), ("--model-args", "none")),
        (("--models", "copy-sorce"), ("copy-source", "package.module:factory")),
    ],
)
def test_user_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, args: tuple, names: tuple
) -> None:
    monkeypatch.chdir(REPO)
    cli_error(capsys, "run", *args, "--out", tmp_path, *QUICK[:2], "--no-latency", "--no-report", names=names)
    assert run_dirs(tmp_path) == []


def test_a_model_that_raises_fails_its_jobs_not_the_run(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Whatever a user's animate raises (here a TypeError) is that job's recorded failure: exit 1, the rest kept."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "broken_model.py").write_text(
        "import torch\n"
        "class Broken:\n"
        "    def prepare(self, source):\n        return source\n"
        "    def animate(self, state, driver):\n        raise TypeError('unsupported driver')\n"
        "def create(weights=None, seed=0):\n    return Broken()\n"
    )
    monkeypatch.syspath_prepend(str(package))
    code = main(["run", "--models", "copy-source,broken_model:create", "--out", str(tmp_path / "runs"), *QUICK])
    assert code == 1
    err = capsys.readouterr().err
    assert "broken_model:create" in err and "TypeError: unsupported driver" in err and "Traceback" not in err
    (run,) = run_dirs(tmp_path / "runs")
    frames = pd.read_csv(run / "frames.csv")
    assert set(frames["model"]) == {"copy-source"}


def test_a_config_file_with_model_args_tables(
    weights_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "mine.toml"
    config.write_text(
        f'models = ["{FACTORY}"]\nmetrics = ["l1"]\n[data]\nmax_sequences = 1\n[protocol]\nmax_drivers = 4\n'
        '[space]\nname = "frame"\n'
        f'[model_args."{FACTORY}"]\nblend = {BLEND}\n'
    )
    monkeypatch.chdir(REPO)
    assert main(["run", str(config), "--weights-dir", str(weights_dir), "--out", str(tmp_path / "runs")]) == 0
    (run,) = run_dirs(tmp_path / "runs")
    assert f'[model_args."{FACTORY}"]' in (run / "config.toml").read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text(f'models = ["copy-source"]\n[model_args."{FACTORY}"]\nblend = 0.5\n')
    cli_error(capsys, "run", bad, "--out", tmp_path / "runs2", names=("model_args", FACTORY))
