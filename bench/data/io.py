"""Decoding of frames, keypoints and masks; every failure names the file and the fix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from bench.data.types import NUM_LANDMARKS
from bench.errors import DataError

__all__ = ["read_image", "read_keypoints", "read_segmentation", "read_video_frames"]

_REEXTRACT = "re-extract the frame from its video or delete it (and its .npy/.png) from the data set"


def read_image(path: Path) -> np.ndarray:
    """Decode an image file to uint8 (H, W, 3) RGB."""
    try:
        with Image.open(path) as image:
            image.load()
            rgb = image.convert("RGB")
    except FileNotFoundError as error:
        raise DataError(path, "image file not found", "check the data root and split") from error
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        raise DataError(path, f"cannot decode image ({error})", _REEXTRACT) from error
    array = np.asarray(rgb, dtype=np.uint8)
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise DataError(path, f"image has zero size {array.shape}", _REEXTRACT)
    return array


def read_keypoints(path: Path | None, image_path: Path, size: tuple[int, int]) -> np.ndarray:
    """Load the 68 landmarks of a frame: the first 68 rows, first two columns (pixel x, y) of an .npy array."""
    fix = "write a (68, 2) float array of pixel (x, y) landmarks there (bilayer-bench prepare does this)"
    if path is None or not path.is_file():
        expected = path if path is not None else image_path.with_suffix(".npy")
        raise DataError(expected, f"keypoints of frame {image_path} are missing", fix)
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise DataError(path, f"cannot read keypoints ({error})", fix) from error
    if array.ndim != 2 or array.shape[0] < NUM_LANDMARKS or array.shape[1] < 2:
        raise DataError(path, f"keypoints have shape {array.shape}, expected at least ({NUM_LANDMARKS}, 2)", fix)
    points = np.ascontiguousarray(array[:NUM_LANDMARKS, :2], dtype=np.float32)
    if not np.isfinite(points).all():
        raise DataError(path, "keypoints contain NaN or infinite values", fix)
    height, width = size
    margin = 0.5 * max(height, width)
    outside = (
        (points < -margin).any() or (points[:, 0] > width + margin).any() or (points[:, 1] > height + margin).any()
    )
    if outside:
        raise DataError(
            path,
            f"keypoints lie far outside the {width}x{height} frame (normalised, not pixel, coordinates?)",
            fix,
        )
    return points


def read_segmentation(path: Path, size: tuple[int, int]) -> np.ndarray:
    """Load a foreground mask as float32 (H, W) in [0, 1]; it must match the frame size."""
    try:
        with Image.open(path) as image:
            image.load()
            gray = image.convert("L")
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        raise DataError(path, f"cannot decode segmentation ({error})", "rewrite the mask or delete it") from error
    if (gray.height, gray.width) != size:
        raise DataError(
            path,
            f"segmentation is {gray.width}x{gray.height}, its frame is {size[1]}x{size[0]}",
            "masks must have the size of their frame",
        )
    return np.asarray(gray, dtype=np.float32) / 255.0


def read_video_frames(path: Path) -> list[np.ndarray]:
    """Decode every frame of a video file (FOMM layout) to uint8 (H, W, 3)."""
    import imageio.v3 as iio  # deferred: only FOMM-layout video clips need it

    try:
        frames = [np.asarray(frame)[..., :3] for frame in iio.imiter(path, plugin="pyav")]
    except (OSError, ValueError, RuntimeError) as error:
        raise DataError(
            path, f"cannot decode video ({error})", "re-encode the clip (H.264 .mp4) or remove it"
        ) from error
    if not frames:
        raise DataError(path, "video has no frames", "remove the clip")
    return frames
