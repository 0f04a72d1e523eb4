"""The evaluation space: every model's output and its reference mapped into one place before any metric.

Fairness is checked with perfect models: a "perfect bi-layer" model (the ground-truth crop in the bi-layer output
geometry) and the oracle score perfectly; copy-source equals a hand computation of its crops.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from bench.aggregate import common_frames, summary_table
from bench.config import DataConfig, ProtocolConfig, RunConfig, SpaceConfig
from bench.errors import ConfigError, ModelOutputError
from bench.models import MODELS, Frames, ModelSpec
from bench.runner import run_benchmark
from bench.space import Crops, crop_output, output_to_space, placement, reference_to_space
from bilayer.preprocess import crop_box


class PerfectBilayer:
    """Returns the ground-truth crop in the bi-layer output geometry: the driver's frame cut at the bi-layer box
    of its landmarks (edge-replicated outside the frame), at the model's own resolution."""

    output_geometry = "crop"

    def __init__(self, size: int = 256) -> None:
        self.size = size

    def prepare(self, source: Frames) -> None:
        return None

    def animate(self, state: None, driver: Frames) -> Crops:
        crops, boxes = [], []
        height, width = driver.image.shape[-2:]
        for image, points in zip(driver.image, driver.landmarks.cpu().numpy(), strict=True):  # type: ignore[union-attr]
            x0, y0, x1, y1 = crop_box(points).box
            pad = (max(0, -x0), max(0, x1 - width), max(0, -y0), max(0, y1 - height))
            padded = F.pad(image[None], pad, mode="replicate")
            cut = padded[..., y0 + pad[2] : y1 + pad[2], x0 + pad[0] : x1 + pad[0]]
            crops.append(F.interpolate(cut, size=(self.size, self.size), mode="bicubic", antialias=True))
            boxes.append((x0, y0, x1, y1))
        return Crops(torch.cat(crops).clamp(0, 1), torch.tensor(boxes, dtype=torch.float64))


def create_perfect_bilayer(weights: Mapping[str, Path] | None = None, seed: int = 0) -> PerfectBilayer:
    return PerfectBilayer()


@pytest.fixture
def perfect_bilayer() -> str:
    name = "test.perfect-bilayer"
    MODELS.register(
        name,
        ModelSpec(name, f"{__name__}:create_perfect_bilayer", "perfect bi-layer", output_geometry="crop"),
    )
    yield name
    MODELS.unregister(name)


def _run(root: Path, out: Path, space: str, models: tuple[str, ...], **kwargs: object):
    config = RunConfig(
        data=DataConfig(root=str(root)),
        models=models,
        metrics=("l1", "psnr", "ssim"),
        space=SpaceConfig(name=space),  # type: ignore[arg-type]
        threads=1,
        **kwargs,  # type: ignore[arg-type]
    )
    return run_benchmark(config, out_root=out, progress=False)


def _values(result, model: str) -> dict[str, float]:
    rows = result.summary[(result.summary.model == model) & (result.summary.protocol == "self")]
    return dict(zip(rows.metric, rows.value, strict=True))


@pytest.mark.parametrize("space", ["crop", "masked-crop"])
def test_perfect_bilayer_and_oracle_score_perfectly_in_the_crop_spaces(
    bilayer_root: Path, tmp_path: Path, perfect_bilayer: str, space: str
) -> None:
    result = _run(bilayer_root, tmp_path / "runs", space, ("oracle", perfect_bilayer, "copy-source"))
    assert result.failures.empty
    for model in ("oracle", perfect_bilayer):
        values = _values(result, model)
        assert values["l1"] == 0.0 and values["psnr"] == float("inf") and values["ssim"] == pytest.approx(1.0)
    assert _values(result, "copy-source")["l1"] > 0.01  # the space does not hide differences
    assert result.space["name"] == space and space in result.caption


