"""CSIM csim.arcface-irse50: IR-SE-50 in the released file format, five-point alignment, analytic cases, errors."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from bench.errors import WeightsError
from bench.metrics.align import ARCFACE_TEMPLATE, align_faces, five_points, similarity_transform
from bench.metrics.arcface import ArcFaceIRSE50, load_arcface
from bench.metrics.csim import csim
from bench.weights import WeightsLocations

FILE = "model_ir_se50.pth"
TEMPLATE = torch.tensor(ARCFACE_TEMPLATE, dtype=torch.float64)


def _ir_se50_parameter_count() -> int:
    """From the architecture: 3x3 stem, 24 IR-SE units in stages (64x3, 128x4, 256x14, 512x3), 25088 -> 512 head."""
    total = 3 * 64 * 9 + 2 * 64 + 64  # conv, BN, PReLU
    channels = 64
    for depth, units in ((64, 3), (128, 4), (256, 14), (512, 3)):
        for _ in range(units):
            # BN(in), 3x3 conv in -> depth, PReLU, 3x3 conv depth -> depth, BN(depth)
            total += 2 * channels + channels * depth * 9 + depth + depth * depth * 9 + 2 * depth
            total += 2 * depth * (depth // 16)  # SE fc1, fc2 (no bias)
            if channels != depth:
                total += channels * depth + 2 * depth  # 1x1 conv shortcut and its BN
            channels = depth
    return total + 2 * 512 + (512 * 7 * 7 * 512 + 512) + 2 * 512  # BN2d, Linear, BN1d


def _where(folder: Path) -> WeightsLocations:
    return WeightsLocations(weights_dir=folder, use_packages=False, accept_mismatch=True)


@pytest.fixture(scope="module")
def released_state() -> dict[str, torch.Tensor]:
    """A random IR-SE-50 state_dict with non-trivial BatchNorm statistics, in the released file's format."""
    torch.manual_seed(0)
    model = ArcFaceIRSE50()
    generator = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            module.running_mean.normal_(0.0, 0.1, generator=generator)
            module.running_var.uniform_(0.5, 1.5, generator=generator)
    return model.state_dict()


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory: pytest.TempPathFactory, released_state: dict[str, torch.Tensor]) -> Path:
    folder = tmp_path_factory.mktemp("weights")
    torch.save(released_state, folder / FILE)
    return folder


@pytest.fixture(scope="module")
def arcface(weights_dir: Path) -> torch.nn.Module:
    torch.set_num_threads(min(2, torch.get_num_threads()))
    return load_arcface(_where(weights_dir))[0]


def _landmarks(five: torch.Tensor) -> torch.Tensor:
    """68 points (1, 68, 2) whose five ArcFace points are ``five``: eye rings collapsed onto the eye centres."""
    points = five.mean(0).repeat(68, 1)
    points[36:42], points[42:48], points[30], points[48], points[54] = five[0], five[1], five[2], five[3], five[4]
    return points[None].float()


def _similarity(points: torch.Tensor, scale: float, degrees: float, shift: tuple[float, float]) -> torch.Tensor:
    angle = math.radians(degrees)
    cos, sin = math.cos(angle), math.sin(angle)
    rotation = torch.tensor([[cos, -sin], [sin, cos]], dtype=torch.float64)
    return scale * points.double() @ rotation.T + torch.tensor(shift, dtype=torch.float64)


def test_random_ir_se50_in_released_format_loads_through_the_registry(
    weights_dir: Path, released_state: dict[str, torch.Tensor]
) -> None:
    model, resolved = load_arcface(_where(weights_dir))
    assert resolved.path == weights_dir / FILE and resolved.source == "--weights-dir"
    assert resolved.verification == "unpinned"  # no hash is pinned for model_ir_se50.pth
    assert sum(p.numel() for p in model.parameters()) == _ir_se50_parameter_count() == 43_797_696
    state = model.state_dict()
    assert state.keys() == released_state.keys()
    assert all(torch.equal(state[k], released_state[k]) for k in state)
    shapes = {
        "input_layer.0.weight": (64, 3, 3, 3),
        "input_layer.2.weight": (64,),
        "body.3.shortcut_layer.0.weight": (128, 64, 1, 1),
        "body.23.res_layer.5.fc1.weight": (32, 512, 1, 1),
        "output_layer.3.weight": (512, 25088),
        "output_layer.4.running_var": (512,),
    }
    assert {k: tuple(state[k].shape) for k in shapes} == shapes
    assert "body.0.shortcut_layer.0.weight" not in state  # same-depth units subsample, no parameters
    assert not model.training and not any(p.requires_grad for p in model.parameters())


