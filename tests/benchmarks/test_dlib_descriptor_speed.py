"""csim.dlib-resnet per frame before (dlib's ``compute_face_descriptor``) and after (our port), on 2 CPU threads.

    python -m pytest tests/benchmarks/test_dlib_descriptor_speed.py -m benchmark_suite --benchmark-only \\
        -p no:cacheprovider --benchmark-json=dlib-speed.json

One round is one call of the metric on 8 (generated, reference) pairs of 256x256 frames, so 16 frames: both
sides measured, as for the first model of a run. Each round's frames carry their own faint noise (at most 2 grey
levels), so no per-frame cache hides work. Groups:

* ``csim.dlib-resnet``: the whole metric: ``dlib`` (HOG detector with one upsampling, 68-point shape, dlib's
  ``compute_face_descriptor(frame, shape)`` frame by frame, one thread) against ``port`` (the same detector and
  shape, our chips and our network, one batch on 2 torch threads);
* ``descriptor``: the part that changed, from the frame and its shape (found beforehand) to the descriptor;
* ``detector``: the part that did not: HOG detection and the 68-point shape, per frame.

Per-frame times are the round's divided by ``extra_info["frames"]`` (16); the chips are 150x150.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest
import torch

from bench.metrics import dlib_metrics as dm
from bench.metrics.dlibnet.chips import face_chip
from bench.metrics.dlibnet.network import embed_chips
from bench.metrics.evaluators import build_metrics
from bench.weights import WeightsLocations, require

pytest.importorskip("dlib")
pytestmark = pytest.mark.benchmark_suite

PAIRS, THREADS, ROUNDS, WARMUP = 8, 2, 7, 1


@pytest.fixture(scope="module")
def faces() -> dm.DlibFaces:
    where = WeightsLocations()  # the files face-recognition-models ships
    predictor, recognizer = require("dlib.shape-predictor-68", where), require("dlib.resnet-v1", where)
    return dm.load_dlib_faces(predictor.path, recognizer.path)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def dlib_recognizer(faces: dm.DlibFaces):
    import dlib

    return dlib.face_recognition_model_v1(str(faces.recognizer_path))


def _base_frames() -> tuple[np.ndarray, np.ndarray]:
    """8 distinct generated-looking frames and their references (the same faces 3 pixels to the side)."""
    from bench.data.synth.portraits import crop_portrait, load_portrait

    crops = []
    for name in ("astronaut", "grace_hopper"):
        image, landmarks = load_portrait(name)
        crops.append(crop_portrait(image, landmarks, 256, 0)[0].astype(np.float64))
    frames = np.stack([crops[i % 2] * (0.92 + 0.02 * i) for i in range(PAIRS)])
    return frames, np.roll(frames, 3, axis=2)


def _fresh_rounds(seed: int) -> Iterator[list[np.ndarray]]:
    """Per round: 16 uint8 frames (8 generated, 8 references) no earlier round has seen."""
    generated, reference = _base_frames()
    rng = np.random.default_rng(seed)
    while True:
        both = np.concatenate([generated, reference]) + rng.integers(0, 3, (2 * PAIRS, 256, 256, 3))
        yield list(np.ascontiguousarray(np.clip(both, 0, 255).astype(np.uint8)))


def _tensor(frames: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() / 255.0


def _time(benchmark, group: str, path: str, run: Callable[[], object]) -> object:
    torch.set_num_threads(THREADS)
    benchmark.group = group
    benchmark.extra_info.update(
        path=path, frames=2 * PAIRS, threads=THREADS, chip=150, frame=256, torch=torch.__version__
    )
    return benchmark.pedantic(run, rounds=ROUNDS, warmup_rounds=WARMUP)


def _dlib_csim(faces: dm.DlibFaces, recognizer, frames: list[np.ndarray]) -> np.ndarray:
    """The metric as it was: dlib's detector and shape, then dlib's descriptor frame by frame."""
    out = np.full((len(frames), 128), np.nan)
    for i, image in enumerate(frames):
        shape = faces.shape(image)
        if shape is not None:
            out[i] = recognizer.compute_face_descriptor(image, shape)
    return dm.cosine_similarity(out[:PAIRS], out[PAIRS:])


def test_csim_dlib(benchmark, faces: dm.DlibFaces, dlib_recognizer) -> None:
    rounds = _fresh_rounds(seed=1)
    values = _time(benchmark, "csim.dlib-resnet", "dlib", lambda: _dlib_csim(faces, dlib_recognizer, next(rounds)))
    assert np.isfinite(values).all()


def test_csim_port(benchmark) -> None:
    """The registered metric, as a run builds it (on the CPU)."""
    (metric,), _ = build_metrics(["csim.dlib-resnet"], WeightsLocations())
    score = metric.score
    rounds = _fresh_rounds(seed=2)

    def run() -> torch.Tensor:
        frames = next(rounds)
        return score(_tensor(frames[:PAIRS]), _tensor(frames[PAIRS:]), None, None)

    values = _time(benchmark, "csim.dlib-resnet", "port", run)
    assert torch.isfinite(values).all()  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def shaped(faces: dm.DlibFaces) -> list[tuple[np.ndarray, object]]:
    frames = next(_fresh_rounds(seed=3))
    return [(image, faces.shape(image)) for image in frames]


def test_descriptor_dlib(benchmark, shaped, dlib_recognizer) -> None:
    def run() -> list[object]:
        return [dlib_recognizer.compute_face_descriptor(image, shape) for image, shape in shaped]

    assert len(_time(benchmark, "descriptor", "dlib", run)) == 2 * PAIRS  # type: ignore[arg-type]


def test_descriptor_port(benchmark, shaped, faces: dm.DlibFaces) -> None:
    network = faces.network()

    def run() -> np.ndarray:
        chips = [face_chip(image, np.array([(p.x, p.y) for p in shape.parts()])) for image, shape in shaped]
        return embed_chips(network, chips)

    assert _time(benchmark, "descriptor", "port", run).shape == (2 * PAIRS, 128)  # type: ignore[union-attr]


def test_detector_and_shape(benchmark, faces: dm.DlibFaces) -> None:
    rounds = _fresh_rounds(seed=4)
    landmarks = _time(benchmark, "detector", "dlib", lambda: faces.landmarks(next(rounds)))
    assert np.isfinite(landmarks).all()  # type: ignore[arg-type]


def test_descriptors_agree(faces: dm.DlibFaces, dlib_recognizer) -> None:
    """The two paths timed above give the same numbers (to 1e-6 in the cosine)."""
    frames = next(_fresh_rounds(seed=5))
    port = dm.descriptor_score(faces, dm.cosine_similarity)(
        _tensor(frames[:PAIRS]), _tensor(frames[PAIRS:]), None, None
    )
    np.testing.assert_allclose(port.numpy(), _dlib_csim(faces, dlib_recognizer, frames), rtol=0, atol=1e-6)