def test_oracle_is_perfect_in_the_frame_space_and_crop_models_are_refused(
    bilayer_root: Path, tmp_path: Path, perfect_bilayer: str
) -> None:
    values = _values(_run(bilayer_root, tmp_path / "runs", "frame", ("oracle",)), "oracle")
    assert values["l1"] == 0.0 and values["psnr"] == float("inf")
    with pytest.raises(ConfigError, match="frame space"):
        _run(bilayer_root, tmp_path / "refused", "frame", ("oracle", perfect_bilayer))
    assert not (tmp_path / "refused").exists() or not any((tmp_path / "refused").iterdir())


def _hand_crop(image: np.ndarray, points: np.ndarray, size: int = 256) -> np.ndarray:
    """uint8 (H, W, 3) -> float (3, size, size): the box cut by index arithmetic, replicated at the edges, resized
    as the space resizes, rounded to 8-bit levels (the space holds 8-bit images), the part outside the frame set
    to 0."""
    x0, y0, x1, y1 = crop_box(points).box
    height, width = image.shape[:2]
    ys, xs = np.clip(np.arange(y0, y1), 0, height - 1), np.clip(np.arange(x0, x1), 0, width - 1)
    cut = torch.from_numpy(image[ys][:, xs].astype(np.float32) / 255.0).permute(2, 0, 1)[None]
    resized = F.interpolate(cut, size=(size, size), mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)
    resized = torch.floor(resized * 255.0 + 0.5) / 255.0
    centres = (np.arange(size) + 0.5) / size
    inside_x = (x0 + centres * (x1 - x0) >= 0) & (x0 + centres * (x1 - x0) < width)
    inside_y = (y0 + centres * (y1 - y0) >= 0) & (y0 + centres * (y1 - y0) < height)
    keep = torch.from_numpy((inside_y[:, None] & inside_x[None, :]).astype(np.float32))
    return (resized[0] * keep).numpy()


def test_copy_source_in_the_crop_space_equals_a_hand_computation(bilayer_root: Path, tmp_path: Path) -> None:
    from PIL import Image

    result = _run(bilayer_root, tmp_path / "runs", "crop", ("copy-source",), samples_per_job=0)
    frames = pd.read_csv(result.run_dir / "frames.csv")
    row = frames[(frames.protocol == "self")].iloc[2]
    person, video, sequence = row.driver_sequence.split("/")
    folder = Path("test", person, video, sequence)

    def load(name: object) -> tuple[np.ndarray, np.ndarray]:
        image = np.asarray(Image.open(bilayer_root / "imgs" / folder / f"{name}.jpg").convert("RGB"))
        return image, np.load(bilayer_root / "keypoints" / folder / f"{name}.npy")

    driver, driver_points = load(row.driver_frame)
    source, _ = load(row.source_frame)
    expected = np.abs(_hand_crop(source, driver_points) - _hand_crop(driver, driver_points)).mean()
    assert row.l1 == pytest.approx(float(expected), rel=1e-5, abs=1e-6)


def test_the_space_is_in_every_record(bilayer_root: Path, tmp_path: Path) -> None:
    result = _run(bilayer_root, tmp_path / "runs", "masked-crop", ("copy-source",), samples_per_job=0)
    results = json.loads((result.run_dir / "results.json").read_text())
    assert results["config"]["space"]["name"] == "masked-crop"
    assert results["space"]["name"] == "masked-crop" and "foreground mask" in results["space"]["description"]
    assert results["masks"]["rule"] == "auto" and results["masks"]["frames"]["data"] > 0
    assert 'name = "masked-crop"' in (result.run_dir / "config.toml").read_text()


