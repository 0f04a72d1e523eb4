"""The evaluation loop: data set -> protocol jobs -> every model's prepare/animate -> per-frame metrics -> record.

Each (model, job) ends in one atomically written part file, so a killed run loses at most the jobs in flight;
``resume`` skips the parts already done and retries the failed ones. A job whose data or model fails is
recorded with the file and the error, and the other jobs go on.
"""

from __future__ import annotations

import datetime as _dt
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm import tqdm

from bench.aggregate import (
    failures_table,
    frames_table,
    sequences_table,
    set_metric_table,
    summary_table,
    timings_table,
)
from bench.config import RunConfig, config_to_dict
from bench.data import Dataset, FrameData, open_dataset
from bench.environment import collect_environment, utc_now
from bench.errors import BenchError, ConfigError, DataError, ModelOutputError
from bench.metrics.evaluators import BuiltMetric, build_metrics
from bench.models import MODELS, Frames, LoadedModel, create_model, frames_from_data
from bench.protocols import Job, SkippedSequence, build_jobs
from bench.records import RESULTS_SCHEMA, RESULTS_SCHEMA_VERSION, RunDirectory, atomic_write
from bench.weights import WeightsLocations, file_sha256

__all__ = ["RunSummary", "run_benchmark"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunSummary:
    run_dir: Path
    status: str
    summary: pd.DataFrame
    failures: pd.DataFrame
    counts: pd.DataFrame  # frames generated per (model, weights, protocol)
    skipped_metrics: tuple[dict[str, str], ...] = ()


def _check_output(output: torch.Tensor, driver: Frames, model: str) -> torch.Tensor:
    expected = tuple(driver.image.shape)
    if not isinstance(output, torch.Tensor) or tuple(output.shape) != expected:
        found = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise ModelOutputError(f"model {model} returned {found}, expected images of shape {expected}")
    if not torch.isfinite(output).all():
        raise ModelOutputError(f"model {model} returned NaN or infinite pixels; check its weights and inputs")
    return output.float().clamp(0.0, 1.0)


def _save_png(path: Path, image: torch.Tensor) -> None:
    array = (image.permute(1, 2, 0).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
    Image.fromarray(array).save(path, format="PNG")


def _source_reference(source: Frames, driver: Frames) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The source frame as the reference of every driving frame (identity metrics in cross-reenactment)."""
    image, landmarks = source.image, source.landmarks
    height, width = driver.image.shape[-2:]
    if image.shape[-2:] != (height, width):
        scale = torch.tensor([width / image.shape[-1], height / image.shape[-2]], device=image.device)
        image = F.interpolate(image, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
        landmarks = None if landmarks is None else landmarks * scale
    count = len(driver)
    return image.expand(count, -1, -1, -1), None if landmarks is None else landmarks.expand(count, -1, -1)


class _JobRunner:
    def __init__(
        self, config: RunConfig, record: RunDirectory, sample_jobs: set[str], metrics: list[BuiltMetric]
    ) -> None:
        self.config = config
        self.record = record
        self.sample_jobs = sample_jobs
        self.metrics = metrics

    @property
    def frame_metric_names(self) -> list[str]:
        return [m.spec.name for m in self.metrics if m.spec.kind == "frame"]

    def _set_features(self, model: str, job: Job, predicted: torch.Tensor, driver: Frames) -> None:
        """Set metrics (FID): features of the generated frames, and once per job of the real ones, saved
        beside the parts so that resumed and sharded runs can combine them."""
        for metric in (m for m in self.metrics if m.spec.kind == "set"):
            name = metric.spec.name
            self.record.write_array(model, job.id, name, metric.score(predicted))  # type: ignore[arg-type]
            if not self.record.array_path("_real", job.id, name).is_file():
                self.record.write_array("_real", job.id, name, metric.score(driver.image))  # type: ignore[arg-type]

    def _scores(self, job: Job, predicted: torch.Tensor, source: Frames, driver: Frames) -> dict[str, list[float]]:
        values = {}
        for metric in self.metrics:
            if metric.spec.kind == "set":
                continue
            if job.has_ground_truth:
                reference, landmarks = driver.image, driver.landmarks
            elif metric.spec.cross_reference == "source":
                reference, landmarks = _source_reference(source, driver)
            else:
                continue
            if metric.spec.needs_landmarks and (driver.landmarks is None or landmarks is None):
                continue  # e.g. a FOMM-layout data set: no landmarks to align faces with
            values[metric.spec.name] = metric.score(predicted, reference, driver.landmarks, landmarks).tolist()
        return values

    def run(self, loaded: LoadedModel, job: Job, source: Frames, driver: Frames, names: Sequence[str]) -> dict:
        model, timings = loaded.model, []
        with torch.inference_mode():
            start = time.perf_counter()
            state = model.prepare(source)
            timings.append({"stage": "prepare", "frames": 1, "ms": (time.perf_counter() - start) * 1e3})
            if hasattr(model, "begin_sequence"):
                start = time.perf_counter()
                state = model.begin_sequence(state, driver)
                timings.append(
                    {"stage": "begin_sequence", "frames": len(driver), "ms": (time.perf_counter() - start) * 1e3}
                )
            outputs = []
            for first in range(0, len(driver), self.config.batch_size):
                batch = driver[first : first + self.config.batch_size]
                start = time.perf_counter()
                out = model.animate(state, batch)
                elapsed = (time.perf_counter() - start) * 1e3
                outputs.append(_check_output(out, batch, loaded.spec.name))
                timings.append({"stage": "animate", "frames": len(batch), "ms": elapsed})
            predicted = torch.cat(outputs)
            values = self._scores(job, predicted, source, driver)
            self._set_features(loaded.spec.name, job, predicted, driver)
        if job.id in self.sample_jobs:
            for i in range(min(self.config.samples_per_job, len(predicted))):
                _save_png(
                    self.record.sample_path(loaded.spec.name, job.protocol, f"{i:02d}_{names[i]}.png"),
                    predicted[i],
                )
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
            for i in range(len(driver))
        ]
        return {"rows": rows, "timings": timings}


def _load_job(dataset: Dataset, job: Job) -> tuple[list[FrameData], list[FrameData]]:
    source = dataset.load(job.source, [job.source_index])
    drivers = dataset.load(job.driver, job.driver_indices)
    return source, drivers


def _save_inputs(record: RunDirectory, job: Job, source: Frames, driver: Frames, count: int, names: Sequence[str]):
    _save_png(record.sample_path("_inputs", job.protocol, "source.png"), source.image[0])
    for i in range(min(count, len(driver))):
        _save_png(record.sample_path("_inputs", job.protocol, f"{i:02d}_{names[i]}.png"), driver.image[i])


def _process_job(
    job: Job,
    dataset: Dataset,
    models: Sequence[LoadedModel],
    record: RunDirectory,
    runner: _JobRunner,
    device: str,
) -> None:
    pending = [m for m in models if not record.job_done(m.spec.name, job.id)]
    if not pending:
        return
    base = {"protocol": job.protocol, "job": job.id}
    try:
        source_data, driver_data = _load_job(dataset, job)
    except DataError as error:
        logger.warning("job %s failed: %s", job.id, error)
        for m in pending:
            record.write_part(
                m.spec.name,
                job.id,
                {
                    "model": m.spec.name,
                    **base,
                    "status": "failed",
                    "file": str(error.path),
                    "error": str(error),
                },
            )
        return
    source, driver = frames_from_data(source_data, device), frames_from_data(driver_data, device)
    names = [f.ref.name for f in driver_data]
    if job.id in runner.sample_jobs:
        _save_inputs(record, job, source, driver, runner.config.samples_per_job, names)
    for m in pending:
        try:
            payload = runner.run(m, job, source, driver, names)
        except (BenchError, RuntimeError, ValueError) as error:
            logger.warning("model %s failed on %s: %s", m.spec.name, job.id, error)
            record.write_part(
                m.spec.name,
                job.id,
                {
                    "model": m.spec.name,
                    **base,
                    "status": "failed",
                    "file": None,
                    "error": f"{type(error).__name__}: {error}",
                },
            )
            continue
        record.write_part(m.spec.name, job.id, {"model": m.spec.name, **base, "status": "ok", **payload})


def _data_info(dataset: Dataset, skipped: Sequence[SkippedSequence], jobs: Sequence[Job]) -> dict[str, Any]:
    manifest = dataset.root / "MANIFEST.json"  # written by the embedded default's generator
    return {
        "root": str(dataset.root),
        "embedded_default": dataset.embedded_default,
        "manifest_sha256": file_sha256(manifest) if manifest.is_file() else None,
        "layout": dataset.layout,
        "split": dataset.split,
        "num_sequences": len(dataset.sequences),
        "num_frames": dataset.num_frames,
        "num_frames_with_segmentation": sum(f.segmentation is not None for s in dataset.sequences for f in s.frames),
        "jobs": {kind: sum(j.protocol == kind for j in jobs) for kind in dict.fromkeys(j.protocol for j in jobs)},
        "skipped": [vars(s) for s in skipped],
    }


def _finalize(
    record: RunDirectory, config: RunConfig, jobs: Sequence[Job], models: Sequence[LoadedModel]
) -> RunSummary:
    parts = record.read_parts()
    metric_record = record.read_json("metrics.json")
    metrics = [name for name, info in metric_record["metrics"].items() if info.get("kind", "frame") == "frame"]
    set_metrics = [name for name in metric_record["metrics"] if name not in metrics]
    frames = frames_table(parts, metrics)
    failures = failures_table(parts)
    summary = pd.concat(
        [summary_table(frames, metrics, config.seed), set_metric_table(parts, set_metrics, record.read_array)],
        ignore_index=True,
    )
    if not summary.empty:
        labels = {name: info["weights_label"] for name, info in metric_record["metrics"].items()}
        summary.insert(summary.columns.get_loc("variant") + 1, "metric_weights", summary["metric"].map(labels))
    atomic_write(record.path / "frames.csv", frames.to_csv(index=False))
    atomic_write(record.path / "sequences.csv", sequences_table(frames, metrics).to_csv(index=False))
    atomic_write(record.path / "timings.csv", timings_table(parts).to_csv(index=False))
    atomic_write(record.path / "failures.csv", failures.to_csv(index=False))
    expected = len(jobs) * len(models)
    done = sum(p["status"] == "ok" for p in parts)
    status = "complete" if done == expected else "partial"
    record.write_json(
        "results.json",
        {
            "schema": RESULTS_SCHEMA,
            "schema_version": RESULTS_SCHEMA_VERSION,
            "status": status,
            "finished": utc_now(),
            "jobs": {"expected": expected, "ok": done, "failed": len(failures)},
            "config": config_to_dict(config),
            "environment": record.read_json("environment.json"),
            "data": record.read_json("data.json"),
            "weights": record.read_json("weights.json"),
            "metrics": metric_record["metrics"],
            "skipped_metrics": metric_record["skipped"],
            "summary": summary.to_dict(orient="records"),
            "failures": failures.to_dict(orient="records"),
        },
    )
    counts = frames.groupby(["model", "weights", "protocol"]).size().rename("frames").reset_index()
    order = {name: i for i, name in enumerate((*config.models, *config.protocol.kinds))}
    counts = counts.sort_values(["model", "protocol"], key=lambda column: column.map(order)).reset_index(drop=True)
    return RunSummary(record.path, status, summary, failures, counts, tuple(metric_record["skipped"]))


def _check_landmarks(models: Sequence[str], dataset: Dataset) -> None:
    for name in models:
        if MODELS.get(name).needs_landmarks and dataset.layout != "bilayer":
            raise ConfigError(
                f"model {name} needs the 68 landmarks of every frame, which the {dataset.layout} layout at "
                f"{dataset.root} does not provide; use the bi-layer layout (keypoints/) or another model"
            )


def run_benchmark(
    config: RunConfig,
    *,
    out_root: Path = Path("bench-runs"),
    resume: Path | None = None,
    locations: WeightsLocations | None = None,
    progress: bool = True,
    on_job_done: Callable[[Job], None] | None = None,
) -> RunSummary:
    """Run ``config`` into a new run directory under ``out_root``, or continue the run directory ``resume``."""
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    where = locations or WeightsLocations.from_environment(
        config.weights_dir or None, accept_mismatch=config.accept_hash_mismatch
    )
    dataset = open_dataset(config.data, progress=progress)
    _check_landmarks(config.models, dataset)
    jobs, skipped = build_jobs(dataset.sequences, config.protocol)
    models = [
        create_model(name, where, random_weights=config.random_weights, device=config.device, seed=config.seed)
        for name in config.models
    ]
    if resume is None:
        run_id = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        record = RunDirectory.create(out_root, config, run_id)
    else:
        record = RunDirectory.open(resume)
    record.write_json("environment.json", collect_environment(config.device))
    record.write_json("data.json", _data_info(dataset, skipped, jobs))
    record.write_json("weights.json", {m.spec.name: m.provenance() for m in models})
    first_of_protocol = {j.protocol: j.id for j in reversed(jobs)}
    metrics, skipped = build_metrics(config.metrics, where, config.device)
    record.write_json(
        "metrics.json",
        {"metrics": {m.spec.name: m.provenance() for m in metrics}, "skipped": [vars(s) for s in skipped]},
    )
    runner = _JobRunner(config, record, set(first_of_protocol.values()), metrics)
    for job in tqdm(jobs, desc="jobs", unit="job", disable=None if progress else True):
        _process_job(job, dataset, models, record, runner, config.device)
        if on_job_done is not None:
            on_job_done(job)
    return _finalize(record, config, jobs, models)