def test_file_without_batchnorm_counters_loads(tmp_path: Path, released_state: dict[str, torch.Tensor]) -> None:
    old = {k: v for k, v in released_state.items() if not k.endswith("num_batches_tracked")}
    torch.save(old, tmp_path / FILE)
    model, _ = load_arcface(_where(tmp_path))
    assert torch.equal(model.state_dict()["output_layer.3.weight"], released_state["output_layer.3.weight"])


def test_identical_faces_give_one_and_changed_faces_less(arcface: torch.nn.Module) -> None:
    generator = torch.Generator().manual_seed(3)
    image = torch.nn.functional.interpolate(torch.rand(1, 3, 32, 32, generator=generator), size=160, mode="bilinear")
    landmarks = _landmarks(_similarity(TEMPLATE, 1.2, 5.0, (12.0, 8.0)))
    noised = (image + 0.1 * torch.randn(image.shape, generator=generator)).clamp(0, 1)
    pred = image.repeat(3, 1, 1, 1)
    reference = torch.cat([image, torch.roll(image, 10, dims=3), noised])
    values = csim(arcface, pred, landmarks.repeat(3, 1, 1), reference, landmarks.repeat(3, 1, 1))
    assert values.shape == (3,)
    assert abs(values[0].item() - 1.0) <= 1e-6
    assert (values[1:] < 1.0 - 1e-6).all() and (values[1:] > -1.0).all()


def test_embeddings_are_unit_512_vectors_and_input_is_checked(arcface: torch.nn.Module) -> None:
    with torch.inference_mode():
        embedding = arcface(torch.rand(1, 3, 112, 112))
    assert embedding.shape == (1, 512)
    torch.testing.assert_close(embedding.norm(dim=1), torch.ones(1))
    with pytest.raises(ValueError, match=r"\(N, 3, 112, 112\).*got shape \(1, 3, 128, 128\).*align_faces"):
        arcface(torch.rand(1, 3, 128, 128))


def test_points_at_the_template_give_the_identity() -> None:
    five = five_points(_landmarks(TEMPLATE))[0]
    torch.testing.assert_close(five.double(), TEMPLATE, atol=1e-5, rtol=0)
    expected = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(similarity_transform(TEMPLATE, TEMPLATE), expected, atol=1e-12, rtol=0)


def test_a_known_similarity_is_recovered_exactly() -> None:
    moved = _similarity(TEMPLATE, 1.7, -23.0, (31.5, -12.25))
    angle = math.radians(-23.0)
    expected = torch.tensor(
        [
            [1.7 * math.cos(angle), -1.7 * math.sin(angle), 31.5],
            [1.7 * math.sin(angle), 1.7 * math.cos(angle), -12.25],
        ],
        dtype=torch.float64,
    )
    torch.testing.assert_close(similarity_transform(TEMPLATE, moved), expected, atol=1e-10, rtol=0)
    mirrored = TEMPLATE * torch.tensor([-1.0, 1.0], dtype=torch.float64)  # best fit must stay a rotation
    assert torch.det(similarity_transform(TEMPLATE, mirrored)[:, :2]) > 0
    with pytest.raises(ValueError, match="coincide"):
        similarity_transform(torch.ones(5, 2), TEMPLATE)


def test_align_moves_a_dot_at_the_left_eye_onto_the_template() -> None:
    source_five = _similarity(TEMPLATE, 1.6, 25.0, (60.0, 10.0))
    eye_x, eye_y = source_five[0].tolist()
    ys, xs = torch.meshgrid(torch.arange(200.0), torch.arange(200.0), indexing="ij")
    dot = torch.exp(-((xs - eye_x) ** 2 + (ys - eye_y) ** 2) / (2 * 2.0**2))
    image = dot.expand(1, 3, 200, 200).contiguous()
    aligned = align_faces(image, _landmarks(source_five))
    assert aligned.shape == (1, 3, 112, 112)
    weights = aligned[0, 0].double()
    grid_y, grid_x = torch.meshgrid(torch.arange(112.0), torch.arange(112.0), indexing="ij")
    centre = ((weights * grid_x.double()).sum() / weights.sum(), (weights * grid_y.double()).sum() / weights.sum())
    assert math.dist([c.item() for c in centre], ARCFACE_TEMPLATE[0]) < 1.0


