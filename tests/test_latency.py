"""The latency harness: statistics and sampling rule, cost counting, accounting labels, record format, CLI.

Not the speed itself: every timing here uses a fake clock or tiny models with minimal sample counts.
"""

from __future__ import annotations

import csv
import json
import math
import re
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import test_latency_helpers
import torch
from test_latency_helpers import FakeClock, FixedLandmarks, random_face_alignment_files, stage_row
from torch import nn

from bench.cli import main
from bench.config import DataConfig
from bench.errors import ConfigError, DataError
from bench.latency.calibrate import Calibration, matmul_samples
from bench.latency.cli import output_folder
from bench.latency.config import LatencyConfig, StagePolicy, round_policy
from bench.latency.cost import count_flops, networks, parameter_counts, peak_memory
from bench.latency.harness import comparisons, load_for_latency, measure_stage, run_latency
from bench.latency.inputs import load_inputs, resize_frame
from bench.latency.published import PUBLISHED_LATENCY, published_ratio
from bench.latency.record import LatencyRecord, StageRow, read_record, write_record
from bench.latency.stages import stage_calls
from bench.latency.table import format_latency
from bench.latency.timing import CudaEventTimer, WallTimer, measure, summarize
from bench.models import create_model
from bench.weights import WeightsLocations

TINY_FLAGS = [
    "--min-runs", "2", "--min-time", "0", "--warmup", "0",
    "--prepare-warmup", "0", "--prepare-min-runs", "1", "--prepare-min-time", "0",
    "--calibration-size", "64", "--calibration-runs", "2", "--calibration-min-time", "0", "--rounds", "2",
]  # fmt: skip


# -- statistics and the sampling rule --------------------------------------------------------------------------------
def test_summary_of_known_samples() -> None:
    s = summarize([float(v) for v in range(11, 0, -1)])  # 1..11, unsorted
    assert (s.n, s.median, s.min, s.max, s.mean) == (11, 6.0, 1.0, 11.0, 6.0)
    assert s.p90 == pytest.approx(10.0) and s.p99 == pytest.approx(10.9)
    assert (s.q1, s.q3, s.iqr) == (3.5, 8.5, 5.0)
    four = summarize([4.0, 1.0, 3.0, 2.0])
    assert (four.median, four.q1, four.q3, four.iqr) == (2.5, 1.75, 3.25, 1.5)


def test_summary_of_one_and_of_no_sample() -> None:
    one = summarize([0.25])
    assert (one.median, one.p99, one.iqr, one.min) == (0.25, 0.25, 0.0, 0.25)
    assert math.isnan(summarize([]).median) and summarize([]).n == 0


@pytest.mark.parametrize(
    ("step", "policy", "expected"),
    [
        (0.125, StagePolicy(warmup=2, min_runs=3, min_time_s=1.0, max_runs=100), 8),  # the minimum duration rules
        (0.5, StagePolicy(warmup=0, min_runs=4, min_time_s=1.0, max_runs=100), 4),  # the minimum count rules
        (2**-10, StagePolicy(warmup=1, min_runs=3, min_time_s=1.0, max_runs=50), 50),  # the cap rules
    ],
)
def test_measure_honours_min_count_min_duration_and_cap(step: float, policy: StagePolicy, expected: int) -> None:
    clock = FakeClock()
    samples = measure(lambda: clock.advance(step), policy, WallTimer(clock))
    assert len(samples) == expected
    assert samples == pytest.approx([step] * expected)
    assert clock.calls == expected + policy.warmup  # warm-up calls happen and are discarded
    if expected < policy.max_runs:
        assert sum(samples) >= policy.min_time_s - 1e-9 and len(samples) >= policy.min_runs


def test_wall_timer_times_a_cheap_function() -> None:
    samples = measure(lambda: time.sleep(0.002), StagePolicy(warmup=0, min_runs=3, min_time_s=0.0), WallTimer())
    assert len(samples) == 3 and all(s >= 0.0015 for s in samples)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_runs": 0}, "min_runs must be >= 1"),
        ({"warmup": -1}, "warmup must be >= 0"),
        ({"min_time_s": -1.0}, "min_time_s must be >= 0"),
        ({"min_runs": 5, "max_runs": 4}, r"max_runs \(4\) must be >= min_runs \(5\)"),
    ],
)
def test_stage_policy_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        StagePolicy(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dtype": "float64"}, "dtype must be one of float32, float16, bfloat16"),
        ({"device": "tpu"}, "device must be cpu or cuda"),
        ({"batch": 0}, "batch must be >= 1"),
        ({"models": ()}, "no models to time"),
    ],
)
def test_latency_config_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        LatencyConfig(**kwargs)


