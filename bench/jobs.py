"""One job of a run: every model animates one source with one driving sequence, and is scored in the run's space.

The frames of a job are decoded once (:class:`JobFrames`): the models' inputs, and the ground truth (or, in
cross-reenactment, the driving frames and the source as the identity reference) mapped into the evaluation space
(:mod:`bench.space`). Each model's output goes through the same mapping before any metric sees it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from bench.config import RunConfig
from bench.data.layouts import mirror_path
from bench.errors import ModelOutputError
from bench.metrics.evaluators import BuiltMetric
from bench.models import Frames, LoadedModel
from bench.protocols import Job
from bench.records import INPUTS, RunDirectory, file_stem, sample_frame_name
from bench.space import (
    CropOutput,
    Crops,
    Placement,
    SpaceFrames,
    as_8bit,
    output_to_space,
    placement,
    reference_to_space,
)

__all__ = ["JobFrames", "JobRunner", "concat_frames", "save_png"]


def concat_frames(first: Frames, second: Frames) -> Frames:
    """``first`` followed by ``second`` (landmarks and masks kept where both have them)."""

    def both(a: torch.Tensor | None, b: torch.Tensor | None) -> torch.Tensor | None:
        return None if a is None or b is None else torch.cat([a, b])

    image = torch.cat([first.image, second.image])
    return Frames(image, both(first.landmarks, second.landmarks), both(first.segmentation, second.segmentation))


@dataclass(frozen=True)
class JobFrames:
    """A job's model inputs and its frames in the evaluation space.

    ``truth``: the driving frames in the space (the ground truth in self-reenactment); ``where``: their boxes;
    ``source_reference``: the source in the space with its own box and mask, repeated per driving frame."""

    source: Frames
    driver: Frames
    names: tuple[str, ...]
    where: Placement
    truth: SpaceFrames
    source_reference: SpaceFrames

    @classmethod
    def build(cls, config: RunConfig, source: Frames, driver: Frames, names: Sequence[str]) -> JobFrames:
        space = config.space
        where = placement(space, driver)
        truth = reference_to_space(space, driver, where)
        own = reference_to_space(space, source, placement(space, source, "source frame"))
        count = len(driver)

        def repeat(value: torch.Tensor | None) -> torch.Tensor | None:
            return None if value is None else value.expand(count, *value.shape[1:])

        reference = SpaceFrames(repeat(own.image), repeat(own.landmarks), repeat(own.keep))  # type: ignore[arg-type]
        return cls(source, driver, tuple(names), where, truth, reference)

    def sequence_for(self, job: Job) -> Frames:
        """The driving sequence ``begin_sequence`` sees: in self-reenactment it starts with the source frame, so
        that motion is measured from the source (FOMM's own videos begin with their source frame)."""
        return concat_frames(self.source, self.driver) if job.has_ground_truth else self.driver


def save_png(path: Path, image: torch.Tensor) -> None:
    """An image in [0, 1] as an 8-bit PNG. zlib level 1: the same pixels as the default level 6 (PNG is lossless),
    about 7% larger and 3x faster to write (27 -> 9 ms at 256x256 here), which the default run pays on every frame."""
    array = (image.permute(1, 2, 0).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
    Image.fromarray(array).save(path, format="PNG", compress_level=1)


def _metric_timing(metric: str, side: str, frames: int, start: float) -> dict[str, Any]:
    """Wall clock of one metric call since ``start``: ``side`` is ``pair`` (generated against its reference),
    ``generated`` or ``real`` (one side of a set metric's features; the real side once per job)."""
    return {"metric": metric, "side": side, "frames": frames, "ms": (time.perf_counter() - start) * 1e3}


def _check_finite(images: torch.Tensor, model: str) -> None:
    if not torch.isfinite(images).all():
        raise ModelOutputError(f"model {model} returned NaN or infinite pixels; check its weights and inputs")


def check_output(output: Any, driver: Frames, geometry: str, model: str) -> Any:
    """A batch's output in its declared geometry: full frames of the driver's shape, or crops with boxes."""
    if geometry == "crop":
        if not isinstance(output, CropOutput):
            found = type(output).__name__
            raise ModelOutputError(f"model {model} declares crop outputs but returned {found}, not images + boxes")
        shape = tuple(output.images.shape)
        if len(shape) != 4 or shape[0] != len(driver) or shape[1] != 3 or shape[2] != shape[3]:
            raise ModelOutputError(f"model {model} returned crops of shape {shape}, expected ({len(driver)}, 3, S, S)")
        _check_finite(output.images, model)
        return output
    expected = tuple(driver.image.shape)
    if not isinstance(output, torch.Tensor) or tuple(output.shape) != expected:
        found = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise ModelOutputError(f"model {model} returned {found}, expected images of shape {expected}")
    _check_finite(output, model)
    return as_8bit(output.float().clamp(0.0, 1.0))


def _concat_outputs(outputs: list[Any], geometry: str) -> Any:
    if geometry != "crop":
        return torch.cat(outputs)
    images = as_8bit(torch.cat([o.images.float().clamp(0.0, 1.0) for o in outputs]))
    return Crops(images, torch.cat([torch.as_tensor(o.boxes, dtype=torch.float64).cpu() for o in outputs]))


class JobRunner:
    """Runs one model on one job and scores it; the result is the job's part payload."""

    def __init__(
        self,
        config: RunConfig,
        record: RunDirectory,
        sample_jobs: set[str],
        metrics: list[BuiltMetric],
        data_root: Path | None = None,
    ) -> None:
        self.config = config
        self.record = record
        self.sample_jobs = sample_jobs
        self.metrics = metrics
        self.data_root = data_root  # where the ground truth lives: save_outputs mirrors its layout

    @property
    def frame_metric_names(self) -> list[str]:
        return [m.spec.name for m in self.metrics if m.spec.kind == "frame"]

    def _set_features(self, model: str, job: Job, predicted: torch.Tensor, frames: JobFrames) -> list[dict]:
        """Set metrics (FID): features of the generated frames, and once per job of the real ones (the driving
        frames in the space), saved beside the parts so that resumed and sharded runs can combine them."""
        timings = []
        for metric in (m for m in self.metrics if m.spec.kind == "set"):
            name = metric.spec.name
            start = time.perf_counter()
            self.record.write_array(model, job.id, name, metric.score(predicted))  # type: ignore[arg-type]
            timings.append(_metric_timing(name, "generated", len(predicted), start))
            if not self.record.array_path("_real", job.id, name).is_file():
                start = time.perf_counter()
                self.record.write_array("_real", job.id, name, metric.score(frames.truth.image))  # type: ignore[arg-type]
                timings.append(_metric_timing(name, "real", len(predicted), start))
        return timings

    def _scores(self, job: Job, predicted: torch.Tensor, frames: JobFrames) -> tuple[dict[str, list[float]], list]:
        values, timings = {}, []
        driver_landmarks = frames.truth.landmarks  # what the generated frame should follow, in space pixels
        for metric in self.metrics:
            if metric.spec.kind == "set":
                continue
            if job.has_ground_truth:
                reference = frames.truth
            elif metric.spec.cross_reference == "source":
                reference = frames.source_reference
            elif metric.spec.cross_reference == "driver":
                reference = frames.truth  # the driving frames: no ground truth, but the pose to follow
            else:
                continue
            if metric.spec.needs_landmarks and (driver_landmarks is None or reference.landmarks is None):
                continue  # e.g. a FOMM-layout data set: no landmarks to align faces with
            start = time.perf_counter()
            scored = metric.score(predicted, reference.image, driver_landmarks, reference.landmarks)
            values[metric.spec.name] = scored.tolist()  # type: ignore[union-attr]
            timings.append(_metric_timing(metric.spec.name, "pair", len(predicted), start))
        return values, timings

    def _animate(self, loaded: LoadedModel, job: Job, frames: JobFrames) -> tuple[Any, torch.Tensor, list[dict]]:
        """All driving frames through the model: as it rendered them (8-bit levels), mapped into the space; the
        stage timings."""
        model, timings = loaded.model, []
        geometry = loaded.spec.output_geometry  # create_model checked the model's own declaration against it
        replay = getattr(model, "outputs_for_job", None)
        if replay is not None:  # bench.score: frames generated elsewhere, read from files (no model time)
            raw = check_output(replay(job, frames.where.boxes), frames.driver, geometry, loaded.spec.name)
            raw = _concat_outputs([raw], geometry)
            return raw, output_to_space(self.config.space, raw, geometry, frames.truth, frames.where), timings
        start = time.perf_counter()
        state = model.prepare(frames.source)
        timings.append({"stage": "prepare", "frames": 1, "ms": (time.perf_counter() - start) * 1e3})
        if hasattr(model, "begin_sequence"):
            sequence = frames.sequence_for(job)
            start = time.perf_counter()
            state = model.begin_sequence(state, sequence, job.protocol)
            timings.append(
                {"stage": "begin_sequence", "frames": len(sequence), "ms": (time.perf_counter() - start) * 1e3}
            )
        outputs = []
        for first in range(0, len(frames.driver), self.config.batch_size):
            batch = frames.driver[first : first + self.config.batch_size]
            start = time.perf_counter()
            out = model.animate(state, batch)
            elapsed = (time.perf_counter() - start) * 1e3
            outputs.append(check_output(out, batch, geometry, loaded.spec.name))
            timings.append({"stage": "animate", "frames": len(batch), "ms": elapsed})
        raw = _concat_outputs(outputs, geometry)
        return raw, output_to_space(self.config.space, raw, geometry, frames.truth, frames.where), timings

    def _save_outputs(self, model: str, job: Job, raw: Any) -> None:
        """``save_outputs``: each generated frame as the model rendered it (a frame or a crop, 8-bit PNG) at its
        ground truth's path under ``RUN/outputs/MODEL/`` (:func:`bench.data.layouts.mirror_path`), self-reenactment."""
        if not job.has_ground_truth or self.data_root is None:
            return
        images = raw.images if isinstance(raw, Crops) else raw
        folder = self.record.path / "outputs" / file_stem(model, dots=True)
        for image, index in zip(images, job.driver_indices, strict=True):
            path = mirror_path(job.driver.frames[index], self.data_root, folder)
            path.parent.mkdir(parents=True, exist_ok=True)
            save_png(path, image)

    def run(self, loaded: LoadedModel, job: Job, frames: JobFrames) -> dict:
        with torch.inference_mode():
            raw, predicted, timings = self._animate(loaded, job, frames)
            if self.config.save_outputs:
                self._save_outputs(loaded.spec.name, job, raw)
            values, metric_timings = self._scores(job, predicted, frames)
            metric_timings += self._set_features(loaded.spec.name, job, predicted, frames)
        names = frames.names
        if job.id in self.sample_jobs:
            for i in range(min(self.config.samples_per_job, len(predicted))):
                path = self.record.sample_file(loaded.spec.name, job.protocol, job.id, sample_frame_name(i, names[i]))
                save_png(path, predicted[i])
        frame_metrics = self.frame_metric_names
        rows = [
            {
                "model": loaded.spec.name,
                "weights": loaded.weights_label,
                "protocol": job.protocol,
                "job": job.id,
                "source_sequence": job.source.id,
                "source_frame": job.source.frames[job.source_index].name,
                "driver_sequence": job.driver.id,
                "driver_frame": names[i],
                "frame_index": i,
                **{name: values[name][i] if name in values else None for name in frame_metrics},
            }
            for i in range(len(names))
        ]
        return {"rows": rows, "timings": timings, "metric_timings": metric_timings}


def save_inputs(record: RunDirectory, job: Job, frames: JobFrames, count: int) -> None:
    """The source and the first ``count`` references as the metrics see them (in the space), for the report."""
    save_png(record.sample_file(INPUTS, job.protocol, job.id, "source.png"), frames.source_reference.image[0])
    for i in range(min(count, len(frames.names))):
        path = record.sample_file(INPUTS, job.protocol, job.id, sample_frame_name(i, frames.names[i]))
        save_png(path, frames.truth.image[i])