def test_no_masks_is_said_and_masked_crop_needs_masks(bilayer_root: Path, tmp_path: Path) -> None:
    config = dict(data=DataConfig(root=str(bilayer_root), masks="none"))
    result = run_benchmark(
        RunConfig(models=("copy-source",), metrics=("l1",), threads=1, **config),  # type: ignore[arg-type]
        out_root=tmp_path / "runs",
        progress=False,
    )
    assert "no source mask" in result.caption and result.masks["frames"]["none"] > 0
    with pytest.raises(ConfigError, match="masked-crop"):
        run_benchmark(
            RunConfig(models=("copy-source",), metrics=("l1",), space=SpaceConfig(name="masked-crop"), **config),
            out_root=tmp_path / "refused",
            progress=False,
        )


def _frames(size: int = 64, count: int = 2) -> Frames:
    rng = np.random.default_rng(0)
    image = torch.from_numpy(rng.random((count, 3, size, size), dtype=np.float32))
    points = np.stack([np.linspace(20, 44, 68), np.linspace(24, 40, 68)], 1).astype(np.float32)
    landmarks = torch.from_numpy(np.stack([points + i for i in range(count)]))
    return Frames(image, landmarks, torch.ones(count, 1, size, size))


def test_landmarks_follow_their_pixels_into_the_space() -> None:
    frames = _frames()
    image = torch.zeros_like(frames.image)
    x, y = frames.landmarks[:, 30].round().long().T  # type: ignore[index]
    for i in range(len(frames)):
        image[i, :, y[i] - 1 : y[i] + 2, x[i] - 1 : x[i] + 2] = 1.0  # a 3x3 dot at landmark 30
    marked = Frames(image, frames.landmarks, frames.segmentation)
    space = SpaceConfig(name="crop", size=128)
    where = placement(space, marked)
    mapped = reference_to_space(space, marked, where)
    for i in range(len(frames)):
        peak = torch.nonzero(mapped.image[i, 0] == mapped.image[i, 0].max()).float().mean(0)  # (row, col)
        assert peak.flip(0).numpy() == pytest.approx(mapped.landmarks[i, 30].numpy(), abs=2.5)  # type: ignore[index]


def test_crop_outputs_on_other_boxes_are_resampled_and_must_cover() -> None:
    frames = _frames()
    space = SpaceConfig(name="crop", size=64)
    where = placement(space, frames)
    truth = reference_to_space(space, frames, where)
    ramp = torch.linspace(0, 1, 64)
    smooth = (ramp[None, :] * 0.5 + ramp[:, None] * 0.5).expand(len(frames), 3, 64, 64)  # linear in x and y
    boxes = torch.as_tensor(where.boxes, dtype=torch.float64)
    same = output_to_space(space, Crops(smooth, boxes), "crop", truth, where)
    eight_bit = torch.floor(smooth * 255.0 + 0.5) / 255.0  # the space holds 8-bit images
    assert torch.equal(same, eight_bit * (truth.keep if truth.keep is not None else 1))
    larger = boxes + torch.tensor([-8.0, -8.0, 8.0, 8.0], dtype=torch.float64)
    # the same linear image over a larger box, resampled onto the space's box, gives the inner part of the ramp
    outer = torch.linspace(-8 / 48, 1 + 8 / 48, 64)
    wide = (outer[None, :] * 0.5 + outer[:, None] * 0.5).expand(len(frames), 3, 64, 64).clamp(0, 1)
    resampled = crop_output(Crops(wide, larger), where)
    inner = slice(4, 60)
    assert resampled[..., inner, inner].numpy() == pytest.approx(smooth[..., inner, inner].numpy(), abs=0.02)
    with pytest.raises(ModelOutputError, match="do not cover"):
        crop_output(Crops(smooth, boxes + 4.0), where)


