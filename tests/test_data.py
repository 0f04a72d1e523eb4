"""Loaders for both layouts, good and bad inputs; every error names the file."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.config import DataConfig
from bench.data import open_dataset
from bench.data.layouts import natural_key
from bench.errors import DataError


def _open(root: Path, **kwargs: object) -> object:
    return open_dataset(DataConfig(root=str(root), **kwargs))  # type: ignore[arg-type]


def test_bilayer_layout_is_discovered_in_order(bilayer_root: Path) -> None:
    dataset = _open(bilayer_root)
    assert [s.id for s in dataset.sequences] == [
        "id00/vid0/seq0",
        "id00/vid0/seq1",
        "id01/vid0/seq0",
        "id01/vid0/seq1",
    ]
    frames = dataset.load(dataset.sequences[0], [0, 3])
    assert frames[0].image.shape == (32, 32, 3) and frames[0].image.dtype == np.uint8
    assert frames[0].landmarks.shape == (68, 2) and frames[0].landmarks.dtype == np.float32
    assert frames[0].segmentation.shape == (32, 32)
    assert set(np.unique(frames[0].segmentation)) <= {0.0, 1.0}


def test_natural_frame_order(tmp_path: Path) -> None:
    assert sorted(["10", "2", "1"], key=natural_key) == ["1", "2", "10"]


def test_segs_are_optional(tmp_path: Path) -> None:
    from conftest import write_bilayer_dataset

    root = write_bilayer_dataset(tmp_path / "d", segs=False)
    shutil.rmtree(root / "segs")
    frame = _open(root).load(_open(root).sequences[0], [0])[0]
    assert frame.segmentation is None


def test_keypoints_keep_first_68_rows_and_two_columns(bilayer_root: Path) -> None:
    dataset = _open(bilayer_root)
    ref = dataset.sequences[0].frames[0]
    wide = np.concatenate([np.load(ref.keypoints), np.ones((68, 1))], 1)
    np.save(ref.keypoints, np.concatenate([wide, np.zeros((5, 3))]))  # (73, 3), as some detectors write
    points = dataset.load(dataset.sequences[0], [0])[0].landmarks
    np.testing.assert_allclose(points, wide[:, :2].astype(np.float32))


def test_missing_root() -> None:
    with pytest.raises(DataError, match=r"/no/such/dir: data root does not exist"):
        _open(Path("/no/such/dir"))


def test_not_the_bilayer_layout(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no imgs/ folder.*--layout fomm"):
        _open(tmp_path)


def test_missing_split_lists_the_available_ones(bilayer_root: Path) -> None:
    with pytest.raises(DataError, match=r"imgs/train: split 'train' does not exist \(splits here: test\)"):
        _open(bilayer_root, split="train")


def test_empty_sequence(bilayer_root: Path) -> None:
    """An empty sequence stops only itself (issue 16): it is unusable, and loading it is the error."""
    empty = bilayer_root / "imgs" / "test" / "id00" / "vid0" / "seq9"
    empty.mkdir()
    dataset = _open(bilayer_root)
    assert len(dataset.sequences) == 4 and [s.id for s in dataset.unusable] == ["id00/vid0/seq9"]
    with pytest.raises(DataError, match=r"seq9: sequence has no frames"):
        dataset.load(dataset.unusable[0], [0])


def test_corrupt_image_is_named(bilayer_root: Path) -> None:
    dataset = _open(bilayer_root)
    bad = dataset.sequences[1].frames[2].image
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(DataError, match=rf"{bad.name}: cannot decode image .*re-extract"):
        dataset.load(dataset.sequences[1], [0, 1, 2])


def test_truncated_image_is_named(bilayer_root: Path) -> None:
    dataset = _open(bilayer_root)
    bad = dataset.sequences[0].frames[1].image
    bad.write_bytes(bad.read_bytes()[:200])
    with pytest.raises(DataError, match=rf"{bad.name}: cannot decode image"):
        dataset.load(dataset.sequences[0], [1])


def test_missing_keypoints_name_the_expected_file(bilayer_root: Path) -> None:
    dataset = _open(bilayer_root)
    ref = dataset.sequences[0].frames[0]
    ref.keypoints.unlink()
    with pytest.raises(DataError, match=rf"{ref.keypoints}: keypoints of frame .* are missing"):
        dataset.load(dataset.sequences[0], [0])


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((10, 2)), r"shape \(10, 2\), expected at least \(68, 2\)"),
        (np.zeros(136), r"shape \(136,\)"),
        (np.full((68, 2), np.nan), "NaN or infinite"),
        (np.full((68, 2), 1e4), "far outside"),
    ],
)
def test_bad_keypoints(bilayer_root: Path, array: np.ndarray, message: str) -> None:
    dataset = _open(bilayer_root)
    ref = dataset.sequences[0].frames[0]
    np.save(ref.keypoints, array)
    with pytest.raises(DataError, match=message):
        dataset.load(dataset.sequences[0], [0])


def test_unreadable_keypoints(bilayer_root: Path) -> None:
    dataset = _open(bilayer_root)
    ref = dataset.sequences[0].frames[0]
    ref.keypoints.write_bytes(b"garbage")
    with pytest.raises(DataError, match="cannot read keypoints"):
        dataset.load(dataset.sequences[0], [0])


def test_frames_of_different_sizes(bilayer_root: Path) -> None:
    dataset = _open(bilayer_root)
    ref = dataset.sequences[0].frames[2]
    Image.new("RGB", (40, 32)).save(ref.image)
    Image.new("L", (40, 32)).save(ref.segmentation)
    with pytest.raises(DataError, match=rf"{ref.image.name}: frame is 40x32 but 0.jpg of the same sequence is 32x32"):
        dataset.load(dataset.sequences[0], [0, 1, 2])


def test_segmentation_of_wrong_size(bilayer_root: Path) -> None:
    dataset = _open(bilayer_root)
    ref = dataset.sequences[0].frames[0]
    Image.new("L", (16, 16)).save(ref.segmentation)
    with pytest.raises(DataError, match="segmentation is 16x16, its frame is 32x32"):
        dataset.load(dataset.sequences[0], [0])


def test_max_sequences(bilayer_root: Path) -> None:
    assert len(_open(bilayer_root, max_sequences=3).sequences) == 3


# FOMM layout ---------------------------------------------------------------------------------------------------


def _frames(count: int, size: int = 32) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(count)]


def test_fomm_folder_and_mp4_clips(tmp_path: Path) -> None:
    import av

    root = tmp_path / "vox"
    folder = root / "test" / "id10001#abcDEF#000100#000200"
    folder.mkdir(parents=True)
    for i, frame in enumerate(_frames(3)):
        Image.fromarray(frame).save(folder / f"{i:07d}.png")
    with av.open(str(root / "test" / "clip.mp4"), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv420p"
        for frame in _frames(5):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    dataset = open_dataset(DataConfig(root=str(root), layout="fomm"))
    ids = [s.id for s in dataset.sequences]
    assert ids == ["clip/clip/0", "id10001/abcDEF/000100#000200"]
    clip, folder_clip = dataset.sequences
    assert len(clip.frames) == 5 and len(folder_clip.frames) == 3
    loaded = dataset.load(clip, [0, 4])
    assert loaded[1].image.shape == (32, 32, 3) and loaded[1].landmarks is None
    png = dataset.load(folder_clip, [2])[0].image
    np.testing.assert_array_equal(png, _frames(3)[2])


def test_fomm_missing_split_and_bad_video(tmp_path: Path) -> None:
    root = tmp_path / "vox"
    (root / "train").mkdir(parents=True)
    with pytest.raises(DataError, match="split 'test' does not exist"):
        open_dataset(DataConfig(root=str(root), layout="fomm"))
    (root / "test").mkdir()
    (root / "test" / "broken.mp4").write_bytes(b"not a video")
    dataset = open_dataset(DataConfig(root=str(root), layout="fomm"))  # a broken clip stops only itself (issue 16)
    (broken,) = dataset.unusable
    with pytest.raises(DataError, match=r"broken\.mp4: cannot open video"):
        dataset.load(broken, [0])
