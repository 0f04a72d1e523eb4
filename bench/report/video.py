"""A side-by-side video of one sequence: source | driver | each model | ground truth, model names written on the
frames, encoded as MP4 (H.264 through PyAV; MPEG-4 Part 2 when the wheel has no libx264).

The sequence is the first self-reenactment job for which every model saved its outputs; each video frame is
one saved driving frame on which every model has an output, in frame order.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from bench.report.load import RunRecord
from bench.report.samples import SavedFrame, sample_models, saved_frames
from bench.report.tables import WEIGHT_MARKS

__all__ = ["RenderedVideo", "side_by_side_video", "video_codec"]

FPS = 4
MIN_TILE = 160  # px: tiles are scaled up (nearest) to at least this width, so that labels fit
LABEL_PX = 13
CODECS = ("libx264", "mpeg4")


@dataclass(frozen=True)
class RenderedVideo:
    key: str  # file stem under videos/
    title: str
    caption: str
    mp4: bytes = field(repr=False)
    frames: int
    width: int
    height: int
    codec: str

    @property
    def path(self) -> str:
        """Where the report folder keeps it (report.html and report.md link to it)."""
        return f"videos/{self.key}.mp4"


def video_codec() -> str:
    """libx264 when PyAV's build has it, else mpeg4."""
    import av

    return next(c for c in CODECS if c in av.codecs_available or c == CODECS[-1])


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: one bitmap size
        return ImageFont.load_default()


def _fit(draw: ImageDraw.ImageDraw, text: str, width: int) -> tuple[str, ImageFont.FreeTypeFont | ImageFont.ImageFont]:
    """``text`` in the largest font from LABEL_PX down to 8 px that fits ``width``, else cut with an ellipsis."""
    for size in range(LABEL_PX, 7, -1):
        font = _font(size)
        if draw.textlength(text, font=font) <= width:
            return text, font
    while len(text) > 1 and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…", font


def _labels(run: RunRecord, models: Sequence[str]) -> list[tuple[str, str]]:
    """(name, mark) of every column; the mark (e.g. [RANDOM WEIGHTS]) goes on a second line."""
    marks = [WEIGHT_MARKS.get(run.weights_label(m), "").strip() for m in models]
    return [("source", ""), ("driver", ""), *zip(models, marks, strict=True), ("ground truth", "(= driver)")]


def _compose(tiles: Sequence[np.ndarray], labels: Sequence[tuple[str, str]], footer: str, scale: int) -> Image.Image:
    """One video frame: a label strip over the tiles, a footer line under them; even width and height."""
    height, width = tiles[0].shape[:2]
    tile_w, tile_h = width * scale, height * scale
    strip, foot = 2 * LABEL_PX + 8, LABEL_PX + 6
    canvas_w = tile_w * len(tiles) + 2 * (len(tiles) - 1)
    canvas = Image.new("RGB", (canvas_w + canvas_w % 2, strip + tile_h + foot + (strip + tile_h + foot) % 2), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (tile, (name, mark)) in enumerate(zip(tiles, labels, strict=True)):
        x = i * (tile_w + 2)
        image = Image.fromarray(tile).resize((tile_w, tile_h), Image.Resampling.NEAREST)
        canvas.paste(image, (x, strip))
        text, font = _fit(draw, name, tile_w - 4)
        draw.text((x + 2, 2), text, fill="black", font=font)
        if mark:
            text, font = _fit(draw, mark, tile_w - 4)
            draw.text((x + 2, LABEL_PX + 4), text, fill=(200, 0, 0), font=font)
    text, font = _fit(draw, footer, canvas.width - 4)
    draw.text((2, strip + tile_h + 3), text, fill="black", font=font)
    return canvas


def _uint8(path: object) -> np.ndarray:
    with Image.open(path) as image:  # type: ignore[arg-type]
        return np.asarray(image.convert("RGB"))


def _encode(frames: Sequence[Image.Image], fps: int) -> tuple[bytes, str]:
    import av

    codec = video_codec()
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream(codec, rate=Fraction(fps))
        stream.width, stream.height = frames[0].size
        stream.pix_fmt = "yuv420p"
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_image(image)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue(), codec


def _first_complete_job(frames: Sequence[SavedFrame], models: Sequence[str]) -> list[SavedFrame]:
    """The frames, with every model's output, of the first job that has such frames."""
    for job in dict.fromkeys(f.job for f in frames):
        complete = [f for f in frames if f.job == job and len(f.outputs) == len(models)]
        if complete:
            return complete
    return []


def side_by_side_video(run: RunRecord, *, fps: int = FPS, tagged: bool = False) -> RenderedVideo | None:
    """The video of the first self-reenactment job with samples of every model (None when there is none)."""
    models = sample_models(run, "self")
    frames = _first_complete_job(saved_frames(run, "self", models), models) if models else []
    if not frames:
        return None
    source = _uint8(frames[0].source)
    scale = max(1, -(-MIN_TILE // source.shape[1]))
    labels = _labels(run, models)
    images = []
    for frame in frames:
        reference = _uint8(frame.reference)
        tiles = [source, reference, *[_uint8(frame.outputs[m]) for m in models], reference]
        if any(t.shape != source.shape for t in tiles):
            return None  # a model saved frames of another size: no common canvas
        images.append(_compose(tiles, labels, f"{frame.job}  frame {frame.driver_frame}", scale))
    mp4, codec = _encode(images, fps)
    job = frames[0].job
    random = [m for m in models if run.weights_label(m) == "random"]
    caption = (
        f"Side by side, self-reenactment job {job}{f' of run {run.tag}' if tagged else ''}: source | driver | "
        f"{' | '.join(models)} | ground truth, {len(frames)} frame(s) at {fps} fps ({codec}), in the evaluation space."
    )
    if random:
        caption += f" [RANDOM WEIGHTS]: {', '.join(random)} (written on the frames)."
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", job).strip("-") or "job"
    key = f"{slug if slug.startswith('self') else f'self-{slug}'}{f'-{run.tag}' if tagged else ''}"
    width, height = images[0].size
    return RenderedVideo(key, f"Video: {job}", caption, mp4, len(images), width, height, codec)
