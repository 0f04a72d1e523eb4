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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from bench.aggregate import (
    failures_table,
    frames_table,
    reference_jobs,
    sequences_table,
    set_metric_rows,
    summary_table,
    timings_table,
)
from bench.config import RunConfig, config_to_dict, config_to_toml
from bench.costs import cost_table, metric_timings_table, overhead_table
from bench.data import Dataset, open_dataset
from bench.distributed.comm import Communicator, SingleProcess, digest
from bench.distributed.states import MetricStates, check_gathered, local_states, reduce_states
from bench.environment import collect_environment, utc_now
from bench.errors import BenchError, ConfigError, DataError
from bench.jobs import JobFrames, JobRunner, save_inputs
from bench.masks.provider import MASK_ORIGINS, MaskProvider, describe_masks
from bench.metrics import METRICS
from bench.metrics.evaluators import BuiltMetric, build_metrics
from bench.metrics.kid import LIMIT as KID_LIMIT
from bench.metrics.kid import kid_rows, sample_rows
from bench.models import MODELS, LoadedModel, ModelSpec, create_model, frames_from_data
from bench.prefetch import Loaded, Prefetcher
from bench.protocols import Job, SkippedSequence, build_jobs
from bench.records import RESULTS_SCHEMA, RESULTS_SCHEMA_VERSION, RunDirectory
from bench.refstats import ReferenceStats, check_save_target, read_reference_stats, write_reference_stats
from bench.space import describe_space
from bench.stats import paired_differences
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
    space: dict[str, Any] | None = None  # bench.space.describe_space
    masks: dict[str, Any] | None = None  # bench.masks.provider.describe_masks
    differences: pd.DataFrame | None = None  # bench.stats.paired_differences against config.reference_model
    warnings: tuple[str, ...] = ()  # what a reader must know about a value (e.g. FID over few frames)
    weights_labels: dict[str, str] = field(default_factory=dict)  # model -> none/verified/unverified/random

    @property
    def caption(self) -> str:
        """What every table of the run says about where it was measured."""
        space = self.space["description"] if self.space else "unknown space"
        masks = f"; {self.masks['description']}" if self.masks else ""
        return f"evaluation space: {self.space['name'] if self.space else '?'} ({space}){masks}"


def _job_seed(seed: int, model: str, job_id: str) -> int:
    return zlib.crc32(f"{seed}:{model}:{job_id}".encode())


def _run_model(runner: JobRunner, loaded: LoadedModel, job: Job, frames: JobFrames) -> dict | Exception:
    """The job's part payload, or the error that fails the job (a model of the user's may raise anything)."""
    try:
        return runner.run(loaded, job, frames)
    except (BenchError, RuntimeError, ValueError) as error:
        return error
    except Exception as error:
        if not loaded.spec.is_users:
            raise
        return error


@dataclass(frozen=True)
class _JobData:
    """A job's decoded frames (masks filled) and its frames in the evaluation space."""

    frames: JobFrames
    mask_counts: dict[str, int]


def _load_job(config: RunConfig, dataset: Dataset, job: Job, device: str, masks: MaskProvider) -> _JobData:
    """Decode, fill masks, cut into the space: what :class:`bench.prefetch.Prefetcher` does ahead of the job."""
    source_data = masks.fill(dataset.load(job.source, [job.source_index]))
    driver_data = masks.fill(dataset.load(job.driver, job.driver_indices))
    source, driver = frames_from_data(source_data, device), frames_from_data(driver_data, device)
    frames = JobFrames.build(config, source, driver, [f.ref.name for f in driver_data])
    return _JobData(frames, masks.origins([*source_data, *driver_data]))


def _failed(record: RunDirectory, model: str, job: Job, file: str | None, error: str) -> None:
    base = {"model": model, "protocol": job.protocol, "job": job.id, "status": "failed"}
    record.write_part(model, job.id, {**base, "file": file, "error": error})


def _pending(record: RunDirectory, models: Sequence[LoadedModel], job: Job) -> list[LoadedModel]:
    return [m for m in models if not record.job_done(m.spec.name, job.id)]