def test_compile_implies_a_warm_up_call_per_stage() -> None:
    plain = LatencyConfig(prepare=StagePolicy(warmup=0, min_runs=1), frame=StagePolicy(warmup=0))
    assert plain.policy("prepare").warmup == 0 and plain.policy("animate").warmup == 0
    compiled = replace(plain, compile=True)
    assert compiled.policy("prepare").warmup == 1 and compiled.policy("end_to_end").warmup == 1
    assert compiled.settings()["warmup"] == {"prepare": 1, "frame": 1}


@pytest.mark.parametrize("rounds", [1, 3, 5, 7])
@pytest.mark.parametrize("policy", [StagePolicy(2, 10, 4.0, 4000), StagePolicy(2, 7, 3.0, 50), StagePolicy(0, 3, 0, 3)])
def test_round_policies_share_the_totals(policy: StagePolicy, rounds: int) -> None:
    chunks = [round_policy(policy, rounds, index, warmup=1) for index in range(rounds)]
    assert all(c.min_runs >= 1 and c.max_runs >= c.min_runs and c.warmup == 1 for c in chunks)
    assert sum(c.min_time_s for c in chunks) == pytest.approx(policy.min_time_s)
    if policy.min_runs >= rounds:  # else every chunk still takes one call: more than the total, never fewer
        assert sum(c.min_runs for c in chunks) == policy.min_runs
        assert max(c.min_runs for c in chunks) - min(c.min_runs for c in chunks) <= 1  # as even as possible
        assert sum(c.max_runs for c in chunks) == policy.max_runs
    assert sum(c.min_runs for c in chunks) >= policy.min_runs


def test_rounds_interleave_every_model_and_spread_the_calibration(register_model) -> None:
    register_model("latency.first", "test_latency_helpers:create_recording_first")
    register_model("latency.second", "test_latency_helpers:create_recording_second")
    test_latency_helpers.CALLS.clear()
    config = LatencyConfig(
        models=("latency.first", "latency.second"),
        rounds=3,
        prepare=StagePolicy(warmup=0, min_runs=1, min_time_s=0, max_runs=1),
        frame=StagePolicy(warmup=0, min_runs=6, min_time_s=0, max_runs=6),
        calibration=StagePolicy(warmup=0, min_runs=8, min_time_s=0, max_runs=8),
        calibration_size=16,
    )
    said: list[str] = []
    record = run_latency(config, said.append)
    calls = test_latency_helpers.CALLS
    runs = [name for i, name in enumerate(calls) if i == 0 or calls[i - 1] != name]  # consecutive calls merged
    assert runs == ["first", "second"] * 4  # primed one after the other, then 3 rounds alternating
    assert [text for text in said if text.startswith("round")] == [
        f"round {i}/3: calibration, then latency.first, latency.second" for i in (1, 2, 3)
    ]
    assert record.calibration["chunk_sizes"] == [2, 2, 2, 2]  # 3 rounds + 1 chunk after them; 8 in all
    assert len(record.calibration["chunk_flops_per_s"]) == 4 and len(record.calibration["samples"]) == 8
    assert record.row("latency.first", "animate").n == 6  # 2 per round
    assert record.row("latency.second", "prepare").n == 3  # one call per round at least
    assert record.settings["rounds"] == 3 and "interleaved rounds" in record.settings["sampling"]


# -- cost -------------------------------------------------------------------------------------------------------------
def test_flops_of_a_linear_layer_count_a_multiply_add_twice() -> None:
    layer, x = nn.Linear(8, 4), torch.randn(5, 8)
    with torch.inference_mode():
        assert count_flops(lambda: layer(x)) == 2 * 8 * 4 * 5


