"""Decoding of frames, keypoints and masks; every failure names the file and the fix."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from bench.data.types import NUM_LANDMARKS
from bench.errors import DataError

__all__ = ["read_image", "read_keypoints", "read_segmentation", "read_video_frames"]

_REEXTRACT = "re-extract the frame from its video or delete it (and its .npy/.png) from the data set"
_BOMB = (Image.DecompressionBombError, Image.DecompressionBombWarning)


def _decode(path: Path, mode: str) -> Image.Image:
    """Open and decode an image file into ``mode``. An image over PIL's decompression-bomb limit
    (``Image.MAX_IMAGE_PIXELS``) is refused before it is decoded: its warning is an error here."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(path) as image:
            image.load()
            return image.convert(mode)


def _bomb(path: Path, error: Exception) -> DataError:
    return DataError(
        path,
        f"image refused: over PIL's decompression-bomb limit of {Image.MAX_IMAGE_PIXELS} pixels ({error})",
        "replace it by a real frame (a huge image under a frame's name?) or delete it from the data set",
    )


def read_image(path: Path) -> np.ndarray:
    """Decode an image file to uint8 (H, W, 3) RGB."""
    try:
        rgb = _decode(path, "RGB")
    except FileNotFoundError as error:
        raise DataError(path, "image file not found", "check the data root and split") from error
    except _BOMB as error:
        raise _bomb(path, error) from error
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
    if np.ptp(points, axis=0).max() == 0:
        raise DataError(path, "all 68 keypoints are one point (a failed landmark detection written as zeros?)", fix)
    if max(height, width) > 16 and np.abs(points).max() <= 1.0 + 1e-3:
        raise DataError(
            path,
            f"keypoints all lie within [-1, 1] while the frame is {width}x{height} pixels: normalised coordinates, "
            "not pixels",
            "multiply x by the width and y by the height (from [-1, 1]: (p + 1) / 2 * size); pixel (x, y) expected",
        )
    return points


def read_segmentation(path: Path, size: tuple[int, int]) -> np.ndarray:
    """Load a foreground mask as float32 (H, W) in [0, 1]; it must match the frame size."""
    try:
        gray = _decode(path, "L")
    except _BOMB as error:
        raise _bomb(path, error) from error
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
    import av  # deferred: only FOMM-layout video clips need it

    try:
        with av.open(str(path)) as container:
            frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    except (av.FFmpegError, OSError, ValueError, RuntimeError, IndexError) as error:  # IndexError: no video stream
        raise DataError(
            path, f"cannot decode video ({error})", "re-encode the clip (H.264 .mp4) or remove it"
        ) from error
    if not frames:
        raise DataError(path, "video has no frames", "remove the clip")
    return frames
