"""``prepare_clips``: VoxCeleb2-style clips -> sequences in the bi-layer and FOMM layouts, resumably.

Per clip: decode and fit landmarks on every frame (detector on a subsample, :mod:`bench.prepare.faces`); skip the
clip when it cannot be decoded (``unreadable``), has fewer than ``min_frames`` frames (``too short``) or fewer
than ``min_frames`` frames with a face (``no face``); otherwise choose the crop squares
(:mod:`bench.prepare.crop`), decode again, write the crops, landmarks and masks into a staging folder and commit
it (:mod:`bench.prepare.writer`). Frames without a face are dropped from their sequence and counted. A clip whose
record matches the source file, the options and its outputs on disk is not redone.
"""

from __future__ import annotations

import importlib.metadata
import logging
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from bench.environment import git_revision, utc_now
from bench.prepare.config import PrepareConfig
from bench.prepare.crop import SquareBox, crop_image, crop_landmarks, crop_mask, sequence_boxes
from bench.prepare.faces import FaceBackend, FaceTracker, landmarks_identity, load_backend
from bench.prepare.video import ClipSource, UnreadableClip, discover_clips, probe, read_frames
from bench.prepare.writer import (
    SKIPPED_NAME,
    ClipRecord,
    SequenceRecord,
    StagedClip,
    clean_pending,
    clear_staging,
    commit_record,
    read_record,
    read_records,
    summarise,
    verify_record,
    write_manifest,
)
from bench.weights import WeightsLocations, file_sha256

__all__ = ["PrepareSummary", "plan_sequences", "prepare_clips"]

log = logging.getLogger(__name__)

SCHEMA = "bilayer-bench.prepare"
SCHEMA_VERSION = 1


def _segmentation_note(config: PrepareConfig) -> dict[str, Any]:
    """Where the masks of segs/ come from, for MANIFEST.json."""
    if config.masks:
        return {"source": "given", "folder": str(Path(config.masks).expanduser()), "note": "cropped like the frames"}
    if not config.segmenter:
        return {"source": "none", "note": "no segs/ (--no-segmenter); the bench computes masks at run time"}
    from bench.masks import segmenter_info

    note = "run on each written crop; probabilities stored as 8-bit PNG"
    return {"source": "segmenter", **segmenter_info().provenance(), "note": note}


class UnusableMask(Exception):
    """A mask given with ``masks`` is missing, unreadable or of another size than its frame."""


@dataclass(frozen=True)
class PrepareSummary:
    """What a ``prepare`` run left on disk (all clips under OUT_ROOT) and what it did itself."""

    out_root: Path
    manifest: Path
    skipped_csv: Path
    processed: int  # clips prepared or skipped by this run
    reused: int  # clips found done and verified, not redone
    redone: int  # clips whose interrupted commit was cleaned up and redone
    done: int
    skipped: tuple[tuple[str, int], ...]  # (reason, clips)
    sequences: int
    frames_kept: int
    frames_dropped: int
    fps: tuple[float, ...]  # frames per second (decoded frames / wall time) of each clip this run prepared

    @property
    def median_fps(self) -> float | None:
        return statistics.median(self.fps) if self.fps else None


@dataclass(frozen=True)
class _Plan:
    record: SequenceRecord
    indices: tuple[int, ...]
    boxes: tuple[SquareBox, ...]


@dataclass(frozen=True)
class _Run:
    config: PrepareConfig
    out_root: Path
    backend: FaceBackend
    landmarks: dict[str, Any]
    digest: str
    suite_version: str


def plan_sequences(
    clip: ClipSource, landmarks: Sequence[np.ndarray | None], config: PrepareConfig
) -> tuple[list[_Plan], int, int]:
    """The sequences to write, frames without a face inside them, frames of chunks dropped for too few faces."""
    total = len(landmarks)
    width = max(5, len(str(total - 1)))
    step = config.chunk_frames or total
    plans, no_face, dropped = [], 0, 0
    for start in range(0, total, step):
        chunk = range(start, min(start + step, total))
        faces = [i for i in chunk if landmarks[i] is not None]
        if len(faces) < config.min_frames:
            dropped += len(chunk)
            continue
        no_face += len(chunk) - len(faces)
        boxes = sequence_boxes([landmarks[i] for i in faces], config.crop)  # type: ignore[misc]
        name = f"{clip.clip}_{start:0{width}d}" if config.chunk_frames else clip.clip
        record = SequenceRecord(
            name=name,
            fomm_name=f"{clip.person}#{clip.video}#{clip.clip}#{faces[0]:0{width}d}#{faces[-1]:0{width}d}",
            frames=tuple(f"{i:0{width}d}" for i in faces),
            boxes=tuple((b.x0, b.y0, b.side) for b in boxes),
        )
        plans.append(_Plan(record, tuple(faces), tuple(boxes)))
    return plans, no_face, dropped