def test_flops_of_a_convolution() -> None:
    conv, x = nn.Conv2d(3, 4, 3, padding=1), torch.randn(1, 3, 8, 8)
    assert count_flops(lambda: conv(x)) == 2 * (4 * 8 * 8) * (3 * 3 * 3)


class _Wrapper:
    """A model wrapper that is not a module (like the bi-layer wrapper) holding one network."""

    def __init__(self) -> None:
        self.model = nn.Sequential()
        self.model.add_module("encoder", nn.Linear(3, 2))  # 8 parameters
        self.model.add_module("act", nn.ReLU())  # none: not a network
        self.model.add_module("decoder", nn.Linear(2, 3))  # 9 parameters
        self.note = "not a module"


def test_parameters_per_named_network() -> None:
    assert parameter_counts(_Wrapper()) == {"encoder": 8, "decoder": 9}
    own = nn.Module()
    own.scale = nn.Parameter(torch.ones(4))
    own.head = nn.Linear(2, 2)
    assert parameter_counts(own) == {"head": 6, "Module(own)": 4}
    assert networks(object()) == {} and parameter_counts(object()) == {}


def test_parameters_of_the_registered_tiny_models() -> None:
    where = WeightsLocations.from_environment(None)
    bilayer = create_model("bilayer.tiny", where).model
    counts = parameter_counts(bilayer)
    assert set(counts) == {
        "identity_embedder", "texture_generator", "keypoints_embedder", "inference_generator", "texture_enhancer"
    }  # fmt: skip
    assert sum(counts.values()) == sum(p.numel() for p in bilayer.model.parameters())
    assert set(parameter_counts(create_model("fomm.tiny", where).model)) == {"kp_detector", "generator"}


def test_cpu_peak_memory_sees_a_large_allocation() -> None:
    def allocate() -> None:
        block = torch.ones(16 * 2**20)  # 64 MiB, touched
        time.sleep(0.05)  # alive long enough for the 1 ms sampler
        del block

    grown, method = peak_memory(allocate, "cpu")
    assert grown >= 32 * 2**20
    assert "RSS" in method and "psutil" in method
    assert peak_memory(lambda: None, "cpu")[0] < 32 * 2**20


def test_calibration_rate_and_record() -> None:
    samples = matmul_samples("cpu", torch.float32, 32, StagePolicy(warmup=0, min_runs=3, min_time_s=0), WallTimer())
    assert len(samples) == 3
    calibration = Calibration("float32", 64, "cpu", ((0.001, 0.002, 0.004), (0.002,), (0.004, 0.004)))
    assert calibration.flops_per_matmul == 2 * 64**3
    rate = 2 * 64**3  # FLOPs per product
    assert calibration.flops_per_s == pytest.approx((rate / 0.004 + rate / 0.002) / 2)  # median of the 6 rates
    data = calibration.to_dict()
    assert data["before_flops_per_s"] == pytest.approx(2 * 64**3 / 0.002)  # the first chunk's median
    assert data["after_flops_per_s"] == pytest.approx(2 * 64**3 / 0.004)  # the last chunk's
    assert data["chunk_flops_per_s"] == pytest.approx([2 * 64**3 / s for s in (0.002, 0.002, 0.004)])
    assert data["chunk_sizes"] == [3, 1, 2] and len(data["samples"]) == len(data["samples_s"]) == 6


# -- inputs and accounting --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_inputs(tmp_path_factory: pytest.TempPathFactory):
    from conftest import write_bilayer_dataset

    root = write_bilayer_dataset(tmp_path_factory.mktemp("latency") / "data", size=64, frames=3)
    return load_inputs(DataConfig(root=str(root)), resolution=64, batch=2, device="cpu")


def test_inputs_are_real_frames_in_batches(tiny_inputs) -> None:
    assert len(tiny_inputs.sources) == 2  # one source per identity
    assert all(len(batch) == 2 for batch in tiny_inputs.drivers) and len(tiny_inputs.drivers) == 8
    assert all(batch.landmarks is not None for batch in tiny_inputs.drivers)
    assert float(tiny_inputs.drivers[0].image.std()) > 0.05  # real pixels, not zeros
    assert tiny_inputs.driver_images[0][0].dtype == np.uint8
    assert tiny_inputs.info["driver_frames"] == 8 and tiny_inputs.info["resolution"] == 64


