"""Discovery of sequences in the two on-disk layouts the field uses.

bi-layer (Zakharov et al.): ``ROOT/{imgs,keypoints,segs}/SPLIT/PERSON/VIDEO/SEQUENCE/FRAME.{jpg,npy,png}``;
keypoints are required (the first 68 rows of an array of pixel (x, y)), segs are optional.

FOMM (Siarohin et al.): ``ROOT/SPLIT/CLIP`` where CLIP is a folder of frames or an ``.mp4`` file. VoxCeleb clip
names ``idPERSON#VIDEO#START#END`` give the person and video; other names are their own person and video.

A sequence or clip that cannot be used (an empty folder, a video that does not open, a symbolic-link loop, a
folder that cannot be listed) is returned with its ``problem`` and no frames: its job fails with that error and
the others run. A missing root or split, or no sequence at all, is an error for the whole data set.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from bench.data.types import FrameRef, SequenceRef
from bench.errors import DataError

__all__ = ["IMAGE_SUFFIXES", "discover_bilayer", "discover_fomm", "mirror_path", "natural_key", "relative_to_root"]

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
VIDEO_SUFFIXES = (".mp4",)


def natural_key(name: str) -> tuple[object, ...]:
    """Sort key that orders ``2`` before ``10`` (frame names are often unpadded numbers)."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


def _entries(path: Path) -> list[Path]:
    """The entries of a folder in natural order; a folder that cannot be listed is a :class:`DataError`."""
    try:
        return sorted(path.iterdir(), key=lambda p: natural_key(p.name))
    except OSError as error:
        problem = f"cannot list the folder ({error.strerror})"
        raise DataError(path, problem, "fix its permissions or remove it") from error


def _broken_link(path: Path) -> bool:
    """A symbolic link that leads nowhere: dangling, or a loop."""
    return path.is_symlink() and not path.exists()


def _sorted_dirs(path: Path) -> list[Path]:
    entries = _entries(path)
    for link in filter(_broken_link, entries):
        logger.warning("%s: symbolic link loop or dangling link; ignored", link)
    return [p for p in entries if p.is_dir()]


def _link_problem(path: Path) -> DataError:
    return DataError(path, "symbolic link loop or dangling link", "fix the link or remove it")


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


def _image_files(folder: Path, what: str) -> list[Path]:
    """The frames of a sequence folder; an empty or unlistable folder is a :class:`DataError` naming it."""
    files = [p for p in _entries(folder) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise DataError(folder, f"{what} has no frames (.jpg/.png)", "remove the empty folder or add its frames")
    return sorted(files, key=lambda p: natural_key(p.stem))


def _bilayer_frames(root: Path, split: str, rel: Path, seq: Path) -> tuple[FrameRef, ...]:
    if _broken_link(seq):
        raise _link_problem(seq)
    segs = root / "segs" / split / rel
    return tuple(
        FrameRef(
            name=f.stem,
            image=f,
            keypoints=root / "keypoints" / split / rel / f"{f.stem}.npy",
            segmentation=_existing(segs / f"{f.stem}.png"),
        )
        for f in _image_files(seq, "sequence")
    )


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
    sequences: list[SequenceRef] = []
    for person in _sorted_dirs(split_imgs):
        for video in _sorted_dirs(person):
            for seq in (p for p in _entries(video) if p.is_dir() or _broken_link(p)):
                ref = SequenceRef(split, person.name, video.name, seq.name, ())
                try:
                    frames = _bilayer_frames(root, split, seq.relative_to(split_imgs), seq)
                except DataError as problem:
                    sequences.append(replace(ref, problem=problem))
                    continue
                sequences.append(replace(ref, frames=frames))
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


def _clip_frames(path: Path) -> tuple[FrameRef, ...]:
    if path.is_dir():
        return tuple(FrameRef(name=f.stem, image=f) for f in _image_files(path, "clip folder"))
    if not path.is_file():
        raise _link_problem(path)
    count = _video_frame_count(path)
    frames: Iterable[FrameRef] = (FrameRef(name=f"{i:05d}", image=path, video_index=i) for i in range(count))
    return tuple(frames)


def _clip(path: Path, split: str) -> SequenceRef:
    person, video, sequence = _clip_names(path.name if path.is_dir() else path.stem)
    ref = SequenceRef(split, person, video, sequence, ())
    try:
        return replace(ref, frames=_clip_frames(path))
    except DataError as problem:
        return replace(ref, problem=problem)


def discover_fomm(root: Path, split: str) -> list[SequenceRef]:
    """All clips of ``split`` in FOMM's layout, sorted by name."""
    _check_root(root)
    split_dir = _split_dir(root, split)
    clips = [p for p in _entries(split_dir) if p.is_dir() or p.suffix.lower() in VIDEO_SUFFIXES or _broken_link(p)]
    if not clips:
        raise DataError(split_dir, "no clips (folders of frames or .mp4 files)", "check the layout")
    return [_clip(p, split) for p in clips]


def relative_to_root(ref: FrameRef, root: Path) -> Path:
    """A frame's file (its image, or its video) relative to the data root."""
    try:
        return ref.image.relative_to(root)
    except ValueError:
        raise DataError(ref.image, f"frame is not under the data root {root}", "pass the data set's root") from None


def mirror_path(ref: FrameRef, root: Path, folder: Path) -> Path:
    """Where a frame generated for ``ref`` goes in a folder that mirrors the data set (``run --save-outputs``,
    read by ``bilayer-bench score``): the ground truth's relative path with ``.png``; a video's frames in a folder
    of the video's name, named by the frames' names."""
    relative = relative_to_root(ref, root)
    if ref.video_index is not None:
        return folder / relative.with_suffix("") / f"{ref.name}.png"
    return folder / relative.with_suffix(".png")
