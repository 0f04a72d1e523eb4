"""AKD and NPE on face-alignment's FAN: the real loading path on random weights in the released formats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bench.metrics.dlib_metrics import akd, normalised_pose_error
from bench.metrics.evaluators import BuiltMetric, build_metrics
from bench.weights import WeightsLocations


@pytest.fixture(scope="module")
def fan_metrics(tmp_path_factory: pytest.TempPathFactory) -> tuple[BuiltMetric, BuiltMetric]:
    from face_alignment.detection.sfd.net_s3fd import s3fd
    from face_alignment.models import FAN

    folder = tmp_path_factory.mktemp("fan-weights")
    torch.manual_seed(0)
    torch.save(FAN(4).state_dict(), folder / "2DFAN4-11f355bf06.pth.tar")
    torch.save(s3fd().state_dict(), folder / "s3fd-619a316812.pth")
    where = WeightsLocations(weights_dir=folder, accept_mismatch=True)
    built, skipped = build_metrics(["akd.fan68", "npe.fan68"], where)
    assert skipped == []
    return built[0], built[1]


def _detector(metric: BuiltMetric):
    return metric.score.landmarks.__self__  # the FaceAlignmentLandmarks instance behind the score


def _set_boxes(metric: BuiltMetric, boxes: list[list[float]]) -> None:
    """Replace S3FD's detections (meaningless with random weights) by fixed face boxes (none: no face)."""
    _detector(metric).aligner.face_detector.detect_from_image = lambda image: [np.array([*b, 0.99]) for b in boxes]


def _frames(n: int) -> torch.Tensor:
    return torch.rand(n, 3, 96, 96, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("name", ["akd.fan68", "npe.fan68"])
def test_fan_metrics_are_skipped_with_the_missing_file_named(tmp_path: Path, name: str) -> None:
    built, skipped = build_metrics(["all"], WeightsLocations(weights_dir=tmp_path))
    assert name not in [m.spec.name for m in built]
    (reason,) = [s.reason for s in skipped if s.name == name]
    assert "2DFAN4-11f355bf06.pth.tar" in reason and "put it in the weights folder" in reason


def test_identical_frames_give_zero_and_shifted_frames_match_the_formulas(
    fan_metrics: tuple[BuiltMetric, BuiltMetric],
) -> None:
    akd_metric, npe_metric = fan_metrics
    assert akd_metric.weights_label == "unverified"  # random files: their hashes are not the release's
    assert [w.entry.name for w in akd_metric.weights] == ["face-alignment.2dfan4", "face-alignment.s3fd"]
    for metric in fan_metrics:
        _set_boxes(metric, [[20.0, 18.0, 80.0, 84.0]])
    frames = _frames(1)  # FAN costs 50 GFLOP per frame
    assert torch.equal(akd_metric.score(frames, frames), torch.zeros(1))
    assert torch.equal(npe_metric.score(frames, frames), torch.zeros(1))

    shifted = torch.roll(frames, shifts=5, dims=-1)
    pred, real = akd_metric.score.landmarks(shifted), akd_metric.score.landmarks(frames)
    assert np.isfinite(pred).all() and not np.array_equal(pred, real)
    got = akd_metric.score(shifted, frames).numpy()
    np.testing.assert_allclose(got, akd(pred, real), rtol=1e-6)
    assert (got > 0).all()
    np.testing.assert_allclose(npe_metric.score(shifted, frames).numpy(), normalised_pose_error(pred, real), rtol=1e-6)


def test_frames_without_a_face_score_nan(fan_metrics: tuple[BuiltMetric, BuiltMetric]) -> None:
    akd_metric, _ = fan_metrics
    _set_boxes(akd_metric, [])
    assert torch.isnan(akd_metric.score(_frames(1), _frames(1))).all()


def test_real_frames_landmarks_once_for_every_model(fan_metrics: tuple[BuiltMetric, BuiltMetric]) -> None:
    """Three models' outputs against one job's real frames: FAN runs on the real frames once, not three times."""
    akd_metric, _ = fan_metrics
    _set_boxes(akd_metric, [[20.0, 18.0, 80.0, 84.0]])
    real = _frames(2)
    memo = akd_metric.score.reference_memo
    before = memo.frames
    calls: list[int] = []
    detector = akd_metric.score.landmarks
    akd_metric.score.landmarks = lambda images: calls.append(len(images)) or detector(images)  # counts the pred side
    try:
        values = [akd_metric.score(torch.roll(real, shifts=s, dims=-1), real) for s in (1, 2, 3)]
    finally:
        akd_metric.score.landmarks = detector
    assert memo.frames - before == 2 and calls == [2, 2, 2]
    expected = akd(detector(torch.roll(real, shifts=3, dims=-1)), detector(real))
    np.testing.assert_allclose(values[2].numpy(), expected, rtol=1e-6)