def test_resolution_resizes_frames_and_landmarks(tmp_path: Path) -> None:
    from conftest import write_bilayer_dataset

    root = write_bilayer_dataset(tmp_path / "data", size=64, frames=2, persons=1, sequences=1)
    inputs = load_inputs(DataConfig(root=str(root)), resolution=32, batch=1, device="cpu")
    assert tuple(inputs.sources[0].image.shape) == (1, 3, 32, 32)
    original = load_inputs(DataConfig(root=str(root)), resolution=64, batch=1, device="cpu")
    assert torch.allclose(inputs.sources[0].landmarks, original.sources[0].landmarks / 2)


def test_resize_frame_is_identity_at_the_same_size(tiny_inputs) -> None:
    from bench.data import open_dataset

    dataset = open_dataset(DataConfig(root=tiny_inputs.info["root"]))
    frame = dataset.load(dataset.sequences[0], [0])[0]
    assert resize_frame(frame, 64) is frame


@pytest.mark.parametrize(("name", "needs_landmarks"), [("copy-source", False), ("fomm.tiny", False),
                                                       ("bilayer.tiny", True)])  # fmt: skip
def test_accounting_labels_and_what_each_stage_runs(tiny_inputs, name: str, needs_landmarks: bool) -> None:
    loaded = create_model(name, WeightsLocations.from_environment(None))
    extractor = FixedLandmarks()
    with torch.inference_mode():
        calls = {call.stage: call for call in stage_calls(loaded, tiny_inputs, extractor)}
        assert [c.per for c in calls.values()] == ["avatar", "frame", "frame"]
        assert calls["prepare"].includes.startswith("model.prepare(source): everything per avatar")
        assert "excludes decoding, driver landmark extraction" in calls["animate"].includes
        assert "call time / batch (2)" in calls["animate"].includes and calls["animate"].batch == 2
        calls["prepare"].run()
        calls["animate"].run()
        assert extractor.calls == 0  # animate uses the data set's landmarks
        end_to_end = calls["end_to_end"]
        end_to_end.run()
    if needs_landmarks:
        assert end_to_end.same_as is None and end_to_end.landmarks == "fixed"
        assert end_to_end.includes.startswith("driver landmark extraction (fixed test landmarks)")
        assert extractor.calls == 1 and end_to_end.misses is not None and end_to_end.misses.frames == 2
    else:
        assert end_to_end.same_as == "animate" and end_to_end.run is calls["animate"].run
        assert f"{name} needs no driver landmarks" in end_to_end.includes
        assert "not measured again" in end_to_end.includes
        assert extractor.calls == 0


def test_missed_faces_are_counted_and_replaced_by_the_data_sets_landmarks(tiny_inputs) -> None:
    loaded = create_model("bilayer.tiny", WeightsLocations.from_environment(None))
    extractor = FixedLandmarks(miss=True)
    with torch.inference_mode():
        end_to_end = stage_calls(loaded, tiny_inputs, extractor)[2]
        out = end_to_end.run()
    assert torch.isfinite(out.images).all()  # the bi-layer model returns its crops (output geometry "crop")
    assert end_to_end.misses is not None and (end_to_end.misses.missed, end_to_end.misses.frames) == (2, 2)


def test_measure_stage_counts_flops_per_call_and_times_each_call(tiny_inputs) -> None:
    loaded = create_model("fomm.tiny", WeightsLocations.from_environment(None))
    with torch.inference_mode():
        call = stage_calls(loaded, tiny_inputs, None)[1]
        measured = measure_stage(call, StagePolicy(warmup=1, min_runs=2, min_time_s=0), WallTimer(), "cpu")
    assert len(measured.samples_s) == 2 and measured.flops > 0 and measured.peak_memory_bytes >= 0


