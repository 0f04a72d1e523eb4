"""Discovery of sequences in the two on-disk layouts the field uses.

bi-layer (Zakharov et al.): ``ROOT/{imgs,keypoints,segs}/SPLIT/PERSON/VIDEO/SEQUENCE/FRAME.{jpg,npy,png}``;
keypoints are required (the first 68 rows of an array of pixel (x, y)), segs are optional.

FOMM (Siarohin et al.): ``ROOT/SPLIT/CLIP`` where CLIP is a folder of frames or an ``.mp4`` file. VoxCeleb clip
names ``idPERSON#VIDEO#START#END`` give the person and video; other names are their own person and video.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from bench.data.types import FrameRef, SequenceRef
from bench.errors import DataError

__all__ = ["IMAGE_SUFFIXES", "discover_bilayer", "discover_fomm", "natural_key"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
VIDEO_SUFFIXES = (".mp4",)


def natural_key(name: str) -> tuple[object, ...]:
    """Sort key that orders ``2`` before ``10`` (frame names are often unpadded numbers)."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


def _sorted_dirs(path: Path) -> list[Path]:
    return sorted((p for p in path.iterdir() if p.is_dir()), key=lambda p: natural_key(p.name))


def _check_root(root: Path) -> None:
    if not root.exists():
        raise DataError(root, "data root does not exist", "pass --data with an existing folder")
    if not root.is_dir():
        raise DataError(root, "data root is not a folder", "pass --data with a folder")


def _split_dir(parent: Path, split: str) -> Path:
    path = parent / split
    if not path.is_dir():
        available = ", ".join(p.name for p in _sorted_dirs(parent)) or "none"
        raise DataError(path, f"split {split!r} does not exist (splits here: {available})", "pass --split NAME")
    return path


def _image_files(folder: Path) -> list[Path]:
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    return sorted(files, key=lambda p: natural_key(p.stem))


def discover_bilayer(root: Path, split: str) -> list[SequenceRef]:
    """All sequences of ``split`` in the bi-layer layout, sorted by person, video, sequence."""
    _check_root(root)
    imgs = root / "imgs"
    if not imgs.is_dir():
        raise DataError(
            root,
            "no imgs/ folder, so not the bi-layer layout ROOT/{imgs,keypoints,segs}/SPLIT/PERSON/VIDEO/SEQUENCE/",
            "use --layout fomm for a folder of clips",
        )
    split_imgs = _split_dir(imgs, split)
    segs_root = root / "segs" / split
    sequences: list[SequenceRef] = []
    for person in _sorted_dirs(split_imgs):
        for video in _sorted_dirs(person):
            for seq in _sorted_dirs(video):
                rel = seq.relative_to(split_imgs)
                files = _image_files(seq)
                if not files:
                    raise DataError(seq, "sequence has no frames (.jpg/.png)", "remove the empty folder")
                frames = tuple(
                    FrameRef(
                        name=f.stem,
                        image=f,
                        keypoints=root / "keypoints" / split / rel / f"{f.stem}.npy",
                        segmentation=_existing(segs_root / rel / f"{f.stem}.png"),
                    )
                    for f in files
                )
                sequences.append(SequenceRef(split, person.name, video.name, seq.name, frames))
    if not sequences:
        raise DataError(split_imgs, "no sequences (expected PERSON/VIDEO/SEQUENCE/ folders)", "check the layout")
    return sequences


def _existing(path: Path) -> Path | None:
    return path if path.is_file() else None


def _clip_names(name: str) -> tuple[str, str, str]:
    parts = name.split("#")
    if len(parts) >= 3:
        return parts[0], parts[1], "#".join(parts[2:])
    return name, name, "0"


def _video_frame_count(path: Path) -> int:
    import av  # deferred: only video clips need PyAV

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            count = stream.frames or sum(1 for _ in container.decode(stream))
    except (av.FFmpegError, IndexError, OSError) as error:
        raise DataError(path, f"cannot open video ({error})", "re-encode the clip (H.264 .mp4) or remove it") from error
    if count == 0:
        raise DataError(path, "video has no frames", "remove the clip")
    return count


def _clip(path: Path, split: str) -> SequenceRef:
    person, video, sequence = _clip_names(path.stem if path.is_file() else path.name)
    if path.is_file():
        count = _video_frame_count(path)
        frames: Iterable[FrameRef] = (FrameRef(name=f"{i:05d}", image=path, video_index=i) for i in range(count))
    else:
        files = _image_files(path)
        if not files:
            raise DataError(path, "clip folder has no frames (.jpg/.png)", "remove the empty folder")
        frames = (FrameRef(name=f.stem, image=f) for f in files)
    return SequenceRef(split, person, video, sequence, tuple(frames))


def discover_fomm(root: Path, split: str) -> list[SequenceRef]:
    """All clips of ``split`` in FOMM's layout, sorted by name."""
    _check_root(root)
    split_dir = _split_dir(root, split)
    entries = sorted(split_dir.iterdir(), key=lambda p: natural_key(p.name))
    clips = [p for p in entries if p.is_dir() or p.suffix.lower() in VIDEO_SUFFIXES]
    if not clips:
        raise DataError(split_dir, "no clips (folders of frames or .mp4 files)", "check the layout")
    return [_clip(p, split) for p in clips]
