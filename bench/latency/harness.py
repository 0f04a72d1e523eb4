"""A latency run: every stage of every model measured and costed against a calibration, into a :class:`LatencyRecord`.

First every model is loaded and each of its stages primed: one call under the FLOP counter (untimed; it also
warms caches), ``warmup`` discarded calls, one call measuring peak memory (untimed). Then ``rounds`` interleaved
rounds: a calibration chunk, then a chunk of timed calls (:func:`bench.latency.timing.measure`) of every stage of
every model, each chunk its share of the stage's sampling totals (:func:`bench.latency.config.round_policy`); one
more calibration chunk ends the run. A stage's samples thus spread over the whole run, as the calibration's do:
the machine's drift shows as spread (IQR) in every row instead of as a bias in some. Everything
runs under ``torch.inference_mode``, and under ``torch.autocast`` at the run's dtype when that is not float32
(weights stay float32; autocast runs matrix products and convolutions in the dtype). ``--compile`` compiles each
model's per-frame networks in place (:mod:`bench.latency.compiling` says which and why); compilation happens in
the warm-up calls and the FLOP count runs the compiled parts eagerly.

Weights: the real files when they resolve; otherwise, or with ``random_weights``, random weights of the same
architecture (latency does not depend on weight values), labelled ``random`` in the record and
``[RANDOM WEIGHTS]`` in tables. A model that fails is recorded under ``failures`` and the run goes on.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import torch

from bench.config import DataConfig
from bench.environment import collect_environment
from bench.errors import ConfigError, WeightsError
from bench.latency.calibrate import Calibration, matmul_samples
from bench.latency.compiling import compile_model, eager
from bench.latency.config import REWARM, LatencyConfig, StagePolicy, round_policy
from bench.latency.cost import FLOPS_CONVENTION, FLOPS_COUNTED, count_flops, freeze, parameter_counts, peak_memory
from bench.latency.inputs import LatencyInputs, load_inputs
from bench.latency.landmarks import DriverLandmarks, choose_landmarks
from bench.latency.published import PUBLISHED_LATENCY, published_ratio
from bench.latency.record import LatencyRecord, StageRow
from bench.latency.stages import StageCall, stage_calls
from bench.latency.timing import Timer, make_timer, measure, summarize
from bench.models import MODELS, LoadedModel, create_model
from bench.weights import WeightsLocations
from bench.weights.load import checkpoint_errors

__all__ = [
    "Measurement",
    "comparisons",
    "load_for_latency",
    "measure_stage",
    "prime_stage",
    "run_context",
    "run_latency",
    "with_achieved_fraction",
]

log = logging.getLogger(__name__)
FAMILIES = {"bilayer.": "bilayer", "baselines.fomm.": "fomm"}  # factory module prefix -> family of comparisons


@dataclass(frozen=True)
class Measurement:
    """A stage measured, before the calibration rate is known: per-call samples and per-call cost."""

    call: StageCall
    samples_s: tuple[float, ...]  # per call
    flops: int  # per call
    peak_memory_bytes: int
    memory_method: str


@contextlib.contextmanager
def run_context(device: str, dtype: torch.dtype) -> Iterator[None]:
    """``torch.inference_mode`` and, for a dtype other than float32, ``torch.autocast`` on ``device``."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(torch.inference_mode())
        if dtype != torch.float32:
            stack.enter_context(torch.autocast(torch.device(device).type, dtype=dtype))
        yield


def load_for_latency(
    name: str, config: LatencyConfig, locations: WeightsLocations, say: Callable[[str], None]
) -> LoadedModel:
    """The model with its real weights when they resolve, else with random weights (said through ``say``)."""
    if not config.random_weights:
        try:
            with checkpoint_errors():  # a file the model's reader refuses is a WeightsError too
                loaded = create_model(
                    name, locations, device=config.device, seed=config.seed, args=config.model_args.get(name)
                )
        except WeightsError as error:
            say(
                f"{name}: real weights not usable, timing random weights of the same architecture instead "
                f"(latency does not depend on weight values; rows marked [RANDOM WEIGHTS]). Reason: {error}"
            )
        else:
            freeze(loaded.model)
            return loaded
    loaded = create_model(
        name, locations, random_weights=True, device=config.device, seed=config.seed, args=config.model_args.get(name)
    )
    freeze(loaded.model)
    return loaded