def test_per_sequence_work_is_neither_timed_nor_counted_as_per_frame(tiny_inputs) -> None:
    from baselines.fomm.factory import tiny_config
    from baselines.fomm.model import FommModel
    from bench.models import MODELS, LoadedModel

    torch.manual_seed(0)
    relative = FommModel(tiny_config(), relative=True, adapt_movement_scale=True).requires_grad_(False)
    loaded = LoadedModel(MODELS.get("fomm.tiny"), relative, "random", ())
    with torch.inference_mode():
        animate = stage_calls(loaded, tiny_inputs, None)[1]
        assert "begin_sequence over the driver frames, both outside the timing" in animate.includes
        measured = measure_stage(animate, StagePolicy(warmup=0, min_runs=1, min_time_s=0), WallTimer(), "cpu")
        state = relative.begin_sequence(relative.prepare(tiny_inputs.sources[0]), tiny_inputs.sequence)
        assert measured.flops == count_flops(lambda: relative.animate(state, tiny_inputs.drivers[0]))


def test_random_weights_fallback_is_said_and_labelled(register_model) -> None:
    import fake_models

    register_model("latency.needs-weights", "fake_models:create_recording", weights=("fomm.vox-cpk",))
    said: list[str] = []
    loaded = load_for_latency("latency.needs-weights", LatencyConfig(), WeightsLocations(), said.append)
    assert loaded.weights_label == "random" and loaded.label.endswith("[RANDOM WEIGHTS]")
    assert fake_models.RECEIVED[-1] is None
    assert len(said) == 1 and "timing random weights of the same architecture" in said[0]
    assert "vox-cpk.pth.tar" in said[0]


# -- record and table -------------------------------------------------------------------------------------------------
def _record(rows: tuple[StageRow, ...]) -> LatencyRecord:
    calibration = Calibration("float32", 64, "cpu", ((0.001, 0.001), (0.001,))).to_dict()
    settings = {**LatencyConfig().settings(), "threads": 2}
    return LatencyRecord(
        environment={"device": "cpu", "torch_threads": 2},
        settings=settings,
        calibration=calibration,
        stages=rows,
        comparisons=tuple(comparisons(rows, "cpu, float32, 2 threads")),
        published=tuple(p.to_dict() for p in PUBLISHED_LATENCY),
        machine_load={"before": [0.5, 0.4, 0.3], "after": [1.5, 0.6, 0.4], "cpu_count": 2},
    )


def test_achieved_fraction_is_flops_over_median_time_over_the_calibration_rate() -> None:
    from bench.latency.harness import with_achieved_fraction

    row = stage_row("bilayer.paper", "animate", median_s=0.04, flops=2 * 10**9)
    assert with_achieved_fraction(row, 1e11).achieved_fraction == pytest.approx(0.5)
    assert with_achieved_fraction(replace(row, median_s=None), 1e11).achieved_fraction is None
    assert with_achieved_fraction(row, float("nan")).achieved_fraction is None


def test_comparisons_state_the_ratio_side_by_side_with_the_papers() -> None:
    rows = (
        stage_row("bilayer.paper", "animate", median_s=0.045, weights_label="random"),
        stage_row("fomm.vox256", "animate", median_s=0.5535, weights_label="random"),
        stage_row("copy-source", "animate", median_s=0.00001),
    )
    (measured, paper) = comparisons(rows, "cpu")
    assert measured["ratio"] == pytest.approx(12.3) and measured["measured"] is True
    assert measured["text"].startswith(
        "fomm.vox256 [RANDOM WEIGHTS] animate / bilayer.paper [RANDOM WEIGHTS] animate = 12.3x"
    )
    assert paper == published_ratio("fomm", "bilayer")
    assert paper["ratio"] == pytest.approx(13 / 4) and paper["measured"] is False
    assert "reported in paper (desktop GPU, unstated)" in paper["text"]


