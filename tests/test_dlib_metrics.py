"""dlib metrics (akd.dlib68, npe.dlib68, csim.dlib-resnet, aed.dlib-resnet) on a real portrait, offline."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bench.config import DataConfig, ProtocolConfig, RunConfig
from bench.metrics import METRICS
from bench.metrics import dlib_metrics as dm
from bench.metrics.evaluators import BuiltMetric, build_metrics
from bench.runner import run_benchmark
from bench.weights import WeightsLocations, resolve

pytest.importorskip("dlib")

DLIB_METRICS = ("akd.dlib68", "npe.dlib68", "csim.dlib-resnet", "aed.dlib-resnet")
SIZE = 256


def _shipped(tmp_path: Path) -> WeightsLocations:
    """Only the files installed packages ship: the weights folder is empty."""
    (tmp_path / "empty").mkdir(exist_ok=True)
    return WeightsLocations(weights_dir=tmp_path / "empty", use_packages=True)


@pytest.fixture(scope="module")
def portrait() -> np.ndarray:
    """``skimage.data.astronaut()`` cropped around the face, 256 x 256 uint8 RGB."""
    from bench.data.synth.portraits import crop_portrait, load_portrait

    image, landmarks = load_portrait("astronaut")
    crop, _ = crop_portrait(image, landmarks, SIZE, 0)
    return np.ascontiguousarray(crop)


@pytest.fixture(scope="module")
def metrics(tmp_path_factory: pytest.TempPathFactory) -> dict[str, BuiltMetric]:
    built, skipped = build_metrics(DLIB_METRICS, _shipped(tmp_path_factory.mktemp("w")))
    assert not skipped
    return {m.spec.name: m for m in built}


def _tensor(*images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255.0


@pytest.mark.parametrize("name", ["dlib.shape-predictor-68", "dlib.resnet-v1"])
def test_shipped_files_resolve_through_the_registry(name: str, tmp_path: Path) -> None:
    found = resolve(name, _shipped(tmp_path))
    assert found.present and found.source == "package face_recognition_models"
    assert found.verification == "verified"  # sha256 pinned in the weights catalogue


def test_registry_entries() -> None:
    assert METRICS.get("csim.dlib-resnet").higher_is_better
    assert METRICS.get("csim.dlib-resnet").cross_reference == "source"
    assert METRICS.get("aed.dlib-resnet").cross_reference is None
    assert not any(METRICS.get(n).higher_is_better for n in ("akd.dlib68", "npe.dlib68", "aed.dlib-resnet"))


def test_a_face_is_found_on_the_portrait(portrait: np.ndarray, tmp_path: Path) -> None:
    faces = dm.load_dlib_faces(resolve("dlib.shape-predictor-68", _shipped(tmp_path)).path)  # type: ignore[arg-type]
    (points,) = faces.landmarks([portrait])
    assert np.isfinite(points).all()
    assert ((points >= 0) & (points < SIZE)).all()
    ocular = np.linalg.norm(points[dm.RIGHT_EYE_OUTER] - points[dm.LEFT_EYE_OUTER])
    assert 40 < ocular < 120  # the outer eye corners of a face filling about a third of the frame


def test_identical_frames(portrait: np.ndarray, metrics: dict[str, BuiltMetric]) -> None:
    frames = _tensor(portrait, portrait)
    expected = {"akd.dlib68": 0.0, "npe.dlib68": 0.0, "aed.dlib-resnet": 0.0, "csim.dlib-resnet": 1.0}
    for name, value in expected.items():
        got = metrics[name].score(frames, frames.clone(), None, None)
        assert got.shape == (2,)
        torch.testing.assert_close(got, torch.full((2,), value), atol=1e-6, rtol=0)


def test_a_horizontal_shift(portrait: np.ndarray, metrics: dict[str, BuiltMetric]) -> None:
    shifted, real = _tensor(np.roll(portrait, 6, axis=1)), _tensor(portrait)
    akd = float(metrics["akd.dlib68"].score(shifted, real, None, None))
    # The landmarks follow a 6 px shift along x; FOMM's AKD averages |dx| and |dy| (0), so about 6 / 2 = 3 px.
    assert 2.0 < akd < 4.5
    npe = float(metrics["npe.dlib68"].score(shifted, real, None, None))
    assert 0.02 < npe < 0.2  # about 6 px over an inter-ocular distance of about 60 px
    assert 0.9 < float(metrics["csim.dlib-resnet"].score(shifted, real, None, None)) < 1.0
    assert float(metrics["aed.dlib-resnet"].score(shifted, real, None, None)) > 0.0


def test_descriptor_provenance_names_the_port(metrics: dict[str, BuiltMetric]) -> None:
    for name in ("csim.dlib-resnet", "aed.dlib-resnet"):
        provenance = metrics[name].provenance()
        assert "PyTorch port of dlib_face_recognition_resnet_model_v1.dat" in str(provenance["description"])
        predictor, recognizer = provenance["files"]  # type: ignore[misc]
        assert recognizer["name"] == "dlib.resnet-v1" and recognizer["implementation"] == dm.DESCRIPTOR_IMPLEMENTATION
        assert predictor["name"] == "dlib.shape-predictor-68" and "implementation" not in predictor
        assert metrics[name].weights_label == "verified"


def test_descriptors_of_a_call_are_one_batch_and_cached(portrait: np.ndarray, tmp_path: Path) -> None:
    where = _shipped(tmp_path)
    predictor, recognizer = (resolve(name, where).path for name in ("dlib.shape-predictor-68", "dlib.resnet-v1"))
    faces = dm.load_dlib_faces(predictor, recognizer)  # type: ignore[arg-type]
    frames = [np.ascontiguousarray(np.roll(portrait, shift, axis=1)) for shift in (1, 2, 1)]
    first = faces.descriptors([*frames, np.full_like(portrait, 128)])
    assert first.shape == (4, 128) and np.isnan(first[3]).all() and np.isfinite(first[:3]).all()
    np.testing.assert_array_equal(first[0], first[2])  # the same frame twice
    np.testing.assert_array_equal(faces.descriptors(frames[::-1]), first[[2, 1, 0]])  # from the cache, in order
    assert faces.descriptors([]).shape == (0, 128)


def test_no_face_gives_nan(portrait: np.ndarray, metrics: dict[str, BuiltMetric]) -> None:
    grey = torch.full((1, 3, SIZE, SIZE), 0.5)
    real = _tensor(portrait)
    for name in DLIB_METRICS:
        assert math.isnan(float(metrics[name].score(grey, real, None, None))), name
        assert math.isnan(float(metrics[name].score(real, grey, None, None))), name


def test_the_definitions() -> None:
    pred = np.zeros((1, 68, 2))
    ref = np.zeros((1, 68, 2))
    ref[0, dm.RIGHT_EYE_OUTER, 0] = 10.0  # inter-ocular distance 10
    pred[0, :, :] = ref[0] + np.array([3.0, 4.0])  # every point 5 px away
    assert dm.akd(pred, ref)[0] == pytest.approx(3.5)  # mean of |3| and |4|, not 5
    assert dm.normalised_pose_error(pred, ref)[0] == pytest.approx(0.5)
    a, b = np.array([[1.0, 2.0, 2.0]]), np.array([[1.0, 0.0, 0.0]])
    assert dm.aed(a, b)[0] == pytest.approx(8.0)  # squared distance, no square root
    assert dm.cosine_similarity(a, b)[0] == pytest.approx(1.0 / 3.0)
    with pytest.raises(ValueError, match=r"expected RGB images of shape \(N, 3, H, W\), got shape \(3, 8, 8\)"):
        dm.to_uint8_rgb(torch.zeros(3, 8, 8))


def _write_face_dataset(root: Path, portrait: np.ndarray, faces: dm.DlibFaces) -> Path:
    """Two people (the portrait and its mirror image), one sequence each of three frames shifted by 0, 3, 6 px."""
    for person, image in (("astro", portrait), ("mirror", np.ascontiguousarray(portrait[:, ::-1]))):
        rel = Path("test", person, "vid0", "seq0")
        for sub in ("imgs", "keypoints"):
            (root / sub / rel).mkdir(parents=True)
        for frame, shift in enumerate((0, 3, 6)):
            moved = np.ascontiguousarray(np.roll(image, shift, axis=1))
            Image.fromarray(moved).save(root / "imgs" / rel / f"{frame}.jpg", quality=95)
            np.save(root / "keypoints" / rel / f"{frame}.npy", faces.landmarks([moved])[0].astype(np.float32))
    return root


def test_run_on_real_faces(portrait: np.ndarray, tmp_path: Path) -> None:
    where = _shipped(tmp_path)
    faces = dm.load_dlib_faces(resolve("dlib.shape-predictor-68", where).path)  # type: ignore[arg-type]
    root = _write_face_dataset(tmp_path / "data", portrait, faces)
    config = RunConfig(
        models=("oracle", "copy-source"),
        metrics=DLIB_METRICS,
        data=DataConfig(root=str(root)),
        protocol=ProtocolConfig(kinds=("self", "cross")),
        threads=1,
    )
    result = run_benchmark(config, out_root=tmp_path / "runs", locations=where, progress=False)
    table = result.summary.set_index(["model", "protocol", "metric"])
    for name, value in {"akd.dlib68": 0.0, "npe.dlib68": 0.0, "aed.dlib-resnet": 0.0}.items():
        assert table.loc[("oracle", "self", name), "value"] == pytest.approx(value, abs=1e-6)
    assert table.loc[("oracle", "self", "csim.dlib-resnet"), "value"] == pytest.approx(1.0, abs=1e-6)
    assert table.loc[("copy-source", "self", "akd.dlib68"), "value"] > 0.0
    assert table.loc[("copy-source", "self", "npe.dlib68"), "value"] > 0.0
    assert table.loc[("oracle", "cross", "csim.dlib-resnet"), "value"] < 1.0  # the mirror image against the source
    assert ("oracle", "cross", "akd.dlib68") not in table.index  # needs ground truth
    # pose followed in cross-reenactment: the oracle returns the driving frame itself, copy-source another pose
    assert table.loc[("oracle", "cross", "npe.dlib68"), "value"] == pytest.approx(0.0, abs=1e-6)
    assert table.loc[("copy-source", "cross", "npe.dlib68"), "value"] > 0.0
    assert table.loc[("oracle", "self", "akd.dlib68"), "metric_weights"] == "verified"  # sha256 pinned