def prime_stage(call: StageCall, policy: StagePolicy, device: str, compiled: bool = False) -> tuple[int, int, str]:
    """The untimed part of a stage: its state, the FLOP count, ``policy.warmup`` discarded calls, then one call
    measuring peak memory. Returns (FLOPs per call, peak memory bytes, memory method)."""
    call.setup()
    with eager() if compiled else contextlib.nullcontext():
        flops = count_flops(call.count)
    for _ in range(policy.warmup):
        call.run()
    memory, method = peak_memory(call.run, device)
    return flops, memory, method


def measure_stage(
    call: StageCall, policy: StagePolicy, timer: Timer, device: str, compiled: bool = False
) -> Measurement:
    """One stage on its own: :func:`prime_stage`, then its timed calls in one go (no rounds)."""
    flops, memory, method = prime_stage(call, policy, device, compiled)
    samples = measure(call.run, replace(policy, warmup=0), timer)
    return Measurement(call, tuple(samples), flops, memory, method)


@dataclass
class _Primed:
    """A stage primed and collecting samples over the rounds (internal, mutable)."""

    call: StageCall
    policy: StagePolicy
    flops: int
    memory: int
    method: str
    samples: list[float]

    def chunk_policy(self, rounds: int, index: int) -> StagePolicy:
        warmup = 0 if index == 0 or self.call.per == "avatar" else REWARM
        return round_policy(self.policy, rounds, index, warmup)


def with_achieved_fraction(row: StageRow, rate: float) -> StageRow:
    """``row`` with its achieved fraction of the calibration ``rate``: FLOPs / median time / rate."""
    usable = row.flops is not None and row.median_s and rate > 0 and math.isfinite(rate)
    return replace(row, achieved_fraction=row.flops / row.median_s / rate if usable else None)


def _row(loaded: LoadedModel, m: Measurement, params: dict[str, int]) -> StageRow:
    """The stage's row, its achieved fraction still unknown (the calibration ends the run)."""
    call, batch = m.call, m.call.batch
    per_unit = [s / batch for s in m.samples_s]
    stats = summarize(per_unit)
    flops = m.flops / batch
    notes = [call.flops_note] if call.flops_note else []
    if call.misses is not None and call.misses.missed:
        notes.append(f"no face found in {call.misses.missed} of {call.misses.frames} driver frames (data set's used)")
    return StageRow(
        model=loaded.spec.name,
        label=loaded.label,
        weights_label=loaded.weights_label,
        stage=call.stage,
        per=call.per,
        includes=call.includes,
        batch=batch,
        n=stats.n,
        median_s=stats.median,
        p90_s=stats.p90,
        p99_s=stats.p99,
        iqr_s=stats.iqr,
        min_s=stats.min,
        mean_s=stats.mean,
        flops=round(flops),
        flops_convention=FLOPS_CONVENTION,
        flops_counted=FLOPS_COUNTED,
        achieved_fraction=None,
        peak_memory_bytes=m.peak_memory_bytes,
        memory_method=m.memory_method,
        params=params,
        samples_s=tuple(per_unit),
        same_as=call.same_as,
        landmarks=call.landmarks,
        landmarks_missed=None if call.misses is None else call.misses.missed,
        notes=tuple(notes),
    )


def _family(model: str) -> str | None:
    factory = MODELS.get(model).factory
    return next((family for prefix, family in FAMILIES.items() if factory.startswith(prefix)), None)


