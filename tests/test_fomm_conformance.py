"""FOMM conformance: the shared golden case of the original code, and a case of another shape made here."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import require_shared

from baselines.fomm import (
    DenseMotionParams,
    FommConfig,
    FommModel,
    GeneratorParams,
    KeypointDetectorParams,
    best_frame_distances,
    movement_scale,
    normalize_keypoints,
    save_checkpoint,
)
from bench.cli import main
from bench.conformance.fomm import INPUTS, NotCompared, run_case
from bench.models import Frames

SHARED = Path(__file__).resolve().parents[2] / "shared" / "conformance" / "fomm"

# non-square frames, 5 keypoints, other block counts, a dense-motion scale of 1 (no anti-aliasing) so that the
# deformation is resized to the generator's 6x7 features
OTHER = FommConfig(
    num_kp=5,
    kp_detector=KeypointDetectorParams(block_expansion=4, max_features=16, num_blocks=2, scale_factor=0.5),
    generator=GeneratorParams(
        block_expansion=4,
        max_features=16,
        num_down_blocks=3,
        num_bottleneck_blocks=1,
        dense_motion=DenseMotionParams(block_expansion=4, max_features=16, num_blocks=2, scale_factor=1),
    ),
    frame_shape=(48, 56),
)


def _perturbed_model(config: FommConfig, seed: int) -> FommModel:
    """Random weights pushed away from the initialisation, so that jacobians and masks are not trivial."""
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = FommModel(config)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if not tensor.is_floating_point() or name.endswith("down.weight"):
                continue
            noise = torch.randn(tensor.shape, generator=generator)
            if name.endswith("running_var"):
                tensor.copy_(0.5 + torch.rand(tensor.shape, generator=generator))
            elif name == "jacobian.weight":
                tensor.copy_(0.002 * noise)
            else:
                tensor.add_(0.05 * noise)
        model.kp_detector.kp.weight.mul_(3.0)
    return model


def _make_case(folder: Path, config: FommConfig, frames: int = 3, seed: int = 0) -> Path:
    """A case folder in the shared format, with golden arrays computed by our own model (self-consistency)."""
    folder.mkdir(parents=True)
    (folder / "config_other.json").write_text(json.dumps(config.to_dict()))
    model = _perturbed_model(config, seed)
    save_checkpoint(folder / "other-cpk.pth.tar", model.generator, model.kp_detector, epoch=5)
    rng = np.random.default_rng(seed)
    h, w = config.frame_shape
    images = rng.random((frames + 1, h, w, 3)).astype(np.float32)
    landmarks = (rng.random((frames + 1, 68, 2)) * [w, h]).astype(np.float32)
    arrays: dict[str, np.ndarray] = {
        "source_float": images[0],
        "driving_float": images[1:],
        "fbf_landmarks_source": landmarks[0],
        "fbf_landmarks_driving": landmarks[1:],
        "mystery_array": np.zeros(3, np.float32),
    }
    tensor = torch.from_numpy(images).permute(0, 3, 1, 2)
    source = Frames(tensor[:1], torch.from_numpy(landmarks[:1]))
    driving = Frames(tensor[1:], torch.from_numpy(landmarks[1:]))
    with torch.inference_mode():
        kp_source = model.kp_detector(source.image)
        kp_driving = [model.kp_detector(driving.image[t : t + 1]) for t in range(frames)]
        recon = [model.generator(source.image, kp, kp_source) for kp in kp_driving]
        acfalse = [model.generator(source.image, kp, kp_source, align_corners=False) for kp in kp_driving]
        scale = movement_scale(kp_source, kp_driving[0])
        arrays["kp_source_value"] = kp_source.value[0].numpy()
        arrays["kp_driving_jacobian"] = torch.cat([kp.jacobian for kp in kp_driving]).numpy()  # type: ignore[misc]
        arrays["recon_prediction"] = torch.cat([o["prediction"] for o in recon]).numpy()
        arrays["recon_mask"] = torch.cat([o["mask"] for o in recon]).numpy()
        arrays["acfalse_recon_deformation"] = torch.cat([o["deformation"] for o in acfalse]).numpy()
        arrays["kpnorm_relative_adapt_value"] = torch.cat(
            [normalize_keypoints(kp_source, kp, kp_driving[0], relative=True, scale=scale).value for kp in kp_driving]
        ).numpy()
        arrays["adapt_movement_scale"] = np.float64(scale)
        for name, options in (
            ("anim_absolute_prediction", {}),
            ("anim_relative_adapt_prediction", {"relative": True, "adapt_movement_scale": True}),
            (
                "anim_bestframe_relative_adapt_prediction",
                {"relative": True, "adapt_movement_scale": True, "best_frame": True},
            ),
        ):
            variant = model.with_options(**options)
            state = variant.begin_sequence(variant.prepare(source), driving)
            arrays[name] = variant.animate(state, driving).permute(0, 2, 3, 1).numpy()
    distances = best_frame_distances(landmarks[0], landmarks[1:])
    arrays["fbf_norms"] = distances
    arrays["fbf_best_frame"] = np.int64(np.argmin(distances))
    np.savez(folder / "cases.npz", **arrays)
    return folder


def test_shared_case_passes_and_compares_every_output() -> None:
    require_shared(SHARED / "cases.npz", "shared FOMM conformance data")
    rows = run_case(SHARED)
    failed = [(r.name, r.max_abs_error, r.note) for r in rows if not r.passed]
    assert not failed
    with np.load(SHARED / "cases.npz") as data:
        outputs = set(data.files) - INPUTS
    assert {r.name for r in rows} == outputs
    assert not [r for r in rows if isinstance(r, NotCompared)], "every golden array should be produced"
    assert next(r for r in rows if r.name == "fbf_best_frame").tolerance == 0.0


def test_shared_case_through_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    require_shared(SHARED / "cases.npz", "shared FOMM conformance data")
    assert main(["conformance", "fomm", str(SHARED)]) == 0
    assert "arrays within tolerance" in capsys.readouterr().out


@pytest.fixture(scope="module")
def other_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _make_case(tmp_path_factory.mktemp("fomm-case") / "case_other", OTHER)


def test_a_case_of_another_shape_is_handled(other_case: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = {r.name: r for r in run_case(other_case)}
    assert rows["anim_bestframe_relative_adapt_prediction"].shape == (3, 48, 56, 3)
    assert all(r.passed for r in rows.values()), [(r.name, r.max_abs_error) for r in rows.values() if not r.passed]
    compared = {name for name, r in rows.items() if not isinstance(r, NotCompared)}
    assert len(compared) == 12 and "source_float" not in rows
    assert isinstance(rows["mystery_array"], NotCompared) and "SKIPPED" in rows["mystery_array"].note
    assert main(["conformance", "fomm", str(other_case)]) == 0
    assert "mystery_array" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["anim_relative_adapt_prediction", "fbf_best_frame", "kpnorm_relative_adapt_value"])
def test_a_perturbed_array_fails(
    other_case: Path, tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    case = Path(shutil.copytree(other_case, tmp_path / "perturbed"))
    with np.load(case / "cases.npz") as data:
        arrays = {key: data[key] for key in data.files}
    arrays[name] = arrays[name] + (1 if arrays[name].dtype == np.int64 else 1e-3)
    np.savez(case / "cases.npz", **arrays)
    assert main(["conformance", "fomm", str(case)]) == 1
    failing = [line for line in capsys.readouterr().out.splitlines() if "FAIL" in line]
    assert len(failing) == 2 and failing[0].startswith(name)


def test_a_broken_case_is_a_one_line_error(
    other_case: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = Path(shutil.copytree(other_case, tmp_path / "broken"))
    (case / "other-cpk.pth.tar").write_bytes(b"not a checkpoint")
    assert main(["conformance", "fomm", str(case)]) == 2
    assert "other-cpk.pth.tar: not a PyTorch checkpoint" in capsys.readouterr().err
    (case / "other-cpk.pth.tar").unlink()
    assert main(["conformance", "fomm", str(case)]) == 2
    assert "no checkpoint" in capsys.readouterr().err


def test_missing_golden_data_fails_in_ci_and_skips_elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI runs the fidelity tests"):
        require_shared(tmp_path / "absent", "golden data")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="golden data not found"):
        require_shared(tmp_path / "absent", "golden data")
