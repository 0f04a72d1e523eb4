"""Writing a prepared clip atomically, per-clip records for resuming, and the data set's manifest.

Layouts under OUT_ROOT (both may be written side by side):

* bi-layer: ``imgs/SPLIT/PERSON/VIDEO/SEQ/FRAME.jpg`` (quality 95, 4:4:4), ``keypoints/.../FRAME.npy`` (float32
  (68, 2) pixel x, y in the crop), ``segs/.../FRAME.png`` (given masks, or the segmenter's by default);
* FOMM: ``SPLIT/PERSON#VIDEO#CLIP#START#END/FRAME.png`` or ``SPLIT/PERSON#VIDEO#CLIP#START#END.mp4``, FOMM's
  VoxCeleb name ``idPERSON#VIDEO#START#END`` with the utterance (``00001``) inserted: START and END are frame
  indices of the utterance clip, which would repeat between utterances of one video. ``bench.data`` reads
  PERSON and VIDEO from the first two fields.

A clip is written into ``.prepare/staging/KEY/`` and renamed into place; ``.prepare/clips/KEY.json``, the clip's
record, is written last (atomically: :func:`bench.atomic.atomic_write`). A ``KEY.pending.json`` lists the paths
being placed while a commit is under way: a run that finds one removes those paths and redoes the clip.
``MANIFEST.json`` and ``skipped.csv`` are rebuilt from all records at the end of every run. One ``prepare`` per
OUT_ROOT at a time.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import os
import shutil
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image

from bench.atomic import atomic_write
from bench.prepare.config import PrepareConfig

__all__ = [
    "MANIFEST_NAME",
    "SKIPPED_NAME",
    "ClipRecord",
    "OutputEntry",
    "SequenceRecord",
    "StagedClip",
    "clean_pending",
    "clear_staging",
    "commit_record",
    "read_record",
    "read_records",
    "summarise",
    "verify_record",
    "write_json_atomic",
    "write_manifest",
    "write_skipped_csv",
]

STATE_DIR = ".prepare"
MANIFEST_NAME = "MANIFEST.json"
SKIPPED_NAME = "skipped.csv"


@dataclass(frozen=True)
class OutputEntry:
    """A sequence folder or video file written for a clip, with what verifies it on resume."""

    path: str  # relative to OUT_ROOT
    files: int
    bytes: int


@dataclass(frozen=True)
class SequenceRecord:
    name: str  # bi-layer sequence folder
    fomm_name: str  # FOMM clip name
    frames: tuple[str, ...]  # frame names (source frame index, zero-padded)
    boxes: tuple[tuple[int, int, int], ...]  # crop square per frame: x0, y0, side in source pixels


@dataclass(frozen=True)
class ClipRecord:
    """What happened to one clip: its provenance, the sequences written or the reason it was skipped."""

    key: str
    source: str
    status: Literal["done", "skipped"]
    reason: str  # "" when done; "unreadable", "too short", "no face" or "mask missing"
    detail: str
    source_bytes: int
    source_mtime_ns: int
    sha256: str | None
    fps: float | None
    frames_total: int
    frames_kept: int
    frames_no_face: int  # in written sequences
    frames_in_dropped_chunks: int  # chunks with fewer than min_frames faces
    detections: int
    seconds: float
    landmarks: dict[str, Any]
    config_digest: str
    suite_version: str
    prepared: str
    sequences: tuple[SequenceRecord, ...] = ()
    outputs: tuple[OutputEntry, ...] = ()

    @property
    def frames_dropped(self) -> int:
        return self.frames_no_face + self.frames_in_dropped_chunks

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "frames_dropped": self.frames_dropped}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClipRecord:
        values = {f.name: data[f.name] for f in dataclasses.fields(cls)}
        values["sequences"] = tuple(
            SequenceRecord(s["name"], s["fomm_name"], tuple(s["frames"]), tuple(tuple(b) for b in s["boxes"]))
            for s in data["sequences"]
        )
        values["outputs"] = tuple(OutputEntry(**o) for o in data["outputs"])
        return cls(**values)


def write_json_atomic(path: Path, data: Any) -> None:
    """``data`` as JSON (keys sorted), through the suite's one atomic writer (:func:`bench.atomic.atomic_write`)."""
    atomic_write(path, json.dumps(data, indent=1, sort_keys=True))