def test_record_round_trip_schema_and_strict_json(tmp_path: Path) -> None:
    rows = (
        stage_row("bilayer.tiny", "animate", median_s=0.01),
        replace(stage_row("copy-source", "prepare", median_s=0.0), achieved_fraction=float("nan")),
    )
    record = _record(rows)
    path = write_record(record, tmp_path / "out")
    data = json.loads(path.read_text())
    assert (data["schema"], data["schema_version"]) == ("bilayer-bench/latency", 1)
    assert {"environment", "settings", "calibration", "stages", "comparisons", "published"} <= set(data)
    assert data["stages"][1]["achieved_fraction"] is None  # NaN written as null
    assert "NaN" not in path.read_text()
    for key in ("device", "dtype", "threads", "resolution", "batch", "compile", "warmup", "min_runs", "min_time_s"):
        assert key in data["settings"]
    for key in ("dtype", "size", "flops_per_s", "iqr", "samples"):
        assert key in data["calibration"]
    back = read_record(tmp_path / "out")
    assert back.row("bilayer.tiny", "animate") == rows[0]
    assert back.to_dict() == record.to_dict()
    with (tmp_path / "out" / "latency_samples.csv").open() as handle:
        samples = list(csv.DictReader(handle))
    assert len(samples) == sum(len(r.samples_s) for r in rows)
    assert {s["stage"] for s in samples} == {"animate", "prepare"}


def test_read_record_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="latency record not found"):
        read_record(tmp_path)
    (tmp_path / "latency.json").write_text(json.dumps({"schema": "bilayer-bench/results", "schema_version": 1}))
    with pytest.raises(DataError, match="schema is 'bilayer-bench/results', expected 'bilayer-bench/latency'"):
        read_record(tmp_path)
    (tmp_path / "latency.json").write_text(json.dumps({"schema": "bilayer-bench/latency", "schema_version": 99}))
    with pytest.raises(DataError, match="schema_version 99 is not 1"):
        read_record(tmp_path / "latency.json")


def test_table_columns_marks_and_published_figures() -> None:
    rows = (
        stage_row("bilayer.paper", "animate", median_s=0.045, weights_label="random", flops=2 * 10**9),
        stage_row("fomm.vox256", "animate", median_s=0.55, weights_label="random"),
        replace(stage_row("fomm.vox256", "end_to_end", median_s=0.55, weights_label="random"), same_as="animate"),
    )
    text = format_latency(_record(rows))
    header = text.splitlines()[1]
    for column in ("median ms", "IQR ms", "p90 ms", "p99 ms", "n", "GFLOP", "% of cal.", "peak MiB", "params M"):
        assert column in header
    assert "bilayer.paper [RANDOM WEIGHTS]" in text and "end_to_end (= animate)" in text
    assert re.search(r"bilayer\.paper \[RANDOM WEIGHTS\]\s+animate\s+frame\s+45\.00 .* 2\.000", text)
    assert "fomm.vox256 [RANDOM WEIGHTS] animate / bilayer.paper [RANDOM WEIGHTS] animate = 12.2x" in text
    assert "calibration: 64x64 float32 matmul on cpu" in text
    assert "machine load (1-min average) before 0.5, after 1.5, on 2 CPUs" in text
    assert "reported in paper (desktop GPU, unstated)" in text
    assert "42 ms/frame, reported in paper (Adreno 640 (Snapdragon 855) GPU FP16)" in text


def test_published_figures_match_the_shared_reference() -> None:
    shared = Path(__file__).resolve().parents[2] / "shared" / "reference" / "published.csv"
    if not shared.is_file():
        pytest.skip(f"{shared} is not part of this checkout")
    with shared.open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["metric"] == "inference_time"]
    fields = ("method", "model_size", "value", "device", "source", "verified")
    expected = {tuple(float(r[f]) if f == "value" else r[f] for f in fields) for r in rows}
    ours = {(p.method, p.model_size, p.value_ms, p.device, p.source, p.verified) for p in PUBLISHED_LATENCY}
    assert ours == expected


# -- command line -----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cli_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, Path]:
    out = tmp_path_factory.mktemp("latency-cli") / "out"
    models = ["copy-source", "bilayer.tiny", "fomm.tiny"]
    threads = torch.get_num_threads()
    code = main(["latency", *models, *TINY_FLAGS, "--threads", "1", "--out", str(out)])
    assert torch.get_num_threads() == threads  # the run's thread count does not leak into the process
    return code, out


