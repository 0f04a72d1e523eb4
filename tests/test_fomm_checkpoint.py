"""Loading FOMM checkpoints in the released structure, and the errors for files that are not one."""

from __future__ import annotations

import dataclasses
import pickle
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

from baselines.fomm import FommCheckpointError, FommConfig, FommModel, read_checkpoint, save_checkpoint
from baselines.fomm.checkpoint import TOP_LEVEL_KEYS
from baselines.fomm.factory import create_tiny, create_vox256, tiny_config
from bench.models import Frames

SHARED = Path(__file__).resolve().parents[2] / "shared" / "conformance"


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = create_tiny(seed=3)
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny-cpk.pth.tar", model.generator, model.kp_detector)


def test_random_vox256_checkpoint_round_trips_and_animates(tmp_path: Path) -> None:
    original = create_vox256(seed=1)
    path = save_checkpoint(tmp_path / "vox-cpk.pth.tar", original.generator, original.kp_detector, epoch=99)
    with path.open("rb") as handle:
        assert not handle.read(4).startswith(b"PK"), "expected the legacy (non-zip) serialization"
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert tuple(raw) == TOP_LEVEL_KEYS and raw["epoch"] == 99
    del raw
    weights = {"fomm.vox-cpk": path}
    absolute = create_vox256(weights=weights, seed=7)  # another seed: the file, not the seed, decides
    for key, value in original.state_dict().items():
        assert torch.equal(absolute.state_dict()[key], value), key
    relative = absolute.with_options(relative=True, adapt_movement_scale=True)  # create_vox256_relative's options
    clip = torch.rand(3, 3, 256, 256, generator=torch.Generator().manual_seed(0))
    source, drivers = Frames(clip[:1]), Frames(clip[1:])
    for model in (absolute, relative):
        state = model.begin_sequence(model.prepare(source), drivers)
        out = model.animate(state, drivers)
        assert out.shape == (2, 3, 256, 256) and torch.isfinite(out).all()
        assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


def test_shared_small_checkpoint_loads_with_its_config() -> None:
    case = SHARED / "fomm"
    if not case.is_dir():
        pytest.skip(f"shared conformance data not found at {case}")
    checkpoint = read_checkpoint(case / "vox-small-cpk.pth.tar")
    assert checkpoint.keys == TOP_LEVEL_KEYS and checkpoint.epoch == 99
    FommModel.from_checkpoint(case / "vox-small-cpk.pth.tar", FommConfig.from_file(case / "config_small.json"))


def test_not_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "vox-cpk.pth.tar"
    path.write_text("<html>Google Drive: virus scan warning</html>\n")
    with pytest.raises(FommCheckpointError, match=r"vox-cpk.pth.tar: not a PyTorch checkpoint.*download"):
        read_checkpoint(path)
    with pytest.raises(FommCheckpointError, match="no such file"):
        read_checkpoint(tmp_path / "missing.pth.tar")
    path.write_bytes(b"")
    with pytest.raises(FommCheckpointError, match="empty"):
        read_checkpoint(path)


def test_truncated_file(tmp_path: Path, tiny_checkpoint: Path) -> None:
    data = tiny_checkpoint.read_bytes()
    for fraction in (0.5, 0.999):
        path = tmp_path / f"cut-{fraction}.pth.tar"
        path.write_bytes(data[: int(len(data) * fraction)])
        with pytest.raises(FommCheckpointError, match=r"cut-.*truncated or corrupted.*download"):
            read_checkpoint(path)


def test_wrong_structure(tmp_path: Path) -> None:
    path = tmp_path / "list.pth.tar"
    torch.save([torch.zeros(2)], path, _use_new_zipfile_serialization=False)
    with pytest.raises(FommCheckpointError, match=r"list.pth.tar: not a first-order-model checkpoint.*a list"):
        read_checkpoint(path)
    path = tmp_path / "generator-only.pth.tar"
    torch.save({"generator": OrderedDict(a=torch.zeros(1)), "epoch": 3}, path)
    with pytest.raises(FommCheckpointError, match="missing kp_detector"):
        read_checkpoint(path)
    path = tmp_path / "pickled.pth.tar"
    path.write_bytes(pickle.dumps({"generator": object()}))
    with pytest.raises(FommCheckpointError, match="not a PyTorch checkpoint"):
        read_checkpoint(path)


def test_checkpoint_of_another_config(tiny_checkpoint: Path) -> None:
    with pytest.raises(FommCheckpointError, match=r"tiny-cpk.pth.tar: the 'generator' weights do not match") as info:
        FommModel.from_checkpoint(tiny_checkpoint, FommConfig.vox256())
    message = str(info.value)
    assert "shape mismatches, first: dense_motion_network.hourglass.encoder.down_blocks.0.conv.weight: " in message
    assert "expected (128, 44, 3, 3), found (16, 44, 3, 3)" in message
    assert "missing keys" in message and "FommConfig.from_file" in message
    fewer_kp = dataclasses.replace(tiny_config(), num_kp=5)
    with pytest.raises(FommCheckpointError, match=r"dense_motion_network.mask.weight: expected \(6, "):
        FommModel.from_checkpoint(tiny_checkpoint, fewer_kp)


def test_bilayer_checkpoint_passed_by_mistake(tmp_path: Path) -> None:
    shared = sorted((SHARED / "bilayer").glob("case_harmonic_on/runs/*/checkpoints/*.pth"))
    made = tmp_path / "2225_inference_generator.pth"
    torch.save(
        OrderedDict([("gen_inf.blocks.0.weight", torch.zeros(2)), ("identity_grid", torch.zeros(1, 2, 2, 2))]), made
    )
    with pytest.raises(FommCheckpointError, match=rf"{made.name}: this is a bi-layer model checkpoint.*vox-cpk"):
        create_vox256(weights={"fomm.vox-cpk": made})
    for path in shared:  # the real bi-layer files of the conformance data, where present
        with pytest.raises(FommCheckpointError, match=rf"{path.name}: this is a bi-layer model checkpoint"):
            read_checkpoint(path)


def test_weights_mapping_without_the_fomm_entry() -> None:
    with pytest.raises(FommCheckpointError, match=r"fomm\.vox-cpk"):
        create_vox256(weights={"something-else": Path("x")})
