"""Finding the clips to prepare and decoding their frames with PyAV.

Input is a folder searched recursively for ``.mp4`` files or a text file listing clip paths (one per line,
relative to the list's folder or absolute; blank lines and ``#`` comments are ignored). Names follow VoxCeleb2's
``ROOT/idPERSON/VIDEO_ID/00001.mp4``: the clip's grandparent folder is the person, its parent the video, its stem
the clip (utterance). Frames are decoded twice (landmarks, then crops) rather than held in memory, so a long
high-resolution clip costs a second decode, not gigabytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.data.layouts import natural_key
from bench.errors import DataError

__all__ = ["ClipSource", "UnreadableClip", "VideoInfo", "discover_clips", "probe", "read_frames"]

VIDEO_SUFFIXES = (".mp4",)


class UnreadableClip(Exception):
    """A clip that PyAV cannot open or decode; the clip is skipped as ``unreadable``."""


@dataclass(frozen=True)
class ClipSource:
    """One input clip and the names it gets in the prepared data set. ``problem``: why its names cannot be
    used (the clip is then skipped as ``bad name``, recorded in ``skipped.csv``, and the others are prepared)."""

    path: Path
    person: str
    video: str
    clip: str
    relative: Path  # path below the input root (or as listed): where its masks are looked for
    problem: str = ""

    @property
    def key(self) -> str:
        return f"{self.person}/{self.video}/{self.clip}"


@dataclass(frozen=True)
class VideoInfo:
    fps: float | None
    width: int
    height: int
    declared_frames: int  # what the container says; 0 when unknown


def _names(parts: tuple[str, ...], stem: str) -> tuple[str, str]:
    """(person, video) from the folders above a clip: grandparent and parent, or fewer when there are none."""
    folders = parts[:-1]
    video = folders[-1] if folders else stem
    person = folders[-2] if len(folders) >= 2 else video
    return person, video


def _name_problem(label: str, name: str) -> str:
    """Why ``name`` cannot name a person, video or clip folder of the prepared data set ("" when it can)."""
    if not name or "#" in name:
        return f"{label} name {name!r} is empty or contains '#' (FOMM names split on '#'); rename it"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        return f"{label} name {name!r} contains a control character (a newline, a tab); rename it"
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return f"{label} name {name!r} is not valid UTF-8; rename it"
    return ""


def _source(path: Path, relative: Path) -> ClipSource:
    person, video = _names(path.absolute().parts, path.stem)
    labelled = (("person", person), ("video", video), ("clip", path.stem))
    problem = next((text for text in (_name_problem(*pair) for pair in labelled) if text), "")
    return ClipSource(path, person, video, path.stem, relative, problem)


def _listed(list_file: Path) -> list[ClipSource]:
    base = list_file.parent
    clips = []
    for number, line in enumerate(list_file.read_text(encoding="utf-8").splitlines(), 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        listed = Path(text).expanduser()
        path = listed if listed.is_absolute() else base / listed
        if path.suffix.lower() not in VIDEO_SUFFIXES:
            raise DataError(list_file, f"line {number}: {text!r} is not an .mp4 file", "list one clip path per line")
        relative = listed if not listed.is_absolute() else Path(*path.parts[-3:])
        clips.append(_source(path, relative))
    return clips


def discover_clips(videos: Path, exclude: Path | None = None) -> list[ClipSource]:
    """The clips under folder ``videos`` (recursively) or listed in the text file ``videos``, in natural order;
    files under ``exclude`` (the output folder, when it lies inside ``videos``) are not clips."""
    if not videos.exists():
        raise DataError(videos, "input not found", "pass a folder of .mp4 clips or a text file listing them")
    if videos.is_dir():
        # links that lead nowhere (a loop) are kept: the clip is then skipped as unreadable, with the reason
        files = [
            p for p in videos.rglob("*") if (p.is_file() or p.is_symlink()) and p.suffix.lower() in VIDEO_SUFFIXES
        ]
        if exclude is not None:
            outside = exclude.resolve()
            # the folder of each file, resolved (a file that is a symlink loop cannot be resolved itself)
            files = [p for p in files if outside not in (p.parent.resolve(), *p.parent.resolve().parents)]
        clips = [_source(p, p.relative_to(videos)) for p in files]
    else:
        clips = _listed(videos)
    clips.sort(key=lambda c: natural_key(c.key))
    seen: dict[str, Path] = {}
    for clip in clips:
        if clip.key in seen:
            raise DataError(clip.path, f"clip name {clip.key} is also that of {seen[clip.key]}",
                            "clips must be unique by PERSON/VIDEO/CLIP; rename one")
        seen[clip.key] = clip.path
    if not clips:
        raise DataError(videos, "no .mp4 clips found", "pass a folder of VoxCeleb2-style idPERSON/VIDEO/00001.mp4")
    return clips


def _open(path: Path) -> Any:  # av.container.InputContainer; PyAV is imported lazily
    import av

    try:
        return av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as error:
        raise UnreadableClip(f"cannot open ({error})") from error


def probe(path: Path) -> VideoInfo:
    """Frame rate, size and declared frame count of a clip's first video stream."""
    with _open(path) as container:
        if not container.streams.video:
            raise UnreadableClip("no video stream")
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        return VideoInfo(
            fps=float(rate) if rate else None,
            width=int(stream.codec_context.width or 0),
            height=int(stream.codec_context.height or 0),
            declared_frames=int(stream.frames or 0),
        )


def read_frames(path: Path, max_frames: int = 0) -> Iterator[np.ndarray]:
    """Decoded frames as uint8 (H, W, 3) RGB, in order; at most ``max_frames`` (0: all)."""
    import av

    with _open(path) as container:
        if not container.streams.video:
            raise UnreadableClip("no video stream")
        try:
            for index, frame in enumerate(container.decode(video=0)):
                if max_frames and index >= max_frames:
                    return
                yield frame.to_ndarray(format="rgb24")
        except (av.FFmpegError, OSError, ValueError) as error:
            raise UnreadableClip(f"decoding failed ({error})") from error
