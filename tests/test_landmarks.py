"""face-alignment as an offline landmark source, and optional weights reaching a model's factory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.models import create_model
from bench.weights import WeightsLocations


def _random_fan_files(folder: Path) -> tuple[Path, Path]:
    from face_alignment.detection.sfd.net_s3fd import s3fd
    from face_alignment.models import FAN

    torch.manual_seed(0)
    folder.mkdir(parents=True, exist_ok=True)
    fan, detector = folder / "2DFAN4-11f355bf06.pth.tar", folder / "s3fd-619a316812.pth"
    torch.save(FAN(4).state_dict(), fan)
    torch.save(s3fd().state_dict(), detector)
    return fan, detector


def test_face_alignment_loads_local_files_and_predicts_68_points(tmp_path: Path) -> None:
    from baselines.landmarks import FaceAlignmentLandmarks

    fan, detector = _random_fan_files(tmp_path)
    source = FaceAlignmentLandmarks(fan, detector)
    box = np.array([60.0, 50.0, 200.0, 210.0])
    points = source(torch.rand(1, 3, 256, 256), boxes=[box])
    assert points.shape == (1, 68, 2) and points.dtype == np.float32 and np.isfinite(points).all()
    margin = box[2] - box[0]  # FAN's crop is the box enlarged about twice around its centre
    assert (points[0, :, 0] > box[0] - margin).all() and (points[0, :, 0] < box[2] + margin).all()


def test_best_frame_model_uses_face_alignment_when_its_files_are_present(
    tmp_path: Path, register_model: Callable[..., None]
) -> None:
    import fake_models

    _random_fan_files(tmp_path / "weights")
    register_model("needs-fan", "fake_models:create_recording")
    from bench.models import MODELS

    spec = MODELS.get("needs-fan")
    MODELS.unregister("needs-fan")
    from dataclasses import replace

    MODELS.register(
        "needs-fan", replace(spec, weights=("face-alignment.s3fd",), optional_weights=("face-alignment.2dfan4",))
    )
    fake_models.RECEIVED.clear()
    where = WeightsLocations(weights_dir=tmp_path / "weights", use_packages=False, accept_mismatch=True)
    loaded = create_model("needs-fan", where)
    assert loaded.weights_label == "unverified"  # random files in the real format: hashes do not match
    assert set(fake_models.RECEIVED[-1]) == {"face-alignment.s3fd", "face-alignment.2dfan4"}
    assert [w.entry.name for w in loaded.weights] == ["face-alignment.s3fd", "face-alignment.2dfan4"]
    (tmp_path / "weights" / "2DFAN4-11f355bf06.pth.tar").unlink()
    create_model("needs-fan", where)
    assert set(fake_models.RECEIVED[-1]) == {"face-alignment.s3fd"}  # optional and absent: not an error


def test_best_frame_factory_wires_face_alignment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from baselines.fomm import factory
    from baselines.landmarks import FaceAlignmentLandmarks

    fan, detector = _random_fan_files(tmp_path)
    monkeypatch.setattr(factory, "_build", lambda config, weights, seed, landmarks_fn=None, **options: landmarks_fn)
    built = factory.create_vox256_best_frame(
        {"fomm.vox-cpk": tmp_path / "unused", "face-alignment.2dfan4": fan, "face-alignment.s3fd": detector}
    )
    assert isinstance(built, FaceAlignmentLandmarks)
    assert factory.create_vox256_best_frame({"fomm.vox-cpk": tmp_path / "unused"}) is None