def _process_job(
    job: Job,
    loaded: Loaded[_JobData | DataError],
    pending: Sequence[LoadedModel],
    record: RunDirectory,
    runner: JobRunner,
) -> int:
    """Run the models of ``pending`` on ``job`` (its data loaded ahead, or the data error that fails it); the
    number of frames they generated. Each part's ``overhead`` holds its share of the job's time outside model and
    metric calls (bench.costs): waiting for the data, loading it, and the rest of the job."""
    data, share = loaded.value, 1.0 / len(pending)
    if isinstance(data, DataError):
        logger.warning("job %s failed: %s", job.id, data)
        for m in pending:
            _failed(record, m.spec.name, job, str(data.path), str(data))
        return 0
    start = time.perf_counter()
    if job.id in runner.sample_jobs:
        save_inputs(record, job, data.frames, runner.config.samples_per_job)
    inputs_ms = (time.perf_counter() - start) * 1e3
    generated = 0
    for m in pending:
        torch.manual_seed(_job_seed(runner.config.seed, m.spec.name, job.id))
        start = time.perf_counter()
        payload = _run_model(runner, m, job, data.frames)
        job_ms = (time.perf_counter() - start) * 1e3
        if isinstance(payload, Exception):
            logger.warning("model %s failed on %s: %s", m.spec.name, job.id, payload)
            _failed(record, m.spec.name, job, None, f"{type(payload).__name__}: {payload}")
            continue
        measured = sum(t["ms"] for t in payload["timings"]) + sum(t["ms"] for t in payload["metric_timings"])
        payload["overhead"] = {
            "data_wait_ms": loaded.wait_ms * share,
            "data_work_ms": loaded.work_ms * share,
            "other_ms": max(job_ms - measured, 0.0) + inputs_ms * share,
        }
        payload["masks"] = data.mask_counts
        payload["frame_size"] = [int(v) for v in data.frames.driver.image.shape[-2:]]
        record.write_part(m.spec.name, job.id, {"model": m.spec.name, "protocol": job.protocol, "job": job.id,
                                                "status": "ok", **payload})  # fmt: skip
        generated += len(data.frames.driver)
    return generated


def _run_jobs(
    jobs: Sequence[Job],
    load: Callable[[Job], _JobData],
    models: Sequence[LoadedModel],
    record: RunDirectory,
    runner: JobRunner,
    on_job_done: Callable[[Job], None] | None,
    *,
    progress: bool,
) -> int:
    """Every job of ``jobs`` with a model still to run, the next one's data loaded while this one computes
    (:mod:`bench.prefetch`); a resumed run loads only the unfinished jobs. The number of frames generated."""

    def load_or_error(job: Job) -> _JobData | DataError:
        try:
            return load(job)
        except DataError as error:
            return error

    generated = 0
    pending = {job.id: _pending(record, models, job) for job in jobs}  # only this loop writes parts: fixed up front
    with Prefetcher(load_or_error, [job for job in jobs if pending[job.id]]) as ahead:
        for job in tqdm(jobs, desc="jobs", unit="job", disable=None if progress else True):
            if pending[job.id]:
                generated += _process_job(job, ahead.take(job), pending[job.id], record, runner)
            if on_job_done is not None:
                on_job_done(job)
    return generated


def _sequence_list_record(config: RunConfig) -> dict[str, str] | None:
    if not config.data.sequence_list:
        return None
    path = Path(config.data.sequence_list).expanduser()
    return {"path": str(path), "sha256": file_sha256(path)}