def test_align_matches_cv2_warp_affine_with_a_black_border() -> None:
    generator = torch.Generator().manual_seed(4)
    image = torch.nn.functional.interpolate(torch.rand(1, 3, 12, 12, generator=generator), size=150, mode="bicubic")
    image = image.clamp(0, 1)
    source_five = _similarity(TEMPLATE, 1.1, 15.0, (-5.0, 30.0))  # part of the crop falls outside the frame
    aligned = align_faces(image, _landmarks(source_five))
    matrix = similarity_transform(five_points(_landmarks(source_five))[0].double(), TEMPLATE).numpy()
    expected = cv2.warpAffine(
        image[0].permute(1, 2, 0).numpy(), matrix, (112, 112), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0)
    )
    np.testing.assert_allclose(aligned[0].permute(1, 2, 0).numpy(), expected, atol=0.02)


def test_missing_weights_name_the_file_and_where_to_put_it(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match=r"model_ir_se50.pth .* not found.*put it at WEIGHTS_DIR/model_ir_se50.pth"):
        load_arcface(_where(tmp_path))


@pytest.mark.parametrize("payload", [b"not a checkpoint", b"PK\x03\x04" + b"\x00" * 64], ids=["garbage", "truncated"])
def test_unreadable_file_is_a_clear_error(tmp_path: Path, payload: bytes) -> None:
    (tmp_path / FILE).write_bytes(payload)
    with pytest.raises(WeightsError, match=r"model_ir_se50.pth: cannot read the ArcFace IR-SE-50 weights.*again"):
        load_arcface(_where(tmp_path))


def test_not_a_state_dict_is_a_clear_error(tmp_path: Path) -> None:
    torch.save([torch.zeros(1)], tmp_path / FILE)
    with pytest.raises(WeightsError, match=r"expected a state_dict .* got list"):
        load_arcface(_where(tmp_path))


def test_wrong_and_mis_shaped_keys_are_listed(tmp_path: Path, released_state: dict[str, torch.Tensor]) -> None:
    state = dict(released_state)
    state["module.input_layer.0.weight"] = state.pop("input_layer.0.weight")
    state["output_layer.3.bias"] = torch.zeros(511)
    torch.save(state, tmp_path / FILE)
    with pytest.raises(
        WeightsError,
        match=r"model_ir_se50.pth: not the state_dict of .*Backbone\(50, 0.6, 'ir_se'\) "
        r"\(missing 1: input_layer.0.weight; unexpected 1: module.input_layer.0.weight; "
        r"mis-shaped 1: output_layer.3.bias \(511,\) \(expected \(512,\)\)\)",
    ):
        load_arcface(_where(tmp_path))


def test_reference_embeddings_once_for_every_model(weights_dir: Path) -> None:
    """The run's CSIM scores every model of a job against the same reference tensor: embedded once, same values."""
    from bench.metrics.evaluators import create_csim_arcface

    score, _ = create_csim_arcface(_where(weights_dir), "cpu")
    generator = torch.Generator().manual_seed(4)
    reference = torch.rand(2, 3, 160, 160, generator=generator)
    landmarks = _landmarks(_similarity(TEMPLATE, 1.2, 5.0, (12.0, 8.0))).repeat(2, 1, 1)
    models = [torch.rand(2, 3, 160, 160, generator=generator) for _ in range(3)]
    values = [score(pred, reference, landmarks, landmarks) for pred in models]
    assert score.reference_memo.frames == 2  # three models, two real frames, embedded once
    for pred, value in zip(models, values, strict=True):
        torch.testing.assert_close(
            value, csim(load_arcface(_where(weights_dir))[0], pred, landmarks, reference, landmarks)
        )
    score(models[0], reference.clone(), landmarks, landmarks)  # another tensor (e.g. the next job): embedded again
    assert score.reference_memo.frames == 4
