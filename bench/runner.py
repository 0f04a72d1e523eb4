"""The evaluation loop: data set -> protocol jobs -> every model's prepare/animate -> per-frame metrics -> record.

Each (model, job) ends in one atomically written part file, so a killed run loses at most the jobs in flight;
``resume`` skips the parts already done and retries the failed ones. A job whose data or model fails is
recorded with the file and the error, and the other jobs go on. The random generator is seeded per (model, job),
so a job's output does not depend on which jobs ran before it.

One process is the world of one of a sharded run (:mod:`bench.distributed`): the same steps run with a
``Communicator`` whose collectives are the identity, so both write the same record.
"""

from __future__ import annotations

import datetime as _dt
import logging
import time
import zlib
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
    set_metric_rows,
    summary_table,
    timings_table,
)
from bench.config import RunConfig, config_to_dict, config_to_toml
from bench.costs import cost_table, metric_timings_table
from bench.data import Dataset, FrameData, open_dataset
from bench.distributed.comm import Communicator, SingleProcess, digest
from bench.distributed.states import MetricStates, check_gathered, local_states, reduce_states
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
    costs: pd.DataFrame | None = None  # model vs metric time per generated frame (bench.costs)


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


def _metric_timing(metric: str, side: str, frames: int, start: float) -> dict[str, Any]:
    """Wall clock of one metric call since ``start``: ``side`` is ``pair`` (generated against its reference),
    ``generated`` or ``real`` (one side of a set metric's features; the real side once per job)."""
    return {"metric": metric, "side": side, "frames": frames, "ms": (time.perf_counter() - start) * 1e3}


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

    def _set_features(self, model: str, job: Job, predicted: torch.Tensor, driver: Frames) -> list[dict[str, Any]]:
        """Set metrics (FID): features of the generated frames, and once per job of the real ones, saved
        beside the parts so that resumed and sharded runs can combine them. Returns the timings of both sides."""
        timings = []
        for metric in (m for m in self.metrics if m.spec.kind == "set"):
            name = metric.spec.name
            start = time.perf_counter()
            self.record.write_array(model, job.id, name, metric.score(predicted))  # type: ignore[arg-type]
            timings.append(_metric_timing(name, "generated", len(predicted), start))
            if not self.record.array_path("_real", job.id, name).is_file():
                start = time.perf_counter()
                self.record.write_array("_real", job.id, name, metric.score(driver.image))  # type: ignore[arg-type]
                timings.append(_metric_timing(name, "real", len(driver), start))
        return timings

    def _scores(
        self, job: Job, predicted: torch.Tensor, source: Frames, driver: Frames
    ) -> tuple[dict[str, list[float]], list[dict[str, Any]]]:
        values, timings = {}, []
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
            start = time.perf_counter()
            values[metric.spec.name] = metric.score(predicted, reference, driver.landmarks, landmarks).tolist()
            timings.append(_metric_timing(metric.spec.name, "pair", len(predicted), start))
        return values, timings

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
            values, metric_timings = self._scores(job, predicted, source, driver)
            metric_timings += self._set_features(loaded.spec.name, job, predicted, driver)
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
        return {"rows": rows, "timings": timings, "metric_timings": metric_timings}


def _load_job(dataset: Dataset, job: Job) -> tuple[list[FrameData], list[FrameData]]:
    source = dataset.load(job.source, [job.source_index])
    drivers = dataset.load(job.driver, job.driver_indices)
    return source, drivers


def _save_inputs(record: RunDirectory, job: Job, source: Frames, driver: Frames, count: int, names: Sequence[str]):
    _save_png(record.sample_path("_inputs", job.protocol, "source.png"), source.image[0])
    for i in range(min(count, len(driver))):
        _save_png(record.sample_path("_inputs", job.protocol, f"{i:02d}_{names[i]}.png"), driver.image[i])


def _job_seed(seed: int, model: str, job_id: str) -> int:
    return zlib.crc32(f"{seed}:{model}:{job_id}".encode())


def _process_job(
    job: Job,
    dataset: Dataset,
    models: Sequence[LoadedModel],
    record: RunDirectory,
    runner: _JobRunner,
    device: str,
) -> int:
    """Run the models that have not finished ``job``; the number of frames they generated."""
    pending = [m for m in models if not record.job_done(m.spec.name, job.id)]
    if not pending:
        return 0
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
        return 0
    source, driver = frames_from_data(source_data, device), frames_from_data(driver_data, device)
    names = [f.ref.name for f in driver_data]
    if job.id in runner.sample_jobs:
        _save_inputs(record, job, source, driver, runner.config.samples_per_job, names)
    generated = 0
    for m in pending:
        torch.manual_seed(_job_seed(runner.config.seed, m.spec.name, job.id))
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
        generated += len(driver)
    return generated


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
    record: RunDirectory,
    config: RunConfig,
    jobs: Sequence[Job],
    models: Sequence[LoadedModel],
    parts: list[dict[str, Any]],
    states: MetricStates,
) -> RunSummary:
    parts = record.sort_parts(parts)
    metric_record = record.read_json("metrics.json")
    metrics = [name for name, info in metric_record["metrics"].items() if info.get("kind", "frame") == "frame"]
    frames = frames_table(parts, metrics)
    check_gathered(frames, states)
    failures = failures_table(parts)
    summary = pd.concat(
        [summary_table(frames, metrics, config.seed), set_metric_rows(states.set_moments)], ignore_index=True
    )
    if not summary.empty:
        labels = {name: info["weights_label"] for name, info in metric_record["metrics"].items()}
        summary.insert(summary.columns.get_loc("variant") + 1, "metric_weights", summary["metric"].map(labels))
    atomic_write(record.path / "frames.csv", frames.to_csv(index=False))
    atomic_write(record.path / "sequences.csv", sequences_table(frames, metrics).to_csv(index=False))
    timings, metric_timings = timings_table(parts), metric_timings_table(parts)
    costs = cost_table(timings, metric_timings)
    atomic_write(record.path / "timings.csv", timings.to_csv(index=False))
    atomic_write(record.path / "metric_timings.csv", metric_timings.to_csv(index=False))
    atomic_write(record.path / "cost.csv", costs.to_csv(index=False))
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
            "cost": costs.astype(object).where(costs.notna(), None).to_dict(orient="records"),
        },
    )
    counts = frames.groupby(["model", "weights", "protocol"]).size().rename("frames").reset_index()
    order = {name: i for i, name in enumerate((*config.models, *config.protocol.kinds))}
    counts = counts.sort_values(["model", "protocol"], key=lambda column: column.map(order)).reset_index(drop=True)
    return RunSummary(record.path, status, summary, failures, counts, tuple(metric_record["skipped"]), costs)