def test_cli_on_tiny_models_writes_the_record_and_prints_the_table(cli_run, capsys) -> None:
    code, out = cli_run
    assert code == 0
    record = read_record(out)
    assert [(r.model, r.stage) for r in record.stages] == [
        (m, s) for m in ("copy-source", "bilayer.tiny", "fomm.tiny") for s in ("prepare", "animate", "end_to_end")
    ]
    assert record.settings["threads"] == 1 and record.environment["torch_threads"] == 1
    assert record.row("bilayer.tiny", "end_to_end").landmarks == "dlib68"
    assert record.row("fomm.tiny", "end_to_end").same_as == "animate"
    assert record.row("bilayer.tiny", "animate").flops > 0
    assert record.row("bilayer.tiny", "animate").achieved_fraction > 0
    assert record.row("copy-source", "animate").flops == 0
    assert all(r.n >= 1 and len(r.samples_s) == r.n for r in record.stages)
    assert record.row("fomm.tiny", "prepare").weights_label == "random"
    assert record.comparisons[0]["numerator"] == "fomm.tiny" and record.comparisons[0]["denominator"] == "bilayer.tiny"
    assert record.inputs["embedded_default"] is True
    assert record.machine_load["cpu_count"] >= 1 and len(record.machine_load["after"]) == 3
    assert (out / "latency_samples.csv").is_file()


def test_cli_prints_the_table(tmp_path: Path, capsys) -> None:
    code = main(["latency", "copy-source", *TINY_FLAGS, "--threads", "1", "--out", str(tmp_path / "o")])
    printed = capsys.readouterr().out
    assert code == 0
    assert "copy-source" in printed and "GFLOP" in printed and "% of cal." in printed
    assert "calibration: 64x64 float32 matmul" in printed and "reported in paper" in printed
    assert "no bi-layer and FOMM pair in this run" in printed
    assert f"latency record: {tmp_path / 'o' / 'latency.json'}" in printed