def comparisons(rows: tuple[StageRow, ...], where: str) -> list[dict[str, Any]]:
    """FOMM-family over bilayer-family per-frame medians (animate and end_to_end), then the papers' ratio."""
    out: list[dict[str, Any]] = []
    for stage in ("animate", "end_to_end"):
        staged = [r for r in rows if r.stage == stage and r.median_s]
        for a in (r for r in staged if _family(r.model) == "fomm"):
            for b in (r for r in staged if _family(r.model) == "bilayer"):
                ratio = a.median_s / b.median_s
                out.append(
                    {
                        "numerator": a.model,
                        "denominator": b.model,
                        "stage": stage,
                        "ratio": ratio,
                        "numerator_median_s": a.median_s,
                        "denominator_median_s": b.median_s,
                        "measured": True,
                        "label": f"measured here ({where})",
                        "text": f"{a.label} {stage} / {b.label} {stage} = {ratio:.1f}x ({a.median_s * 1e3:.1f} ms vs "
                        f"{b.median_s * 1e3:.1f} ms per frame, medians)",
                    }
                )
    paper = published_ratio("fomm", "bilayer")
    if paper is not None:
        out.append(paper)
    return out


def _check_device(device: str) -> None:
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: CUDA is not available in this torch build or machine; use --device cpu")


@dataclass
class _Model:
    """A loaded model with its primed stages (aliases such as end_to_end = animate are resolved at the end)."""

    loaded: LoadedModel
    params: dict[str, int]
    compiled: list[str]
    primed: dict[str, _Primed]
    aliases: dict[str, StageCall]

    def measurements(self) -> list[Measurement]:
        out = {k: Measurement(p.call, tuple(p.samples), p.flops, p.memory, p.method) for k, p in self.primed.items()}
        for stage, call in self.aliases.items():
            out[stage] = replace(out[call.same_as], call=call)
        return [out[stage] for stage in ("prepare", "animate", "end_to_end") if stage in out]


def _prime_model(
    loaded: LoadedModel, config: LatencyConfig, inputs: LatencyInputs, landmarks: DriverLandmarks | None
) -> tuple[dict[str, _Primed], dict[str, StageCall]]:
    primed: dict[str, _Primed] = {}
    aliases: dict[str, StageCall] = {}
    for call in stage_calls(loaded, inputs, landmarks):
        if call.same_as is not None:
            aliases[call.stage] = call
            continue
        policy = config.policy(call.stage)
        flops, memory, method = prime_stage(call, policy, config.device, config.compile)
        primed[call.stage] = _Primed(call, policy, flops, memory, method, [])
    return primed, aliases


def _sample_rounds(
    models: dict[str, _Model],
    config: LatencyConfig,
    dtype: torch.dtype,
    timer: Timer,
    say: Callable[[str], None],
    failed: Callable[[str, Exception], None],
) -> Calibration:
    """The interleaved rounds (module docstring): samples go into each model's primed stages; a model that fails
    is handed to ``failed`` (which drops it from ``models``). Returns the calibration of all chunks."""
    rounds = config.rounds
    say(f"calibration: {config.calibration_size}^2 {config.dtype} matmul on {config.device}, one chunk per round")

    def calibrate(index: int) -> tuple[float, ...]:
        warmup = config.calibration.warmup if index == 0 else REWARM
        policy = round_policy(config.calibration, rounds + 1, index, warmup)
        return tuple(matmul_samples(config.device, dtype, config.calibration_size, policy, timer))

    chunks: list[tuple[float, ...]] = []
    for index in range(rounds):
        say(f"round {index + 1}/{rounds}: calibration, then {', '.join(models) or 'no models'}")
        chunks.append(calibrate(index))
        for name, model in list(models.items()):
            try:
                with run_context(config.device, dtype):
                    for primed in model.primed.values():
                        primed.samples += measure(primed.call.run, primed.chunk_policy(rounds, index), timer)
            except Exception as error:  # recorded; the other models go on
                failed(name, error)
    chunks.append(calibrate(rounds))
    return Calibration(config.dtype, config.calibration_size, config.device, tuple(chunks))