def _mask(
    clip: ClipSource, config: PrepareConfig, frame: str, shape: tuple[int, ...], box: SquareBox, crop: np.ndarray
):
    if not config.masks:
        if not config.segmenter:
            return None
        from bench.masks import load_segmenter

        probability = load_segmenter()(crop[None])[0]
        return np.clip(np.rint(probability * 255.0), 0, 255).astype(np.uint8)
    path = Path(config.masks).expanduser() / clip.relative.with_suffix("") / f"{frame}.png"
    try:
        with Image.open(path) as image:
            gray = np.asarray(image.convert("L"))
    except (OSError, UnidentifiedImageError) as error:
        raise UnusableMask(f"mask {path} cannot be read ({error})") from error
    if gray.shape != tuple(shape[:2]):
        raise UnusableMask(f"mask {path} is {gray.shape[1]}x{gray.shape[0]}, its frame {shape[1]}x{shape[0]}")
    return crop_mask(gray, box, config.crop.size)


def _write(
    clip: ClipSource, run: _Run, landmarks: Sequence[np.ndarray | None], plans: list[_Plan], fps: float | None
) -> tuple[StagedClip, tuple]:
    """Decode the clip again and stage the crops of every planned frame."""
    config, size = run.config, run.config.crop.size
    wanted = {index: (plan, k) for plan in plans for k, index in enumerate(plan.indices)}
    staged = StagedClip(run.out_root, clip.key, config, fps)
    try:
        count = 0
        for index, image in enumerate(read_frames(clip.path, config.max_frames)):
            count += 1
            if index not in wanted:
                continue
            plan, k = wanted[index]
            box, frame = plan.boxes[k], plan.record.frames[k]
            points = crop_landmarks(landmarks[index], box, size)  # type: ignore[arg-type]
            crop = crop_image(image, box, size)
            mask = _mask(clip, config, frame, image.shape, box, crop)
            staged.add(clip.person, clip.video, plan.record, frame, crop, points, mask)
        if count != len(landmarks):
            raise UnreadableClip(f"the second decode gave {count} frames, the first {len(landmarks)}")
        return staged, staged.close()
    except BaseException:
        staged.discard()
        raise


def _template(clip: ClipSource, run: _Run) -> ClipRecord:
    return ClipRecord(
        key=clip.key, source=str(clip.path), status="skipped", reason="", detail="", source_bytes=-1,
        source_mtime_ns=-1, sha256=None, fps=None, frames_total=0, frames_kept=0, frames_no_face=0,
        frames_in_dropped_chunks=0, detections=0, seconds=0.0, landmarks=run.landmarks, config_digest=run.digest,
        suite_version=run.suite_version, prepared=utc_now(),
    )  # fmt: skip


def _process(clip: ClipSource, run: _Run) -> tuple[ClipRecord, StagedClip | None]:
    """Prepare one clip: its record and, when sequences were written, the staged outputs to commit."""
    start = time.perf_counter()
    record = _template(clip, run)
    if clip.problem:
        return replace(record, reason="bad name", detail=clip.problem), None
    try:
        stat = clip.path.stat()
    except OSError as error:
        return replace(record, reason="unreadable", detail=f"cannot read the file ({error.strerror})"), None
    record = replace(record, source_bytes=stat.st_size, source_mtime_ns=stat.st_mtime_ns)
    record = replace(record, sha256=file_sha256(clip.path))
    config, tracker = run.config, FaceTracker(run.backend, run.config.detect.detect_every, run.config.detect.min_iou)
    try:
        info = probe(clip.path)
        landmarks = tracker.run(read_frames(clip.path, config.max_frames))
    except UnreadableClip as error:
        return replace(record, reason="unreadable", detail=str(error), detections=tracker.detections), None
    record = replace(record, fps=info.fps, frames_total=len(landmarks), detections=tracker.detections)
    if not landmarks:
        return replace(record, reason="unreadable", detail="no frame could be decoded"), None
    if len(landmarks) < config.min_frames:
        detail = f"{len(landmarks)} frames < min_frames {config.min_frames}"
        return replace(record, reason="too short", detail=detail), None
    plans, no_face, dropped = plan_sequences(clip, landmarks, config)
    faces = sum(points is not None for points in landmarks)
    if not plans:
        detail = f"a face in {faces} of {len(landmarks)} frames; min_frames {config.min_frames}"
        return replace(record, reason="no face", detail=detail, frames_in_dropped_chunks=dropped), None
    try:
        staged, outputs = _write(clip, run, landmarks, plans, info.fps)
    except UnreadableClip as error:
        return replace(record, reason="unreadable", detail=str(error)), None
    except UnusableMask as error:
        return replace(record, reason="mask unusable", detail=str(error)), None
    kept = sum(len(p.indices) for p in plans)
    record = replace(
        record, status="done", sequences=tuple(p.record for p in plans), outputs=outputs, frames_kept=kept,
        frames_no_face=no_face, frames_in_dropped_chunks=dropped, seconds=time.perf_counter() - start,
    )  # fmt: skip
    return record, staged