def test_cli_writes_into_a_run_directory(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.toml").write_text('name = "x"\n')
    assert main(["latency", "copy-source", *TINY_FLAGS, "--run-dir", str(run_dir)]) == 0
    assert read_record(run_dir).stages[0].model == "copy-source"


def test_cli_errors_name_the_fix(tmp_path: Path, capsys) -> None:
    assert main(["latency", "copy-source", "--run-dir", str(tmp_path)]) == 2
    assert "not a run directory of `bilayer-bench run`" in capsys.readouterr().err
    assert main(["latency", "copy-sorce", *TINY_FLAGS, "--out", str(tmp_path / "x")]) == 2
    assert "Did you mean 'copy-source'" in capsys.readouterr().err
    assert main(["latency", "copy-source", "--batch", "0"]) == 2
    assert "batch must be >= 1" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main(["latency", "copy-source", "--device", "cuda", "--out", str(tmp_path / "y")]) == 2
        assert "CUDA is not available in this torch build or machine; use --device cpu" in capsys.readouterr().err


def test_a_failing_model_is_recorded_and_the_exit_code_says_so(tmp_path: Path, register_model, capsys) -> None:
    register_model("latency.broken", "test_latency_helpers:create_broken")
    assert main(["latency", "copy-source", "latency.broken", *TINY_FLAGS, "--out", str(tmp_path / "o")]) == 1
    record = read_record(tmp_path / "o")
    assert [f["model"] for f in record.failures] == ["latency.broken"]
    assert "RuntimeError: broken on purpose" in record.failures[0]["error"]
    assert "FAILED latency.broken" in capsys.readouterr().out


def test_cli_bfloat16_autocast_is_recorded(tmp_path: Path) -> None:
    assert main(["latency", "copy-source", *TINY_FLAGS, "--dtype", "bfloat16", "--out", str(tmp_path / "o")]) == 0
    record = read_record(tmp_path / "o")
    assert record.calibration["dtype"] == "bfloat16" and record.settings["dtype"] == "bfloat16"
    assert record.settings["dtype_method"].startswith("torch.autocast")


def test_default_output_folder_is_dated() -> None:
    assert re.fullmatch(r"bench-runs/latency-\d{8}-\d{6}", output_folder(None, None).as_posix())
    assert output_folder(Path("x"), None) == Path("x")


@pytest.mark.slow  # inductor compiles C++ on the CPU: minutes
@pytest.mark.filterwarnings("ignore::DeprecationWarning:torch.*")  # torch.compile's own imports
def test_cli_compile_compiles_the_per_frame_networks(tmp_path: Path) -> None:
    models = ["copy-source", "bilayer.tiny", "fomm.tiny"]
    assert main(["latency", *models, *TINY_FLAGS, "--threads", "1", "--compile", "--out", str(tmp_path / "o")]) == 0
    record = read_record(tmp_path / "o")
    assert record.settings["compile"] is True and record.settings["warmup"] == {"prepare": 1, "frame": 1}
    compiled = {m["model"]: m["compiled"] for m in record.models}
    assert compiled == {
        "copy-source": ["animate"],
        "bilayer.tiny": ["model.animate_poses"],
        "fomm.tiny": ["kp_detector", "generator.dense_motion_network", "generator.warp", "generator.decode"],
    }
    assert record.row("fomm.tiny", "animate").flops > 0  # counted with the compiled parts run eagerly


@pytest.mark.gpu
def test_cuda_timer_and_memory() -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    a = torch.randn(512, 512, device="cuda")
    samples = measure(lambda: a @ a, StagePolicy(warmup=1, min_runs=3, min_time_s=0), CudaEventTimer("cuda"))
    assert len(samples) == 3 and all(s > 0 for s in samples)
    grown, method = peak_memory(lambda: torch.empty(2**20, device="cuda").fill_(1), "cuda")
    assert grown >= 4 * 2**20 and "max_memory_allocated" in method


def test_landmark_extractor_choice(tmp_path: Path) -> None:
    from bench.errors import WeightsError
    from bench.latency.landmarks import DlibDriverLandmarks, FanDriverLandmarks, choose_landmarks

    assert isinstance(choose_landmarks("auto", WeightsLocations(), "cpu"), DlibDriverLandmarks)
    with pytest.raises(WeightsError, match=r"2DFAN4-11f355bf06\.pth\.tar"):
        choose_landmarks("fan", WeightsLocations(), "cpu")
    random_face_alignment_files(tmp_path)
    where = WeightsLocations(weights_dir=tmp_path, accept_mismatch=True)
    fan = choose_landmarks("auto", where, "cpu")
    assert isinstance(fan, FanDriverLandmarks) and fan.name == "fan68" and "2D-FAN" in fan.description
    assert isinstance(choose_landmarks("dlib", where, "cpu"), DlibDriverLandmarks)


@pytest.mark.slow  # random S3FD weights detect many "faces", and FAN runs on each
def test_fan_extractor_answers_for_every_frame(tmp_path: Path) -> None:
    from bench.latency.landmarks import choose_landmarks

    random_face_alignment_files(tmp_path)
    fan = choose_landmarks("fan", WeightsLocations(weights_dir=tmp_path, accept_mismatch=True), "cpu")
    points = fan([np.zeros((32, 32, 3), np.uint8)] * 2, torch.rand(2, 3, 32, 32))
    assert points.shape == (2, 68, 2)  # random weights: a face or NaN for none, either is an answer


def test_dlib_extractor_finds_the_face_of_a_real_frame() -> None:
    from bench.data import open_dataset
    from bench.latency.landmarks import choose_landmarks

    dataset = open_dataset(DataConfig())
    frame = dataset.load(dataset.sequences[0], [1])[0]  # the embedded set's first identity is a photograph
    found = choose_landmarks("dlib", WeightsLocations(), "cpu")([frame.image], torch.empty(0))
    assert np.isfinite(found).all()
    assert np.abs(found[0] - frame.landmarks).mean() < 10  # the data set's landmarks are dlib's, near enough


def test_suite_settings_from_the_environment() -> None:
    from bench.latency.config import config_from_environ

    config = config_from_environ(
        {"BILAYER_BENCH_LATENCY_MODELS": "copy-source, fomm.tiny", "BILAYER_BENCH_LATENCY_THREADS": "2"}
    )
    assert config.models == ("copy-source", "fomm.tiny") and config.threads == 2 and config.device == "cpu"
    assert config_from_environ({}).models == ("copy-source", "bilayer.paper", "fomm.vox256")
    with pytest.raises(ConfigError, match=r"\$BILAYER_BENCH_LATENCY_BATCH must be an integer, got 'two'"):
        config_from_environ({"BILAYER_BENCH_LATENCY_BATCH": "two"})
