"""Sample clips for trying ``prepare`` offline: the embedded default data set's frames written as .mp4 files.

Each default video (two sequences of 8 frames, 256x256) becomes one 16-frame H.264 clip at 25 fps,
``ROOT/id_PERSON/VIDEO/00001.mp4``, the frame placed on a wider grey canvas (320x256 by default) so that the
crop has to find the head. Used by the tests and by ``nox -s prepare`` (a smoke run that prints frames per second).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["default_video_frames", "write_clip", "write_default_clips"]

CANVAS_WIDTH = 320
"""Width of the canvas the 256x256 default frames are centred on."""


def write_clip(path: Path, frames: list[np.ndarray], fps: int = 25, crf: int = 16) -> Path:
    """Encode uint8 (H, W, 3) RGB frames (even H and W) as an H.264 .mp4 with PyAV."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf)}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def default_video_frames(
    root: Path, person: str, video: str, width: int = CANVAS_WIDTH
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The frames of a default video (all its sequences) on the canvas, and their exact landmarks there."""
    offset = (width - 256) // 2
    frames, points = [], []
    for sequence in sorted((root / "imgs" / "test" / person / video).iterdir()):
        for image in sorted(sequence.glob("*.jpg")):
            canvas = np.full((256, width, 3), 96, np.uint8)
            canvas[:, offset : offset + 256] = np.asarray(Image.open(image).convert("RGB"))
            frames.append(canvas)
            truth = np.load(root / "keypoints" / "test" / person / video / sequence.name / f"{image.stem}.npy")
            points.append(truth[:68, :2] + np.array([offset, 0], dtype=np.float32))
    return frames, points


def write_default_clips(out: Path | str, persons: tuple[str, ...] = (), videos: tuple[str, ...] = ()) -> list[Path]:
    """Write the default data set's videos (all, or those named) as clips under ``out``; returns their paths."""
    from bench.data.default import ensure_default_dataset

    root = ensure_default_dataset()
    out = Path(out)
    written = []
    for person in sorted(p.name for p in (root / "imgs" / "test").iterdir()):
        if persons and person not in persons:
            continue
        for video in sorted(v.name for v in (root / "imgs" / "test" / person).iterdir()):
            if videos and video not in videos:
                continue
            frames, _ = default_video_frames(root, person, video)
            written.append(write_clip(out / f"id_{person}" / video / "00001.mp4", frames))
    return written