def _header(videos: Path, run: _Run) -> dict[str, Any]:
    versions = {}
    for name in ("bilayer-bench", "av", "dlib-bin", "face-alignment", "numpy", "pillow"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "suite_version": run.suite_version,
        "created": utc_now(),
        "git": git_revision(),
        "versions": versions,
        "input": str(videos),
        "config": run.config.to_dict(),
        "config_digest": run.digest,
        "landmarks": run.landmarks,
        "crop_rule": "bi-layer per-frame square (bilayer.preprocess.crop_box) x scale; mode clip: the square "
        "around the union of a sequence's per-frame squares; landmarks mapped into the crop, not re-detected",
        "segmentation": _segmentation_note(run.config),
        "layouts": list(run.config.layouts),
    }


def _open_run(out_root: Path, config: PrepareConfig, locations: WeightsLocations | None) -> _Run:
    where = locations if locations is not None else WeightsLocations.from_environment()
    backend = load_backend(config.detect, where)
    provenance = backend.provenance()
    digest = config.digest(landmarks_identity(provenance))
    version = importlib.metadata.version("bilayer-bench")
    return _Run(config, out_root, backend, provenance, digest, version)


_worker_run: _Run | None = None  # the run of a worker process (``workers > 1``)


def _start_worker(out_root: Path, config: PrepareConfig, locations: WeightsLocations | None) -> None:
    global _worker_run
    _worker_run = _open_run(out_root, config, locations)


def _process_in_worker(clip: ClipSource) -> tuple[ClipRecord, StagedClip | None]:
    assert _worker_run is not None, "worker started without _start_worker"
    return _process(clip, _worker_run)


def _results(clips: list[ClipSource], run: _Run, workers: int, locations: WeightsLocations | None):
    """(record, staged) per clip: in this process, or from ``workers`` processes (spawned: CUDA- and fork-safe)."""
    if workers <= 1 or len(clips) <= 1:
        yield from (_process(clip, run) for clip in clips)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    pool = ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(run.out_root, run.config, locations),
    )
    try:
        futures = [pool.submit(_process_in_worker, clip) for clip in clips]
        yield from (future.result() for future in as_completed(futures))
    finally:  # on an error or an interrupt, clips not started are dropped; their staging is cleared next run
        pool.shutdown(wait=True, cancel_futures=True)


def prepare_clips(
    videos: Path,
    out_root: Path,
    config: PrepareConfig | None = None,
    *,
    locations: WeightsLocations | None = None,
    progress: bool = True,
    workers: int = 1,
) -> PrepareSummary:
    """Prepare every clip of ``videos`` (folder or list file) into ``out_root``; clips done before are kept.

    ``workers`` > 1 prepares clips in that many processes (each loads the landmark models); this process commits.
    """
    config = config or PrepareConfig()
    out_root = Path(out_root)
    clips = discover_clips(Path(videos), exclude=out_root)
    out_root.mkdir(parents=True, exist_ok=True)
    run = _open_run(out_root, config, locations)
    clear_staging(out_root)
    todo, reused, redone = [], 0, 0
    for clip in clips:
        redone += clean_pending(out_root, clip.key)
        previous = read_record(out_root, clip.key)
        if previous is not None and verify_record(out_root, previous, clip.path, run.digest):
            reused += 1
        else:
            todo.append(clip)
    processed = 0
    fps: list[float] = []
    with tqdm(total=len(todo), desc="prepare", unit="clip", disable=None if progress else True) as bar:
        for record, staged in _results(todo, run, workers, locations):
            commit_record(out_root, record, staged)
            processed += 1
            if record.status == "done" and record.seconds > 0:
                fps.append(record.frames_total / record.seconds)
            else:
                log.info("skipped %s: %s (%s)", record.key, record.reason, record.detail)
            bar.update()
            bar.set_postfix(reused=reused, skipped=processed - len(fps))
    records = read_records(out_root)
    manifest = write_manifest(out_root, records, _header(Path(videos), run))
    totals = summarise(records)
    return PrepareSummary(
        out_root, manifest, out_root / SKIPPED_NAME, processed, reused, redone, totals["done"],
        tuple(totals["skipped"].items()), totals["sequences"], totals["frames_kept"], totals["frames_dropped"],
        tuple(fps),
    )  # fmt: skip