def _data_info(
    config: RunConfig, dataset: Dataset, skipped: Sequence[SkippedSequence], jobs: Sequence[Job]
) -> dict[str, Any]:
    manifest = dataset.root / "MANIFEST.json"  # written by the embedded default's generator
    return {
        "root": str(dataset.root),
        "embedded_default": dataset.embedded_default,
        "manifest_sha256": file_sha256(manifest) if manifest.is_file() else None,
        "listing_sha256": dataset.listing_sha256(),  # any root: relative path and size of every file read
        "sequence_list": _sequence_list_record(config),
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
    reference: ReferenceStats | None = None,
    skipped: Sequence[Any] = (),
) -> RunSummary:
    """The run's tables and records from its parts. ``skipped``: the metrics this process could not build, for the
    console with this machine's paths (metrics.json writes them portably, bench.portable)."""
    parts = record.sort_parts(parts)
    _save_stats(config, record, parts, states)
    if reference is not None:  # every model against the file's reference set instead of the run's real frames
        real = reference.moments()
        states = replace(states, set_moments={key: replace(s, real=real) for key, s in states.set_moments.items()})
    metric_record = record.read_json("metrics.json")
    metrics = [name for name, info in metric_record["metrics"].items() if info.get("kind", "frame") == "frame"]
    frames = frames_table(parts, metrics)
    check_gathered(frames, states)
    failures = failures_table(parts)
    derived = _derived_metrics(metric_record["metrics"])
    kid = kid_rows(
        parts,
        [key for key in states.set_moments if key[0] in {d["derived_from"] for d in derived.values()}],
        record.read_array,
        reference_jobs(parts, config.protocol.kinds[0]),
        config.seed,
        None if reference is None or not len(reference.kid_features) else reference.kid_features,
    )
    summary = pd.concat(
        [summary_table(frames, metrics, config.seed), set_metric_rows(states.set_moments), pd.DataFrame(kid)],
        ignore_index=True,
    )
    if not summary.empty:
        labels = {name: info["weights_label"] for name, info in {**metric_record["metrics"], **derived}.items()}
        summary.insert(summary.columns.get_loc("variant") + 1, "metric_weights", summary["metric"].map(labels))
    record.write_table("frames.csv", frames)
    record.write_table("sequences.csv", sequences_table(frames, metrics))
    timings, metric_timings = timings_table(parts), metric_timings_table(parts)
    costs = cost_table(timings, metric_timings, overhead_table(parts))
    record.write_table("timings.csv", timings)
    record.write_table("metric_timings.csv", metric_timings)
    record.write_table("cost.csv", costs)
    record.write_table("failures.csv", failures)
    differences = (
        paired_differences(frames, metrics, config.reference_model, config.seed)
        if config.reference_model
        else pd.DataFrame()
    )
    if config.reference_model:
        record.write_table("differences.csv", differences)
    space, masks, warnings = describe_space(config.space), _masks_record(config, parts), _set_warnings(summary)
    expected = len(jobs) * len(models)
    done = sum(p["status"] == "ok" for p in parts)
    status = "complete" if done == expected else "partial"
    record.write_json(
        "results.json",
        {
            "schema": RESULTS_SCHEMA,
            "schema_version": RESULTS_SCHEMA_VERSION,
            "status": status,
            **_times(record.read_json("environment.json")["created"]),
            "jobs": {"expected": expected, "ok": done, "failed": len(failures)},
            "config": config_to_dict(config),
            "environment": record.read_json("environment.json"),
            "data": record.read_json("data.json"),
            "weights": record.read_json("weights.json"),
            "space": space,
            "masks": masks,
            "frame_sizes": sorted({tuple(p["frame_size"]) for p in parts if p["status"] == "ok" and "frame_size" in p}),
            "metrics": {**metric_record["metrics"], **derived},
            "skipped_metrics": metric_record["skipped"],
            "warnings": warnings,
            "summary": summary.to_dict(orient="records"),
            "differences": differences.to_dict(orient="records"),
            "failures": failures.to_dict(orient="records"),
            "cost": costs.astype(object).where(costs.notna(), None).to_dict(orient="records"),
        },
    )
    counts = frames.groupby(["model", "weights", "protocol"]).size().rename("frames").reset_index()
    order = {name: i for i, name in enumerate((*config.models, *config.protocol.kinds))}
    counts = counts.sort_values(["model", "protocol"], key=lambda column: column.map(order)).reset_index(drop=True)
    return RunSummary(
        record.path,
        status,
        summary,
        failures,
        counts,
        tuple(dict(vars(s)) for s in skipped),
        costs,
        space=space,
        masks=masks,
        differences=differences,
        warnings=tuple(warnings),
        weights_labels={m.spec.name: m.weights_label for m in models},
    )


def _times(started: str) -> dict[str, Any]:
    """Start (this invocation's: a resumed run's own), end and wall-clock duration of the run."""
    finished = _dt.datetime.now(_dt.timezone.utc)
    duration = (finished - _dt.datetime.fromisoformat(started)).total_seconds()
    return {"started": started, "finished": finished.isoformat(timespec="seconds"), "duration_s": round(duration, 1)}


