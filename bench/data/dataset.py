"""A data set opened from a :class:`~bench.config.DataConfig`: its sequences and validated frame loading."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.config import DataConfig
from bench.data.io import read_image, read_keypoints, read_segmentation, read_video_frames
from bench.data.layouts import discover_bilayer, discover_fomm
from bench.data.select import select_sequences
from bench.data.types import FrameData, FrameRef, SequenceRef
from bench.errors import DataError

__all__ = ["Dataset", "open_dataset"]


@dataclass(frozen=True)
class Dataset:
    """``sequences``: the usable ones; ``unusable``: those discovery found unusable, each with its ``problem``
    (they get a job that fails with it, so that ``failures.csv`` lists them)."""

    root: Path
    layout: str
    split: str
    sequences: tuple[SequenceRef, ...]
    embedded_default: bool = False
    unusable: tuple[SequenceRef, ...] = ()

    @property
    def num_frames(self) -> int:
        return sum(len(s.frames) for s in self.sequences)

    def listing_sha256(self) -> str:
        """A fingerprint of any data root: the sha256 of the relative path and size of every file the sequences
        read (frames, videos, keypoints, masks), without reading their contents (a re-encoded or replaced frame of
        another size changes it; one of the same size does not)."""
        digest = hashlib.sha256()
        seen: set[Path] = set()
        for sequence in self.sequences:
            for frame in sequence.frames:
                for path in (frame.image, frame.keypoints, frame.segmentation):
                    if path is None or path in seen:
                        continue
                    seen.add(path)
                    try:
                        relative, size = path.relative_to(self.root).as_posix(), path.stat().st_size
                    except (ValueError, OSError):
                        relative, size = str(path), -1
                    digest.update(f"{relative}\t{size}\n".encode("utf-8", "surrogateescape"))
        return digest.hexdigest()

    def load(self, sequence: SequenceRef, indices: Sequence[int]) -> list[FrameData]:
        """Decode and validate the frames ``indices`` of ``sequence``; all must share one size."""
        if sequence.problem is not None:
            raise sequence.problem
        videos: dict[Path, list[np.ndarray]] = {}
        frames = [self._load_frame(sequence.frames[i], videos) for i in indices]
        first = frames[0]
        for frame in frames[1:]:
            if frame.size != first.size:
                raise DataError(
                    frame.ref.image,
                    f"frame is {frame.size[1]}x{frame.size[0]} but {first.ref.image.name} of the same sequence is "
                    f"{first.size[1]}x{first.size[0]}",
                    "all frames of a sequence must have one size",
                )
        return frames

    def _load_frame(self, ref: FrameRef, videos: dict[Path, list[np.ndarray]]) -> FrameData:
        if ref.video_index is not None:
            if ref.image not in videos:
                videos[ref.image] = read_video_frames(ref.image)
            decoded = videos[ref.image]
            if ref.video_index >= len(decoded):
                raise DataError(ref.image, f"video has {len(decoded)} frames, frame {ref.video_index} requested")
            image = decoded[ref.video_index]
        else:
            image = read_image(ref.image)
        size = (int(image.shape[0]), int(image.shape[1]))
        landmarks = read_keypoints(ref.keypoints, ref.image, size) if self.layout == "bilayer" else None
        segmentation = read_segmentation(ref.segmentation, size) if ref.segmentation is not None else None
        return FrameData(ref=ref, image=image, landmarks=landmarks, segmentation=segmentation)


def open_dataset(config: DataConfig, *, progress: bool = False) -> Dataset:
    """Open the configured data set; an empty root means the embedded default (generated on first use)."""
    if config.is_embedded_default:
        from bench.data.default import ensure_default_dataset

        root = ensure_default_dataset(progress=progress)
        sequences = discover_bilayer(root, config.split)
        embedded = True
    else:
        root = Path(config.root).expanduser()
        discover = discover_bilayer if config.layout == "bilayer" else discover_fomm
        sequences = discover(root, config.split)
        embedded = False
    sequences = select_sequences(sequences, config.max_sequences, config.sequence_list)
    _check_unique(sequences)
    layout = "bilayer" if embedded else config.layout
    usable = tuple(s for s in sequences if s.problem is None)
    unusable = tuple(s for s in sequences if s.problem is not None)
    return Dataset(root, layout, config.split, usable, embedded, unusable)


def _where(sequence: SequenceRef) -> Path:
    """The folder (or video file) of a sequence."""
    if sequence.problem is not None or not sequence.frames:
        return sequence.problem.path if sequence.problem is not None else Path(sequence.id)
    first = sequence.frames[0]
    return first.image if first.video_index is not None else first.image.parent


def _check_unique(sequences: Sequence[SequenceRef]) -> None:
    """Two sequences with one id would share their jobs and records: an error naming both."""
    seen: dict[str, SequenceRef] = {}
    for sequence in sequences:
        other = seen.setdefault(sequence.id, sequence)
        if other is not sequence:
            raise DataError(
                _where(sequence),
                f"sequence {sequence.id!r} has the same name as {_where(other)} (FOMM layout: a folder and a "
                "video of one name, or a clip named PERSON#VIDEO#SEQUENCE like another's derived name)",
                "rename one of them",
            )
