"""FOMM reimplementation: config reading, state_dict layout of vox-256, the model protocol and the runner."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from baselines.fomm import FommConfig, FommConfigError, FommModel, KeypointDetector, OcclusionAwareGenerator
from baselines.fomm.factory import create_tiny, tiny_config
from bench.config import DataConfig, RunConfig
from bench.models import Frames, create_model
from bench.runner import run_benchmark
from bench.weights import WeightsLocations

SHARED = Path(__file__).resolve().parents[2] / "shared" / "conformance" / "fomm"

VOX_YAML = """\
dataset_params:
  root_dir: data/vox-png
  frame_shape: [256, 256, 3]
  id_sampling: True
  augmentation_params:
    flip_param:
      horizontal_flip: True   # a comment
model_params:
  common_params:
    num_kp: 10
    num_channels: 3
    estimate_jacobian: True
  kp_detector_params:
     temperature: 0.1
     block_expansion: 32
     max_features: 1024
     scale_factor: 0.25
     num_blocks: 5
  generator_params:
    block_expansion: 64
    max_features: 512
    num_down_blocks: 2
    num_bottleneck_blocks: 6
    estimate_occlusion_map: True
    dense_motion_params:
      block_expansion: 64
      max_features: 1024
      num_blocks: 5
      scale_factor: 0.25
  discriminator_params:
    scales: [1]
    sn: True
train_params:
  lr_generator: 2.0e-4
  epoch_milestones: [60, 90]
visualizer_params:
  colormap: 'gist_rainbow'