def _record_path(out_root: Path, key: str) -> Path:
    return out_root / STATE_DIR / "clips" / f"{key}.json"


def _pending_path(out_root: Path, key: str) -> Path:
    return out_root / STATE_DIR / "clips" / f"{key}.pending.json"


def read_record(out_root: Path, key: str) -> ClipRecord | None:
    """The clip's record, or None when there is none or it cannot be read (the clip is then redone)."""
    try:
        return ClipRecord.from_json(json.loads(_record_path(out_root, key).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def read_records(out_root: Path) -> list[ClipRecord]:
    folder = out_root / STATE_DIR / "clips"
    files = sorted(p for p in folder.rglob("*.json") if not p.name.endswith(".pending.json")) if folder.is_dir() else []
    records = [read_record(out_root, str(p.relative_to(folder).with_suffix(""))) for p in files]
    return [r for r in records if r is not None]


def _stats(path: Path) -> tuple[int, int]:
    if path.is_file():
        return 1, path.stat().st_size
    files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else []
    return len(files), sum(p.stat().st_size for p in files)


def verify_record(out_root: Path, record: ClipRecord, source: Path, digest: str) -> bool:
    """True when the record was made from this very source file (same size and modification time) under this
    config, and its outputs are intact. A source that has gone (an unmounted disk) keeps what was made from it."""
    if record.config_digest != digest or record.source != str(source):
        return False
    try:
        stat = source.stat()
    except OSError:
        return record.source_bytes == -1 if record.status == "skipped" else _outputs_intact(out_root, record)
    if (record.source_bytes, record.source_mtime_ns) != (stat.st_size, stat.st_mtime_ns):
        return False
    return _outputs_intact(out_root, record)


def _outputs_intact(out_root: Path, record: ClipRecord) -> bool:
    return all(_stats(out_root / o.path) == (o.files, o.bytes) for o in record.outputs)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def clean_pending(out_root: Path, key: str) -> bool:
    """Remove what an interrupted commit of ``key`` may have left in place; True when there was such a commit."""
    pending = _pending_path(out_root, key)
    if not pending.is_file():
        return False
    try:
        paths = json.loads(pending.read_text(encoding="utf-8"))
    except ValueError:
        paths = []
    for relative in paths:
        _remove(out_root / relative)
    _remove(_record_path(out_root, key))
    pending.unlink()
    return True


def commit_record(out_root: Path, record: ClipRecord, staged: StagedClip | None = None) -> None:
    """Replace the clip's previous outputs by ``staged``'s (if any) and write its record last."""
    previous = read_record(out_root, record.key)
    old = [o.path for o in previous.outputs] if previous is not None else []
    new = [o.path for o in record.outputs]
    pending = _pending_path(out_root, record.key)
    write_json_atomic(pending, sorted(set(old) | set(new)))
    _remove(_record_path(out_root, record.key))
    for relative in [*old, *new]:
        _remove(out_root / relative)
    if staged is not None:
        for relative in new:
            target = out_root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged.root / relative, target)
        staged.discard()
    write_json_atomic(_record_path(out_root, record.key), record.to_json())
    pending.unlink()


class _Mp4:
    """An H.264 writer for one FOMM clip."""

    def __init__(self, path: Path, size: int, fps: float | None) -> None:
        import av

        path.parent.mkdir(parents=True, exist_ok=True)
        self.container = av.open(str(path), mode="w")
        rate = Fraction(fps).limit_denominator(1001) if fps else Fraction(25)
        self.stream = self.container.add_stream("libx264", rate=rate)
        self.stream.width = self.stream.height = size
        self.stream.pix_fmt = "yuv420p"
        self.stream.options = {"crf": "18"}

    def add(self, image: np.ndarray) -> None:
        import av

        for packet in self.stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
            self.container.mux(packet)

    def close(self) -> None:
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()


class StagedClip:
    """The outputs of one clip, written under ``.prepare/staging/KEY/`` with the final relative paths."""

    def __init__(self, out_root: Path, key: str, config: PrepareConfig, fps: float | None) -> None:
        self.root = out_root / STATE_DIR / "staging" / key
        _remove(self.root)
        self.root.mkdir(parents=True)
        self.config = config
        self.fps = fps
        self._videos: dict[str, _Mp4] = {}
        self._paths: dict[str, None] = {}

    def _sequence_paths(self, person: str, video: str, sequence: SequenceRecord) -> list[str]:
        split = self.config.split
        paths = []
        if "bilayer" in self.config.layouts:
            with_segs = bool(self.config.masks) or self.config.segmenter
            kinds = ("imgs", "keypoints", "segs") if with_segs else ("imgs", "keypoints")
            paths += [f"{kind}/{split}/{person}/{video}/{sequence.name}" for kind in kinds]
        if "fomm" in self.config.layouts:
            suffix = ".mp4" if self.config.fomm_format == "mp4" else ""
            paths.append(f"{split}/{sequence.fomm_name}{suffix}")
        return paths

    def add(
        self,
        person: str,
        video: str,
        sequence: SequenceRecord,
        frame: str,
        image: np.ndarray,
        points: np.ndarray,
        mask: np.ndarray | None,
    ) -> None:
        """Write one cropped frame, its landmarks and (when masks are given) its mask in every layout."""
        paths = self._sequence_paths(person, video, sequence)
        self._paths.update(dict.fromkeys(paths))
        for relative in paths:
            folder = self.root / relative
            if relative.startswith("imgs/"):
                folder.mkdir(parents=True, exist_ok=True)
                Image.fromarray(image).save(folder / f"{frame}.jpg", quality=self.config.jpeg_quality, subsampling=0)
            elif relative.startswith("keypoints/"):
                folder.mkdir(parents=True, exist_ok=True)
                np.save(folder / f"{frame}.npy", points.astype(np.float32))
            elif relative.startswith("segs/"):
                folder.mkdir(parents=True, exist_ok=True)
                assert mask is not None
                Image.fromarray(mask).save(folder / f"{frame}.png")
            elif relative.endswith(".mp4"):
                if relative not in self._videos:
                    self._videos[relative] = _Mp4(folder, image.shape[0], self.fps)
                self._videos[relative].add(image)
            else:
                folder.mkdir(parents=True, exist_ok=True)
                Image.fromarray(image).save(folder / f"{frame}.png", compress_level=1)

    def close(self) -> tuple[OutputEntry, ...]:
        """Finish the videos; the written outputs with their file counts and sizes."""
        for writer in self._videos.values():
            writer.close()
        self._videos.clear()
        return tuple(OutputEntry(p, *_stats(self.root / p)) for p in self._paths)

    def discard(self) -> None:
        for writer in self._videos.values():
            with contextlib.suppress(Exception):  # best effort: an error is already propagating
                writer.container.close()
        self._videos.clear()
        _remove(self.root)


def write_skipped_csv(path: Path, records: list[ClipRecord]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["clip", "source", "reason", "detail", "frames_total"])
    for r in records:
        if r.status == "skipped":
            writer.writerow([r.key, r.source, r.reason, r.detail, r.frames_total])
    atomic_write(path, buffer.getvalue())  # neutralises spreadsheet formulas in names


def clear_staging(out_root: Path) -> None:
    """Remove what crashed runs left in the staging folder (their clips have no record and are redone)."""
    _remove(out_root / STATE_DIR / "staging")


def summarise(records: list[ClipRecord]) -> dict[str, Any]:
    done = [r for r in records if r.status == "done"]
    reasons: dict[str, int] = {}
    for r in records:
        if r.status == "skipped":
            reasons[r.reason] = reasons.get(r.reason, 0) + 1
    return {
        "clips": len(records),
        "done": len(done),
        "skipped": dict(sorted(reasons.items())),
        "sequences": sum(len(r.sequences) for r in done),
        "frames_total": sum(r.frames_total for r in records),
        "frames_kept": sum(r.frames_kept for r in done),
        "frames_dropped": sum(r.frames_dropped for r in done),
    }


def write_manifest(out_root: Path, records: list[ClipRecord], header: dict[str, Any]) -> Path:
    """``MANIFEST.json`` (every record on disk, done and skipped) and ``skipped.csv``; returns the manifest."""
    manifest = out_root / MANIFEST_NAME
    write_json_atomic(
        manifest,
        {
            **header,
            "summary": summarise(records),
            "clips": [r.to_json() for r in records if r.status == "done"],
            "skipped": [r.to_json() for r in records if r.status == "skipped"],
        },
    )
    write_skipped_csv(out_root / SKIPPED_NAME, records)
    return manifest
