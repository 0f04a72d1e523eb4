"""Pieces of ``bilayer-bench prepare`` without video: the crop rule, the detection schedule, clip discovery and
option checking (fast; the end-to-end tests are in test_prepare.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.errors import ConfigError, DataError, WeightsError
from bench.prepare import CropConfig, DetectConfig, PrepareConfig
from bench.prepare.crop import SquareBox, crop_image, crop_landmarks, frame_square, sequence_boxes
from bench.prepare.faces import FaceTracker, box_iou, load_backend
from bench.prepare.video import discover_clips
from bench.weights import WeightsLocations
from bilayer.preprocess import crop_box


def face(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """68 points whose bounding box is [x0, x1] x [y0, y1]."""
    points = np.zeros((68, 2), np.float32)
    points[:, 0] = np.linspace(x0, x1, 68)
    points[:, 1] = np.linspace(y0, y1, 68)[::-1]
    return points


def test_frame_square_is_the_released_bilayer_crop() -> None:
    points = face(100, 80, 150, 140)  # centre (125, 110), larger extent 60 -> half side 60, up by 60 // 6
    assert frame_square(points) == SquareBox(65, 40, 120)
    released = crop_box(points)
    assert frame_square(points).box == released.box
    assert frame_square(points, scale=1.5) == SquareBox(35, 10, 180)


def test_clip_mode_contains_every_frame_square_and_equals_the_released_rule_for_a_still_head() -> None:
    still = [face(100, 80, 150, 140)] * 3
    assert sequence_boxes(still, CropConfig()) == [frame_square(still[0])] * 3
    moving = [face(100 + 10 * i, 80 + 4 * i, 150 + 10 * i, 140 + 4 * i) for i in range(5)]
    boxes = sequence_boxes(moving, CropConfig())
    assert len(set(boxes)) == 1
    x0, y0, x1, y1 = boxes[0].box
    for points in moving:
        fx0, fy0, fx1, fy1 = frame_square(points).box
        assert x0 <= fx0 and y0 <= fy0 and fx1 <= x1 and fy1 <= y1
    assert boxes[0].side == 120 + 40  # the union spans 40 more pixels horizontally


def test_frame_and_smooth_modes() -> None:
    moving = [face(100 + 10 * i, 80, 150 + 10 * i, 140) for i in range(5)]
    per_frame = sequence_boxes(moving, CropConfig(mode="frame"))
    assert per_frame == [frame_square(p) for p in moving]
    smooth = sequence_boxes(moving, CropConfig(mode="smooth", smooth_window=3))
    assert smooth[2] == per_frame[2]  # linear motion: the average of three neighbours is the middle one
    assert smooth[0].x0 == per_frame[0].x0 + 5  # the window shrinks to two frames at the ends
    assert sequence_boxes(moving, CropConfig(mode="smooth", smooth_window=1)) == per_frame
    with pytest.raises(ValueError, match="at least one frame"):
        sequence_boxes([], CropConfig())


def test_crop_landmarks_maps_pixel_centres() -> None:
    box = SquareBox(10, 20, 128)
    corners = np.array([[10, 20], [137, 147], [73.5, 83.5]], dtype=np.float32)
    mapped = crop_landmarks(corners, box, 256)
    # the first source pixel's centre is the centre of the first 2x2 block of the crop: (0.5, 0.5)
    np.testing.assert_allclose(mapped, [[0.5, 0.5], [254.5, 254.5], [127.5, 127.5]])
    assert mapped.dtype == np.float32


def test_crop_image_is_black_outside_the_frame_and_the_identity_on_the_whole_frame() -> None:
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    np.testing.assert_array_equal(crop_image(image, SquareBox(0, 0, 32), 32), image)
    corner = crop_image(np.full((32, 32, 3), 200, np.uint8), SquareBox(-32, 0, 64), 64)  # frame: top right
    assert (corner[:32, 32:] == 200).all() and (corner[:, :32] == 0).all() and (corner[32:] == 0).all()


class FakeFaces:
    """A backend whose frames carry their index in pixel (0, 0); boxes per index, None for no face."""

    name = "fake"

    def __init__(self, boxes: dict[int, list[float] | None]) -> None:
        self.boxes = boxes
        self.detected: list[int] = []

    def detect(self, image: np.ndarray) -> np.ndarray | None:
        index = int(image[0, 0, 0])
        self.detected.append(index)
        box = self.boxes.get(index)
        return None if box is None else np.array(box, dtype=np.float64)

    def fit(self, image: np.ndarray, box: np.ndarray) -> np.ndarray:
        return np.tile(np.asarray(box[:2], dtype=np.float32), (68, 1))

    def provenance(self) -> dict[str, object]:
        return {"backend": "fake", "detector": "fake", "weights": []}


def frames(n: int) -> list[np.ndarray]:
    return [np.full((4, 4, 3), i, np.uint8) for i in range(n)]


def test_tracker_detects_a_subsample_and_interpolates_agreeing_boxes() -> None:
    backend = FakeFaces({0: [0, 0, 100, 100], 5: [10, 20, 110, 120], 10: [10, 20, 110, 120], 11: [12, 20, 112, 120]})
    tracker = FaceTracker(backend, detect_every=5)
    out = tracker.run(frames(12))
    assert backend.detected == [0, 5, 10, 11] and tracker.detections == 4  # every 5th frame and the last
    assert [p[0].tolist() for p in out[:6]] == [[0, 0], [2, 4], [4, 8], [6, 12], [8, 16], [10, 20]]
    assert out[11][0].tolist() == [12, 20]


def test_tracker_detects_every_frame_between_disagreeing_detections() -> None:
    boxes: dict[int, list[float] | None] = {i: [0, 0, 100, 100] for i in range(4)}
    boxes.update({i: [200, 0, 300, 100] for i in range(4, 9)})  # a cut between frames 3 and 4
    backend = FakeFaces(boxes)
    out = FaceTracker(backend, detect_every=4).run(frames(9))
    assert backend.detected == [0, 4, 1, 2, 3, 8]  # 5..7: between two agreeing boxes, interpolated
    assert [p[0, 0] for p in out] == [0, 0, 0, 0, 200, 200, 200, 200, 200]  # type: ignore[index]


def test_tracker_no_face_stretches() -> None:
    backend = FakeFaces({0: [0, 0, 10, 10], 4: None, 8: None, 9: [0, 0, 10, 10]})
    out = FaceTracker(backend, detect_every=4).run(frames(10))
    assert backend.detected == [0, 4, 1, 2, 3, 8, 9]  # 5..7: between two misses, taken as faceless
    assert [p is not None for p in out] == [True, False, False, False, False, False, False, False, False, True]


def test_box_iou() -> None:
    assert box_iou(np.array([0, 0, 10, 10]), np.array([0, 0, 10, 10])) == 1.0
    assert box_iou(np.array([0, 0, 10, 10]), np.array([5, 0, 15, 10])) == pytest.approx(1 / 3)
    assert box_iou(np.array([0, 0, 10, 10]), np.array([20, 20, 30, 30])) == 0.0


def test_discover_clips_names_and_list_files(tmp_path: Path) -> None:
    root = tmp_path / "mp4"
    for relative in ("id00017/01dfn2spqyE/00002.mp4", "id00017/01dfn2spqyE/00010.mp4", "id00018/abc/00001.mp4"):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(b"")
    (root / "id00018" / "abc" / "notes.txt").write_text("not a clip")
    clips = discover_clips(root)
    assert [c.key for c in clips] == ["id00017/01dfn2spqyE/00002", "id00017/01dfn2spqyE/00010", "id00018/abc/00001"]
    assert clips[0].relative == Path("id00017/01dfn2spqyE/00002.mp4")
    listing = tmp_path / "clips.txt"
    listing.write_text("# test clips\nmp4/id00018/abc/00001.mp4\n\n" + str(root / "id00017/01dfn2spqyE/00002.mp4"))
    listed = discover_clips(listing)
    assert [c.key for c in listed] == ["id00017/01dfn2spqyE/00002", "id00018/abc/00001"]
    assert listed[1].path == tmp_path / "mp4/id00018/abc/00001.mp4"


def test_discover_clips_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="input not found"):
        discover_clips(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"no \.mp4 clips found"):
        discover_clips(tmp_path / "empty")
    listing = tmp_path / "list.txt"
    listing.write_text("a/b/clip.avi\n")
    with pytest.raises(DataError, match=r"line 1: 'a/b/clip\.avi' is not an \.mp4 file"):
        discover_clips(listing)
    listing.write_text("a/b/00001.mp4\nc/b/00001.mp4\nx/a/b/00001.mp4\n")
    with pytest.raises(DataError, match="clip name a/b/00001 is also that of"):
        discover_clips(listing)
    listing.write_text("id#1/v/00001.mp4\n")  # a name prepare cannot use skips only that clip (issue 16)
    (clip,) = discover_clips(listing)
    assert "contains '#'" in clip.problem


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: CropConfig(size=255), "even number"),
        (lambda: CropConfig(scale=10.0), "crop scale"),
        (lambda: CropConfig(mode="union"), "crop mode"),  # type: ignore[arg-type]
        (lambda: DetectConfig(detect_every=0), "detect_every"),
        (lambda: DetectConfig(backend="mtcnn"), "landmark backend"),  # type: ignore[arg-type]
        (lambda: PrepareConfig(min_frames=1), "min_frames must be >= 2"),
        (lambda: PrepareConfig(chunk_frames=4), "chunk_frames must be 0 or >= min_frames"),
        (lambda: PrepareConfig(split="imgs"), "split must be a plain folder name"),
        (lambda: PrepareConfig(layouts=("vox",)), "layouts must name"),  # type: ignore[arg-type]
        (lambda: PrepareConfig(jpeg_quality=0), "jpeg_quality"),
    ],
)
def test_invalid_options_name_the_option(make, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        make()


def test_digest_follows_the_outputs_not_the_device() -> None:
    base = PrepareConfig()
    assert base.digest() == PrepareConfig(detect=DetectConfig(device="cuda")).digest()
    assert base.digest() != PrepareConfig(crop=CropConfig(scale=1.2)).digest()
    assert base.digest("dlib|a") != base.digest("dlib|b")


def test_face_alignment_backend_needs_its_files(tmp_path: Path) -> None:
    where = WeightsLocations(weights_dir=tmp_path, use_packages=False)
    with pytest.raises(WeightsError, match=r"2DFAN4-11f355bf06\.pth\.tar"):
        load_backend(DetectConfig(backend="face-alignment"), where)
    with pytest.raises(WeightsError, match=r"shape_predictor_68_face_landmarks\.dat"):
        load_backend(DetectConfig(backend="auto"), where)  # neither face-alignment nor dlib files


@pytest.fixture(scope="module")
def random_fan_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """face-alignment's two files in the released format, with random weights (their hashes do not match)."""
    import torch
    from face_alignment.detection.sfd.net_s3fd import s3fd
    from face_alignment.models import FAN

    folder = tmp_path_factory.mktemp("fan")
    torch.manual_seed(0)
    torch.save(FAN(4).state_dict(), folder / "2DFAN4-11f355bf06.pth.tar")
    torch.save(s3fd().state_dict(), folder / "s3fd-619a316812.pth")
    return folder