def run_latency(config: LatencyConfig, say: Callable[[str], None] | None = None) -> LatencyRecord:
    """Measure every model of ``config``; ``say`` receives progress and notes (default: logging). Torch's CPU
    threads are set to ``config.threads`` (when given) for the run and restored afterwards."""
    for name in config.models:
        MODELS.get(name)  # unknown names fail before anything is measured
    _check_device(config.device)
    previous = torch.get_num_threads()
    if config.threads:
        torch.set_num_threads(config.threads)
    try:
        return _run(config, say or log.info)
    finally:
        torch.set_num_threads(previous)


def _load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):  # not available on this platform
        return None


def _run(config: LatencyConfig, say: Callable[[str], None]) -> LatencyRecord:
    load_before = _load_average()
    dtype, timer = getattr(torch, config.dtype), make_timer(config.device)
    locations = WeightsLocations.from_environment(
        config.weights_dir or None, accept_mismatch=config.accept_hash_mismatch
    )
    data = DataConfig(root=config.data_root, layout="bilayer", split=config.split)
    inputs = load_inputs(data, config.resolution, config.batch, config.device)
    needs = any(MODELS.get(name).needs_landmarks for name in config.models)
    landmarks = choose_landmarks(config.landmarks, locations, config.device) if needs else None
    notes: list[str] = [f"driver landmarks: {landmarks.description}"] if landmarks else []

    def note(text: str) -> None:
        notes.append(text)
        say(text)

    models: dict[str, _Model] = {}
    failures: list[dict[str, str]] = []

    def failed(name: str, error: Exception) -> None:
        failures.append({"model": name, "error": f"{type(error).__name__}: {error}"})
        say(f"{name}: FAILED ({type(error).__name__}: {error})")
        models.pop(name, None)  # the next models must not share memory with this one
        gc.collect()
        if config.compile:
            torch._dynamo.reset()  # drop half-built compiled code before the next model
        if config.device.startswith("cuda"):
            torch.cuda.empty_cache()

    for name in config.models:
        say(f"{name}: loading, counting FLOPs, warming up, measuring memory")
        try:
            loaded = load_for_latency(name, config, locations, note)
            params = parameter_counts(loaded.model)
            compiled = compile_model(loaded.model, loaded.spec.factory) if config.compile else []
            with run_context(config.device, dtype):
                primed, aliases = _prime_model(loaded, config, inputs, landmarks)
            models[name] = _Model(loaded, params, compiled, primed, aliases)
        except Exception as error:  # any model error (torch.compile raises assertions too): recorded, run goes on
            failed(name, error)
    calibration = _sample_rounds(models, config, dtype, timer, say, failed)
    rows = [_row(m.loaded, measured, m.params) for m in models.values() for measured in m.measurements()]
    described = [{**m.loaded.provenance(), "label": m.loaded.label, "compiled": m.compiled} for m in models.values()]
    stages = tuple(with_achieved_fraction(row, calibration.flops_per_s) for row in rows)
    threads = torch.get_num_threads()
    return LatencyRecord(
        environment=collect_environment(config.device),
        settings={**config.settings(), "threads": threads, "timer": timer.name},
        calibration=calibration.to_dict(),
        stages=stages,
        comparisons=tuple(comparisons(stages, f"{config.device}, {config.dtype}, {threads} threads")),
        published=tuple(p.to_dict() for p in PUBLISHED_LATENCY),
        models=tuple(described),
        inputs={**inputs.info, "landmarks": landmarks.description if landmarks else None},
        notes=tuple(notes),
        failures=tuple(failures),
        machine_load={"before": load_before, "after": _load_average(), "cpu_count": os.cpu_count()},
    )