"""


def _frames(n: int, size: int = 64, seed: int = 0, landmarks: bool = False) -> Frames:
    generator = torch.Generator().manual_seed(seed)
    image = torch.rand(n, 3, size, size, generator=generator)
    marks = None
    if landmarks:
        angles = torch.linspace(0, 2 * np.pi, 69)[:68]
        radius = size * (0.25 + 0.05 * torch.rand(n, 68, generator=generator))
        marks = torch.stack([size / 2 + radius * angles.cos(), size / 2 + radius * angles.sin()], -1)
    return Frames(image, marks)


def test_vox256_yaml_layout_gives_the_named_default(tmp_path: Path) -> None:
    path = tmp_path / "vox-256.yaml"
    path.write_text(VOX_YAML)
    assert FommConfig.from_file(path) == FommConfig.vox256()
    assert FommConfig.from_dict(FommConfig.vox256().to_dict()) == FommConfig.vox256()


def test_small_json_config_reads_like_tiny(tmp_path: Path) -> None:
    data = json.loads((SHARED / "config_small.json").read_text()) if SHARED.is_dir() else tiny_config().to_dict()
    path = tmp_path / "config_small.json"
    path.write_text(json.dumps(data))
    assert FommConfig.from_file(path) == tiny_config()


def test_config_errors_name_the_key(tmp_path: Path) -> None:
    data = tiny_config().to_dict()
    data["model_params"]["kp_detector_params"]["num_blockz"] = 3
    with pytest.raises(FommConfigError, match=r"kp_detector.*num_blockz"):
        FommConfig.from_dict(data)
    with pytest.raises(FommConfigError, match="model_params"):
        FommConfig.from_dict({"dataset_params": {}})
    bad = tmp_path / "bad.yaml"
    bad.write_text("model_params:\n  common_params:\n      num_kp: 10\n    num_channels: 3\n")
    with pytest.raises(FommConfigError, match=r"^\S*bad\.yaml: not a readable FOMM config: line 4, column 5: [^\n]*$"):
        FommConfig.from_file(bad)


def _manifest() -> dict:
    if not (SHARED / "manifest_full.json").is_file():
        pytest.skip(f"shared conformance data not found at {SHARED}")
    return json.loads((SHARED / "manifest_full.json").read_text())


@pytest.mark.parametrize("part", ["generator", "kp_detector"])
def test_vox256_state_dict_matches_the_original_manifest(part: str) -> None:
    manifest = _manifest()
    config = FommConfig.from_dict({"model_params": manifest["model_params_vox256"]})
    assert config == FommConfig.vox256()
    with torch.random.fork_rng():
        module = OcclusionAwareGenerator(config) if part == "generator" else KeypointDetector(config)
    state = module.state_dict()
    buffers = {name for name, _ in module.named_buffers()}
    expected = manifest[part]["entries"]
    assert [key for key in state] == [e["key"] for e in expected]
    for entry, (key, tensor) in zip(expected, state.items(), strict=True):
        assert list(tensor.shape) == entry["shape"], key
        assert str(tensor.dtype).removeprefix("torch.") == entry["dtype"], key
        assert (key in buffers) == (entry["kind"] == "buffer"), key
    parameters = sum(p.numel() for p in module.parameters())
    assert parameters == manifest[part]["num_parameter_elements"]


def _count_calls(module: torch.nn.Module) -> list[int]:
    calls = [0]

    def hook(*_: object) -> None:
        calls[0] += 1

    module.register_forward_hook(hook)
    return calls


def test_prepare_caches_the_source_side_work() -> None:
    model = create_tiny()
    encoder_calls = _count_calls(model.generator.first)
    detector_calls = _count_calls(model.kp_detector)
    state = model.prepare(_frames(1))
    assert encoder_calls == [1] and detector_calls == [1]
    first = model.animate(state, _frames(2, seed=1))
    second = model.animate(state, _frames(2, seed=1))
    assert encoder_calls == [1], "animate ran the source encoder again"
    assert detector_calls == [3], "animate ran the keypoint detector on the source again"
    assert first.shape == (2, 3, 64, 64) and torch.equal(first, second)
    assert float(first.min()) >= 0.0 and float(first.max()) <= 1.0
    # the per-frame path equals the original single call generator(source, kp_driving, kp_source)
    source, driver = _frames(1).image, _frames(1, seed=1).image
    with torch.inference_mode():
        direct = model.generator(source, model.kp_detector(driver), model.kp_detector(source))["prediction"]
    torch.testing.assert_close(first[:1], direct, atol=1e-5, rtol=0)


def test_other_resolutions_are_resized_and_come_back_at_the_driver_size() -> None:
    model = create_tiny()
    state = model.prepare(_frames(1, size=40))
    out = model.animate(state, _frames(3, size=40, seed=2))
    assert out.shape == (3, 3, 40, 40) and out.is_contiguous()
    assert torch.isfinite(out).all()


def test_relative_mode_uses_the_first_driving_frame_for_any_batching() -> None:
    model = create_tiny().with_options(relative=True, adapt_movement_scale=True)
    drivers = _frames(4, seed=3)
    state = model.begin_sequence(model.prepare(_frames(1)), drivers)
    assert state.best_frame == 0 and state.scale != 1.0
    whole = model.animate(state, drivers)
    split = torch.cat([model.animate(state, drivers[0:1]), model.animate(state, drivers[1:4])])
    torch.testing.assert_close(whole, split, atol=1e-5, rtol=0)
    # without begin_sequence the batch itself is the sequence
    torch.testing.assert_close(model.animate(model.prepare(_frames(1)), drivers), whole, atol=0, rtol=0)


def test_best_frame_mode_starts_from_the_closest_landmarks() -> None:
    model = create_tiny().with_options(relative=True, adapt_movement_scale=True, best_frame=True)
    source = _frames(1, landmarks=True, seed=4)
    drivers = _frames(4, landmarks=True, seed=5)
    assert drivers.landmarks is not None and source.landmarks is not None
    drivers = Frames(drivers.image, drivers.landmarks.clone())
    drivers.landmarks[2] = source.landmarks[0] * 1.5 + 3.0  # same shape after normalisation: the best frame
    state = model.begin_sequence(model.prepare(source), drivers)
    assert state.best_frame == 2
    # demo.py: backward from frame 2 and forward from it, both relative to frame 2
    plain = model.with_options(best_frame=False)
    reordered = Frames(drivers.image[[2, 0, 1, 3]])
    expected = plain.animate(plain.begin_sequence(plain.prepare(source), reordered), reordered)[[1, 2, 0, 3]]
    torch.testing.assert_close(model.animate(state, drivers), expected, atol=1e-5, rtol=0)


def test_best_frame_without_landmarks_is_a_clear_error() -> None:
    model = create_tiny().with_options(relative=True, best_frame=True)
    with pytest.raises(ValueError, match=r"landmarks.*landmarks_fn"):
        model.prepare(_frames(1))
    calls: list[int] = []

    def detector(images: torch.Tensor) -> torch.Tensor:
        calls.append(images.shape[0])
        return _frames(images.shape[0], landmarks=True).landmarks  # type: ignore[return-value]

    with_fn = FommModel(tiny_config(), relative=True, best_frame=True, landmarks_fn=detector)
    state = with_fn.begin_sequence(with_fn.prepare(_frames(1)), _frames(3, seed=1))
    assert calls == [1, 3] and state.best_frame is not None
    with pytest.raises(ValueError, match="relative=True"):
        FommModel(tiny_config(), best_frame=True)


def test_fomm_tiny_through_the_registry_and_the_runner(bilayer_root: Path, tmp_path: Path) -> None:
    loaded = create_model("fomm.tiny", WeightsLocations.from_environment(None))
    assert loaded.weights_label == "random" and "RANDOM" in loaded.label
    config = RunConfig(data=DataConfig(root=str(bilayer_root)), models=("fomm.tiny",), metrics=("l1",), threads=1)
    result = run_benchmark(config, out_root=tmp_path / "runs", progress=False)
    assert result.status == "complete" and result.failures.empty
    results = json.loads((result.run_dir / "results.json").read_text())
    assert results["jobs"]["failed"] == 0 and results["jobs"]["ok"] == results["jobs"]["expected"] > 0
    assert results["weights"]["fomm.tiny"]["weights_label"] == "random"
    assert set(result.summary.model) == {"fomm.tiny"}