def _check_landmarks(models: Sequence[str], dataset: Dataset) -> None:
    for name in models:
        if MODELS.get(name).needs_landmarks and dataset.layout != "bilayer":
            raise ConfigError(
                f"model {name} needs the 68 landmarks of every frame, which the {dataset.layout} layout at "
                f"{dataset.root} does not provide; use the bi-layer layout (keypoints/) or another model"
            )


def _open_record(config: RunConfig, out_root: Path, resume: Path | None) -> str:
    if resume is not None:
        return str(RunDirectory.open(resume).path)
    run_id = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return str(RunDirectory.create(out_root, config, run_id).path)


def _write_metadata(
    record: RunDirectory,
    environment: dict[str, Any],
    data: dict[str, Any],
    models: Sequence[LoadedModel],
    metrics: Sequence[BuiltMetric],
    skipped: Sequence[Any],
) -> None:
    record.write_json("environment.json", environment)
    record.write_json("data.json", data)
    record.write_json("weights.json", {m.spec.name: m.provenance() for m in models})
    record.write_json(
        "metrics.json",
        {"metrics": {m.spec.name: m.provenance() for m in metrics}, "skipped": [vars(s) for s in skipped]},
    )


def _environment(device: str, comm: Communicator) -> dict[str, Any]:
    environment = collect_environment(device)
    described = comm.describe()
    return environment if described is None else {**environment, "distributed": described}


def run_benchmark(
    config: RunConfig,
    *,
    out_root: Path = Path("bench-runs"),
    resume: Path | None = None,
    locations: WeightsLocations | None = None,
    progress: bool = True,
    on_job_done: Callable[[Job], None] | None = None,
    comm: Communicator | None = None,
) -> RunSummary:
    """Run ``config`` into a new run directory under ``out_root``, or continue the run directory ``resume``.

    With ``comm`` (a process group, :func:`bench.distributed.run_distributed`) this process runs its shard of the
    jobs and rank 0 writes the record; every rank returns the summary.
    """
    comm = comm or SingleProcess()
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    device = comm.device(config.device)
    where = locations or WeightsLocations.from_environment(
        config.weights_dir or None, accept_mismatch=config.accept_hash_mismatch
    )
    dataset = comm.main_first(lambda: open_dataset(config.data, progress=progress and comm.is_main))
    _check_landmarks(config.models, dataset)
    jobs, skipped = build_jobs(dataset.sequences, config.protocol)
    comm.check_agree("config and job list", digest(config_to_toml(config) + "\n".join(j.id for j in jobs)))
    models = [
        create_model(name, where, random_weights=config.random_weights, device=device, seed=config.seed)
        for name in config.models
    ]
    record = RunDirectory(Path(comm.on_main(lambda: _open_record(config, out_root, resume))))
    metrics, skipped_metrics = build_metrics(config.metrics, where, device)
    comm.on_main(
        lambda: _write_metadata(
            record, _environment(device, comm), _data_info(dataset, skipped, jobs), models, metrics, skipped_metrics
        )
    )
    first_of_protocol = {j.protocol: j.id for j in reversed(jobs)}
    runner = _JobRunner(config, record, set(first_of_protocol.values()), metrics)
    mine = comm.shard(jobs)
    failure, generated, start = None, 0, time.perf_counter()
    try:
        for job in tqdm(mine, desc="jobs", unit="job", disable=None if progress and comm.is_main else True):
            generated += _process_job(job, dataset, models, record, runner, device)
            if on_job_done is not None:
                on_job_done(job)
    except Exception as error:  # every rank learns of it at the next collective, then all stop
        failure = error
    comm.raise_if_failed(failure)
    parts = [part for job in mine for m in models if (part := record.read_part(m.spec.name, job.id)) is not None]
    states = reduce_states(local_states(parts, record, config, models, metrics), comm)
    parts = comm.gather(parts)
    total = int(comm.all_reduce(np.array([generated], dtype=np.int64))[0])
    elapsed = time.perf_counter() - start
    if comm.is_main and total:
        logger.info(
            "%d frames generated in %.1f s (%.2f frames/s) by %d process(es)",
            total,
            elapsed,
            total / elapsed,
            comm.world_size,
        )
    return comm.on_main(lambda: _finalize(record, config, jobs, models, parts, states))