def _reference_stats(config: RunConfig) -> ReferenceStats | None:
    """The --ref-stats file, checked against the run's FID variant and space before anything is written (and a
    --save-stats target checked there too)."""
    if config.save_stats:
        check_save_target(Path(config.save_stats).expanduser(), config.metrics)
    if not config.ref_stats:
        return None
    fid = [name for name in config.metrics if name.startswith("fid.")] or ["fid.inception-2015-12-05.2048"]
    return read_reference_stats(Path(config.ref_stats).expanduser(), fid[0], describe_space(config.space))


def _save_stats(config: RunConfig, record: RunDirectory, parts: list[dict[str, Any]], states: MetricStates) -> None:
    """--save-stats: the run's own reference set (moments and a KID sample) with its provenance."""
    if not config.save_stats:
        return
    keys = [key for key in states.set_moments if key[0].startswith("fid.")]
    if not keys:
        raise ConfigError("--save-stats needs FID among the run's metrics (its features are the statistics)")
    name = keys[0][0]
    jobs = reference_jobs(parts, config.protocol.kinds[0])
    sample, count = sample_rows((record.read_array("_real", job, name) for job in jobs), KID_LIMIT,
                                np.random.default_rng(config.seed))  # fmt: skip
    data = record.read_json("data.json")
    provenance = {
        "variant": name,
        "space": describe_space(config.space),
        "frames": count,
        "data": {"root": data.get("root"), "split": data.get("split"), "manifest_sha256": data.get("manifest_sha256")},
        "reference": f"driving frames of the {config.protocol.kinds[0]} protocol's jobs ({len(jobs)} jobs)",
        "weights": record.read_json("metrics.json")["metrics"][name].get("files"),
        "run": record.path.name,
        "created": utc_now(),
    }
    stats = ReferenceStats.from_moments(states.set_moments[keys[0]].real, sample, provenance)
    write_reference_stats(Path(config.save_stats).expanduser(), stats)


def _derived_metrics(built: dict[str, Any]) -> dict[str, Any]:
    """Records of the metrics computed from a built metric's features (KID from FID's), with its weights."""
    out = {}
    for name in METRICS.names():
        spec = METRICS.get(name)
        if spec.derived_from in built:
            source = built[spec.derived_from]
            out[name] = {**source, "variant": spec.variant, "description": spec.description, "derived_from":
                         spec.derived_from}  # fmt: skip
    return out


def _set_warnings(summary: pd.DataFrame) -> list[str]:
    """Set metrics over fewer frames than FID's 2048 feature dimensions: the covariance is rank-deficient."""
    if summary.empty:
        return []
    small = summary[summary["metric"].str.startswith("fid.") & (summary["n_frames"] < 2048)]
    if small.empty:
        return []
    sets = ", ".join(f"{row.model} {row.protocol} ({row.n_frames})" for row in small.itertuples())
    return [
        f"FID over fewer generated frames than its 2048 feature dimensions for {sets}: biased and noisy at this "
        "size; read KID beside it"
    ]


