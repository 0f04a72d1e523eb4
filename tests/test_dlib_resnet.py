"""Our reading of ``dlib_face_recognition_resnet_model_v1.dat`` and our torch network give dlib's descriptors.

Tolerance, against ``dlib.face_recognition_model_v1(path).compute_face_descriptor``: max abs difference over the
128 dimensions at most 2e-6 and cosine at least 1 - 1e-10 (measured: 4.8e-7 and 1 - 4e-13 over real portraits,
data set frames, their generated-looking versions and random chips; descriptor norms are about 1.4).
"""

from __future__ import annotations

from pathlib import Path

import dlib_cases as cases
import numpy as np
import pytest
import torch

from bench.errors import WeightsError
from bench.metrics import dlib_metrics as dm
from bench.metrics.dlibnet.network import TOPOLOGY, DlibResNet, add_padded, embed_chips, load_dlib_resnet
from bench.metrics.dlibnet.serialization import Affine, Conv, FullyConnected, InputRGB, Pool, read_network

dlib = pytest.importorskip("dlib")

MAX_ABS, MIN_COSINE = 2e-6, 1 - 1e-10


@pytest.fixture(scope="module")
def network() -> DlibResNet:
    return load_dlib_resnet(cases.model_paths()[1])


@pytest.fixture(scope="module")
def reference_chips() -> dict[str, np.ndarray]:
    """dlib's own 150x150 chips (get_face_chip, padding 0.25) of every test frame."""
    chips = {}
    for name, image in cases.face_frames().items():
        shape = cases.dlib_shape(image)
        assert shape is not None, name
        chips[name] = dlib.get_face_chip(image, shape, size=150, padding=0.25)
    return chips