def test_auto_uses_face_alignment_when_its_files_are_present(random_fan_dir: Path) -> None:
    with pytest.raises(WeightsError, match="does not match the released"):  # random files: hashes differ
        load_backend(DetectConfig(), WeightsLocations(weights_dir=random_fan_dir, use_packages=False))
    where = WeightsLocations(weights_dir=random_fan_dir, use_packages=False, accept_mismatch=True)
    backend = load_backend(DetectConfig(), where)
    assert backend.name == "face-alignment"
    provenance = backend.provenance()
    assert [w["name"] for w in provenance["weights"]] == ["face-alignment.2dfan4", "face-alignment.s3fd"]
    assert {w["verification"] for w in provenance["weights"]} == {"mismatch"}
    box = backend.detect(np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8))
    assert box is None or (box.shape == (4,) and box[2] > box[0] and box[3] > box[1])
    shipped = WeightsLocations(weights_dir=random_fan_dir, accept_mismatch=True)  # dlib's file from its package
    assert load_backend(DetectConfig(backend="dlib"), shipped).name == "dlib"


@pytest.mark.slow  # face-alignment compiles its heatmap decoding with numba on the first fit: about a minute
def test_face_alignment_backend_fits_68_points_in_a_box(random_fan_dir: Path) -> None:
    where = WeightsLocations(weights_dir=random_fan_dir, use_packages=False, accept_mismatch=True)
    backend = load_backend(DetectConfig(backend="face-alignment"), where)
    image = np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    points = backend.fit(image, np.array([30.0, 30.0, 100.0, 100.0]))
    assert points.shape == (68, 2) and points.dtype == np.float32 and np.isfinite(points).all()
