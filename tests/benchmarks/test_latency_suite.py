"""pytest-benchmark suite of the latency stages: one benchmark per (model, stage), grouped "MODEL/STAGE".

    python -m pytest tests/benchmarks/test_latency_suite.py -m benchmark_suite --benchmark-only \\
        --benchmark-json bench-runs/latency-benchmark.json -p no:cacheprovider

Not part of the CI run (marked ``benchmark_suite``); ``nox -s latency`` runs it after ``bilayer-bench latency``.
Settings come from ``BILAYER_BENCH_LATENCY_*`` variables (``MODELS`` comma-separated, default the CLI's default
models; ``DEVICE``, ``DTYPE``, ``THREADS``, ``BATCH``, ``RESOLUTION``, ``RANDOM_WEIGHTS``, ``WEIGHTS_DIR``; see
``bench.latency.config.config_from_environ``) and are recorded in the JSON's machine info (tests/benchmarks/
conftest.py). The callables are those of ``bilayer-bench latency`` (``bench.latency.stages``), with the same
``includes`` text in each benchmark's ``extra_info``; rounds are the CLI's minimum counts. pytest-benchmark times
with the wall clock, so on CUDA each call ends with a device synchronisation. ``end_to_end`` of a model that
needs no landmarks is the same callable as its ``animate`` and is skipped with that reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from bench.latency.config import config_from_environ

pytestmark = pytest.mark.benchmark_suite

SETTINGS = config_from_environ(os.environ)
STAGES = ("prepare", "animate", "end_to_end")


@pytest.fixture(scope="module")
def suite() -> Iterator[dict[str, Any]]:
    import torch

    from bench.config import DataConfig
    from bench.latency.inputs import load_inputs
    from bench.latency.landmarks import choose_landmarks
    from bench.weights import WeightsLocations

    if SETTINGS.device.startswith("cuda") and not torch.cuda.is_available():
        pytest.skip("BILAYER_BENCH_LATENCY_DEVICE asks for CUDA, which is not available")
    if SETTINGS.threads:
        torch.set_num_threads(SETTINGS.threads)
    locations = WeightsLocations.from_environment(SETTINGS.weights_dir or None)
    inputs = load_inputs(DataConfig(), SETTINGS.resolution, SETTINGS.batch, SETTINGS.device)
    yield {
        "locations": locations,
        "inputs": inputs,
        "landmarks": choose_landmarks(SETTINGS.landmarks, locations, SETTINGS.device),
        "models": {},
    }


def _calls(suite: dict[str, Any], model: str) -> dict[str, Any]:
    from bench.latency.harness import load_for_latency, run_context
    from bench.latency.stages import stage_calls

    if model not in suite["models"]:
        notes: list[str] = []
        loaded = load_for_latency(model, SETTINGS, suite["locations"], notes.append)
        with run_context(SETTINGS.device, _dtype()):
            calls = {c.stage: c for c in stage_calls(loaded, suite["inputs"], suite["landmarks"])}
        suite["models"] = {model: (loaded, calls, notes)}  # one model in memory at a time
    return suite["models"][model]


def _dtype() -> Any:
    import torch

    return getattr(torch, SETTINGS.dtype)


@pytest.mark.parametrize(("model", "stage"), [(m, s) for m in SETTINGS.models for s in STAGES], ids=lambda v: v)
def test_latency_stage(benchmark: Any, suite: dict[str, Any], model: str, stage: str) -> None:
    import torch

    from bench.latency.cost import FLOPS_CONVENTION, count_flops
    from bench.latency.harness import run_context

    loaded, calls, notes = _calls(suite, model)
    call = calls[stage]
    if call.same_as is not None:
        pytest.skip(f"{model} needs no driver landmarks: its end_to_end is its animate (group {model}/animate)")
    cuda = SETTINGS.device.startswith("cuda")

    def run() -> object:
        out = call.run()
        if cuda:
            torch.cuda.synchronize()
        return out

    policy = SETTINGS.policy(stage)
    benchmark.group = f"{model}/{stage}"
    with run_context(SETTINGS.device, _dtype()):
        call.setup()
        flops = count_flops(call.count)
        benchmark.extra_info.update(
            model=loaded.label,
            weights_label=loaded.weights_label,
            stage=stage,
            per=call.per,
            batch=call.batch,
            includes=call.includes,
            flops_per_call=flops,
            flops_convention=FLOPS_CONVENTION,
            notes=notes,
            note="times are per call: divide by batch for per-frame figures",
        )
        benchmark.pedantic(run, rounds=policy.min_runs, warmup_rounds=max(1, policy.warmup), iterations=1)