def _masks_record(config: RunConfig, parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Where the masks of the run's frames came from, counted once per job."""
    counts = dict.fromkeys(MASK_ORIGINS, 0)
    for part in {p["job"]: p for p in parts if p["status"] == "ok" and "masks" in p}.values():
        for origin, count in part["masks"].items():
            counts[origin] = counts.get(origin, 0) + int(count)
    return describe_masks(config.data.masks, counts)


def _check_landmarks(config: RunConfig, dataset: Dataset, specs: Mapping[str, ModelSpec]) -> None:
    """Refuse, before anything runs, what the data set or the evaluation space cannot give: landmarks for models
    and crop spaces, masks for the masked-crop space, full frames for the frame space."""
    space = config.space
    for name, spec in specs.items():
        if spec.needs_landmarks and dataset.layout != "bilayer":
            raise ConfigError(
                f"model {name} needs the 68 landmarks of every frame, which the {dataset.layout} layout at "
                f"{dataset.root} does not provide; use the bi-layer layout (keypoints/) or another model"
            )
        if spec.output_geometry == "crop" and not space.is_crop:
            raise ConfigError(
                f"model {name} renders only the crop around the driver's landmarks, so it cannot be scored in the "
                "frame space; use --space crop or --space masked-crop"
            )
    if space.is_crop and dataset.layout != "bilayer":
        raise ConfigError(
            f"the {space.name} space cuts the driver's landmark crop, and the {dataset.layout} layout at "
            f"{dataset.root} has no landmarks; use --space frame or the bi-layer layout (keypoints/)"
        )
    if space.name == "masked-crop" and config.data.masks == "none":
        raise ConfigError("the masked-crop space needs foreground masks but data.masks = 'none'; use masks = 'auto'")


def _create_models(
    config: RunConfig, where: WeightsLocations, device: str, instances: Mapping[str, LoadedModel]
) -> list[LoadedModel]:
    """The config's models: the caller's instances by name, the others built by the registry."""
    from bench.weights.load import checkpoint_errors

    with checkpoint_errors():
        return [
            instances[name]
            if name in instances
            else create_model(
                name,
                where,
                random_weights=config.random_weights,
                device=device,
                seed=config.seed,
                args=config.model_args.get(name),
            )
            for name in config.models
        ]


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
    instances: Mapping[str, LoadedModel] | None = None,
    driver_subsets: Mapping[str, tuple[int, ...]] | None = None,
) -> RunSummary:
    """Run ``config`` into a new run directory under ``out_root``, or continue the run directory ``resume``.

    With ``comm`` (a process group, :func:`bench.distributed.run_distributed`) this process runs its shard of the
    jobs and rank 0 writes the record; every rank returns the summary. ``instances`` are models built by the caller
    (:func:`bench.api.evaluate`), used for the config's models of those names instead of the registry's.
    ``driver_subsets`` (job id -> driving frame indices) keeps only those frames of a job, and no job that has none
    (:mod:`bench.score`: the frames whose generated counterpart exists).
    """
    from bench.config import check_device
    from bench.plan import plan_jobs
    from bench.records import RunFingerprint
    comm = comm or SingleProcess()
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    device = comm.device(config.device)
    check_device(device)
    if config.weights_dir and not Path(config.weights_dir).expanduser().is_dir():  # a typo must not mean random weights
        raise ConfigError(
            f"--weights-dir {config.weights_dir}: no such folder; pass the folder holding the weight files "
            "(`bilayer-bench weights fetch --weights-dir DIR` fills one)"
        )
    where = locations or WeightsLocations.from_environment(
        config.weights_dir or None, accept_mismatch=config.accept_hash_mismatch
    )
    dataset = comm.main_first(lambda: open_dataset(config.data, progress=progress and comm.is_main))
    instances = dict(instances or {})
    _check_landmarks(
        config, dataset, {n: instances[n].spec if n in instances else MODELS.get(n) for n in config.models}
    )
    jobs, skipped = build_jobs(dataset.sequences, config.protocol)
    jobs = plan_jobs(dataset, config.protocol, jobs, skipped)
    if driver_subsets is not None:
        jobs = [replace(j, driver_indices=driver_subsets[j.id]) for j in jobs if driver_subsets.get(j.id)]
    comm.check_agree("config and job list", digest(config_to_toml(config) + "\n".join(j.id for j in jobs)))
    fingerprint = RunFingerprint.of(config, dataset, jobs)
    if resume is not None:
        comm.on_main(lambda: RunDirectory.open(resume).check_resume(fingerprint))
    models = _create_models(config, where, device, instances)
    metrics, skipped_metrics = build_metrics(config.metrics, where, device, allow_missing=config.allow_missing_metrics)
    reference = _reference_stats(config)
    record = RunDirectory(Path(comm.on_main(lambda: _open_record(config, out_root, resume))), fingerprint)
    comm.on_main(
        lambda: _write_metadata(
            record,
            _environment(device, comm),
            _data_info(config, dataset, skipped, jobs),
            models,
            metrics,
            skipped_metrics,
        )
    )
    first_of_protocol = {j.protocol: j.id for j in reversed(jobs)}
    saved = {j.id for j in jobs} if config.sample_jobs == "all" else set(first_of_protocol.values())
    masks = MaskProvider(config.data.masks)
    runner = JobRunner(config, record, saved, metrics, dataset.root)
    mine = comm.shard(jobs)
    failure, generated, start = None, 0, time.perf_counter()
    try:
        generated = _run_jobs(mine, lambda job: _load_job(config, dataset, job, device, masks), models, record,
                              runner, on_job_done, progress=progress and comm.is_main)  # fmt: skip
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
    return comm.on_main(lambda: _finalize(record, config, jobs, models, parts, states, reference, skipped_metrics))