@pytest.fixture(scope="module")
def chip_descriptors(network: DlibResNet, reference_chips) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (ours, dlib's) descriptors of dlib's chip; ours in one batch."""
    recognizer = cases.dlib_models()[2]
    ours = embed_chips(network, list(reference_chips.values()))
    theirs = [np.asarray(recognizer.compute_face_descriptor(chip)) for chip in reference_chips.values()]
    return {name: pair for name, *pair in zip(reference_chips, ours, theirs, strict=True)}


def _assert_descriptors_match(ours: np.ndarray, theirs: np.ndarray) -> None:
    assert ours.shape == theirs.shape and ours.shape[-1] == 128
    assert np.abs(ours - theirs).max() <= MAX_ABS
    cosine = (ours * theirs).sum(-1) / np.linalg.norm(ours, axis=-1) / np.linalg.norm(theirs, axis=-1)
    assert cosine.min() >= MIN_COSINE


def test_the_file_holds_dlibs_metric_network() -> None:
    source, layers, loss = read_network(cases.model_paths()[1], TOPOLOGY)
    assert source == InputRGB(source.mean, 150, 150)
    np.testing.assert_allclose(source.mean, (122.782, 117.001, 104.298), atol=1e-4)  # stored as float32
    assert (loss.margin, loss.distance_threshold) == pytest.approx((0.04, 0.6))
    convs = [layer for _, layer in layers if isinstance(layer, Conv)]
    assert len(convs) == 29 and len(TOPOLOGY) == 130
    assert convs[0].weight.shape == (32, 3, 7, 7) and convs[0].stride == (2, 2) and convs[0].padding == (0, 0)
    assert [c.weight.shape[0] for c in convs[1:]] == [32] * 6 + [64] * 8 + [128] * 6 + [256] * 8
    assert {c.stride for c in convs[1:]} == {(1, 1), (2, 2)} and all(c.bias is not None for c in convs)
    assert all(c.padding == ((0, 0) if c.stride == (2, 2) else (1, 1)) for c in convs[1:])
    affines = [layer for _, layer in layers if isinstance(layer, Affine)]
    assert len(affines) == 29 and all(a.gamma.shape == a.beta.shape == (a.gamma.size,) for a in affines)
    pools = [layer for _, layer in layers if isinstance(layer, Pool)]
    assert pools[0] == Pool("max", (3, 3), (2, 2), (0, 0))
    assert pools[1:-1] == [Pool("avg", (2, 2), (2, 2), (0, 0))] * 4 and pools[-1].window == (0, 0)
    (fc,) = [layer for _, layer in layers if isinstance(layer, FullyConnected)]
    assert fc.weight.shape == (256, 128) and fc.bias is None


@pytest.mark.parametrize("name", sorted(cases.face_frames()))
def test_descriptors_of_dlibs_chips_are_dlibs(name: str, chip_descriptors) -> None:
    _assert_descriptors_match(*chip_descriptors[name])


def test_a_batch_gives_the_descriptors_one_by_one(network: DlibResNet, reference_chips, chip_descriptors) -> None:
    names = sorted(reference_chips)[::5]
    single = np.stack([embed_chips(network, [reference_chips[name]])[0] for name in names])
    batched = np.stack([chip_descriptors[name][0] for name in names])
    assert np.abs(batched - single).max() <= 1e-6


def test_random_chips(network: DlibResNet) -> None:
    chips = list(np.random.default_rng(0).integers(0, 256, (3, 150, 150, 3), dtype=np.uint8))
    theirs = np.stack([np.asarray(cases.dlib_models()[2].compute_face_descriptor(chip)) for chip in chips])
    _assert_descriptors_match(embed_chips(network, chips), theirs)


def test_frame_to_descriptor_is_compute_face_descriptor(tmp_path: Path) -> None:
    """End to end, from a frame: dlib's detector and shape, our chip and network, against
    ``compute_face_descriptor(frame, shape)`` (which cuts its own chip)."""
    predictor, recognizer = cases.model_paths()
    faces = dm.load_dlib_faces(predictor, recognizer)
    frames = cases.face_frames()
    ours = faces.descriptors(list(frames.values()))
    theirs = []
    for image in frames.values():
        theirs.append(np.asarray(cases.dlib_models()[2].compute_face_descriptor(image, cases.dlib_shape(image))))
    _assert_descriptors_match(ours, np.stack(theirs))


def test_add_padded_is_dlibs_add_prev() -> None:
    """The smaller tensor counts as zero-padded at the end of channels, rows and columns."""
    a, b = torch.ones(1, 2, 3, 3), torch.full((1, 1, 4, 2), 10.0)
    out = add_padded(a, b)
    assert out.shape == (1, 2, 4, 3)
    expected = torch.zeros(1, 2, 4, 3)
    expected[:, :, :3, :] += 1
    expected[:, :1, :, :2] += 10
    torch.testing.assert_close(out, expected, rtol=0, atol=0)


def test_wrong_input_shape(network: DlibResNet) -> None:
    with pytest.raises(ValueError, match=r"expected chips of shape \(N, 3, 150, 150\), got \(1, 3, 112, 112\)"):
        network(torch.zeros(1, 3, 112, 112))


def test_files_that_are_not_the_network(tmp_path: Path) -> None:
    data = cases.model_paths()[1].read_bytes()
    truncated = tmp_path / "truncated.dat"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match=r"truncated\.dat: not a dlib network file of the expected kind: truncated"):
        load_dlib_resnet(truncated)
    other = tmp_path / "shape_predictor_68_face_landmarks.dat"
    other.write_bytes(cases.model_paths()[0].read_bytes()[:65536])  # another dlib file: the 68-point predictor
    with pytest.raises(WeightsError, match=r"shape_predictor_68_face_landmarks\.dat: not a dlib network file"):
        load_dlib_resnet(other)
    topology = list(TOPOLOGY)
    assert topology[4:7] == ["tag1", "con", "affine"]
    with pytest.raises(WeightsError, match=r"wrapper 5 \(tag1\) has version 2, expected one of \(1,\)"):
        read_network(cases.model_paths()[1], [*topology[:5], "tag1", *topology[6:]])
    with pytest.raises(WeightsError, match=r"layer 5 is con, the topology has affine"):
        read_network(cases.model_paths()[1], [*topology[:5], "affine", "con", *topology[7:]])
    with pytest.raises(WeightsError, match=r"cannot read .*missing\.dat"):
        load_dlib_resnet(tmp_path / "missing.dat")


@pytest.mark.gpu
def test_on_cuda_the_descriptors_are_the_same(reference_chips) -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    cpu = load_dlib_resnet(cases.model_paths()[1])
    cuda = load_dlib_resnet(cases.model_paths()[1], "cuda")
    chips = list(reference_chips.values())
    assert np.abs(embed_chips(cuda, chips) - embed_chips(cpu, chips)).max() <= 1e-4  # TF32 may be on