def test_common_frames_are_those_every_model_scored() -> None:
    frames = pd.DataFrame(
        {
            "model": ["a", "a", "a", "b", "b", "b"],
            "weights": "none",
            "protocol": "self",
            "job": "j",
            "source_sequence": "p/v/s",
            "frame_index": [0, 1, 2, 0, 1, 2],
            "csim.dlib-resnet": [0.5, np.nan, 0.7, 0.1, 0.2, 0.3],
        }
    )
    assert common_frames(frames, "csim.dlib-resnet").tolist() == [True, False, True, True, False, True]
    summary = summary_table(frames, ["csim.dlib-resnet"]).set_index("model")
    assert summary.loc["b", "value"] == pytest.approx(0.2)  # frames 0 and 2, not 0.2 by accident of all three
    assert summary.loc["b", "n_frames"] == 2 and summary.loc["b", "n_scored"] == 3
    assert summary.loc["a", "n_unscored"] == 1 and summary.loc["a", "value"] == pytest.approx(0.6)


class RecordingSequence:
    """Records what ``begin_sequence`` is given."""

    seen: list[tuple[torch.Tensor, str]] = []  # noqa: RUF012

    def prepare(self, source: Frames) -> torch.Tensor:
        return source.image

    def begin_sequence(self, state: torch.Tensor, drivers: Frames, protocol: str) -> torch.Tensor:
        RecordingSequence.seen.append((drivers.image[0].clone(), protocol))
        return state

    def animate(self, state: torch.Tensor, driver: Frames) -> torch.Tensor:
        return driver.image


def create_recording(weights: Mapping[str, Path] | None = None, seed: int = 0) -> RecordingSequence:
    return RecordingSequence()


def test_self_reenactment_sequences_start_with_the_source(bilayer_root: Path, tmp_path: Path) -> None:
    MODELS.register("test.recording", ModelSpec("test.recording", f"{__name__}:create_recording", "recording"))
    RecordingSequence.seen.clear()
    try:
        config = RunConfig(
            data=DataConfig(root=str(bilayer_root), max_sequences=1),
            models=("test.recording",),
            metrics=("l1",),
            protocol=ProtocolConfig(kinds=("self",)),
            samples_per_job=0,
        )
        run_benchmark(config, out_root=tmp_path / "runs", progress=False)
    finally:
        MODELS.unregister("test.recording")
    from bench.data import open_dataset

    dataset = open_dataset(DataConfig(root=str(bilayer_root), max_sequences=1))
    source = dataset.load(dataset.sequences[0], [0])[0].image
    (first, protocol), *_ = RecordingSequence.seen
    assert protocol == "self"
    assert torch.equal(first, torch.from_numpy(source.copy()).permute(2, 0, 1).float() / 255)


def test_fomm_default_is_absolute_in_self_and_relative_in_cross() -> None:
    from baselines.fomm.factory import create_tiny

    model = create_tiny()
    frames = _frames(64, 3)
    state = model.prepare(frames[0:1])
    own = model.begin_sequence(state, frames, "self")
    other = model.begin_sequence(state, frames, "cross")
    assert not own.options.relative and own.kp_initial is None
    assert other.options.relative and other.options.adapt_movement_scale and other.kp_initial is not None
    assert "cross-reenactment: relative" in model.record_notes["motion"]


def test_a_data_set_without_segs_gets_segmenter_masks_named_in_the_record(tmp_path: Path) -> None:
    from conftest import write_bilayer_dataset

    root = write_bilayer_dataset(tmp_path / "data", segs=False, persons=1, sequences=1, frames=3, size=64)
    result = _run(root, tmp_path / "runs", "masked-crop", ("oracle",), samples_per_job=0)
    assert result.failures.empty and result.masks["frames"]["segmenter"] == 3 and result.masks["frames"]["data"] == 0
    assert result.masks["segmenter"]["variant"] == "mediapipe.selfie-segmentation.general-256"
    assert "mediapipe.selfie-segmentation" in result.caption
    cached = list((tmp_path.parent).glob("**/masks/mediapipe.selfie-segmentation.general-256/*/*.png"))
    again = _run(root, tmp_path / "again", "masked-crop", ("oracle",), samples_per_job=0)
    assert again.summary.equals(result.summary) and cached is not None
