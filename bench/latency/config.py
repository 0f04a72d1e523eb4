"""Settings of a latency run: what is measured, on what, and how many times (frozen, validated, torch-free).

Sampling rule of every measurement (:func:`bench.latency.timing.measure`): ``warmup`` discarded calls, then
timed calls until at least ``min_runs`` were made *and* they add up to at least ``min_time_s`` seconds, or until
``max_runs`` (a cap that only calls of microseconds reach before the minimum duration).

The counts are totals over the run, which is made of ``rounds`` interleaved rounds: each round takes a calibration
chunk, then a chunk of every stage of every model (:func:`round_policy` gives a chunk its share of the totals). So
every stage's samples, and the calibration's, spread over the whole run; a machine whose speed drifts during the
run (a shared virtual machine, frequency scaling) widens every stage's spread alike instead of biasing whichever
model happened to run in the slow minute. A later round's chunk of a per-frame stage starts with ``REWARM``
discarded calls (the models timed in between evicted its caches); ``prepare`` chunks start cold, as an avatar's
preparation does in use.

Defaults are chosen for 2 CPU cores, a whole default run in about two minutes: a bi-layer ``prepare`` takes
seconds (10 runs), a FOMM ``animate`` about half a second (16 runs, >= 4 s), a bi-layer ``animate`` tens of
milliseconds (>= 4 s of runs, about 100).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from bench.errors import ConfigError

__all__ = [
    "DEFAULT_MODELS",
    "DTYPES",
    "ENV_PREFIX",
    "Dtype",
    "LandmarksChoice",
    "LatencyConfig",
    "StagePolicy",
    "config_from_environ",
    "round_policy",
]

DEFAULT_MODELS: tuple[str, ...] = ("copy-source", "bilayer.paper", "fomm.vox256")
Dtype = Literal["float32", "float16", "bfloat16"]
DTYPES: tuple[str, ...] = ("float32", "float16", "bfloat16")
LandmarksChoice = Literal["auto", "dlib", "fan"]


@dataclass(frozen=True)
class StagePolicy:
    """How many calls one measurement makes (see the module docstring for the rule)."""

    warmup: int = 2
    min_runs: int = 10
    min_time_s: float = 2.0
    max_runs: int = 2000

    def __post_init__(self) -> None:
        if self.warmup < 0:
            raise ConfigError(f"warmup must be >= 0 discarded calls, got {self.warmup}")
        if self.min_runs < 1:
            raise ConfigError(f"min_runs must be >= 1, got {self.min_runs}")
        if self.min_time_s < 0:
            raise ConfigError(f"min_time_s must be >= 0 seconds, got {self.min_time_s}")
        if self.max_runs < self.min_runs:
            raise ConfigError(f"max_runs ({self.max_runs}) must be >= min_runs ({self.min_runs})")


PREPARE_POLICY = StagePolicy(warmup=2, min_runs=10, min_time_s=3.0, max_runs=100)
FRAME_POLICY = StagePolicy(warmup=2, min_runs=16, min_time_s=4.0, max_runs=4000)
CALIBRATION_POLICY = StagePolicy(warmup=1, min_runs=20, min_time_s=2.0, max_runs=400)
ROUNDS = 5
REWARM = 1


def _share(total: int, rounds: int, index: int) -> int:
    """Round ``index``'s part of ``total`` split as evenly as possible over ``rounds`` (the parts add up to it)."""
    return total * (index + 1) // rounds - total * index // rounds


def round_policy(policy: StagePolicy, rounds: int, index: int, warmup: int) -> StagePolicy:
    """Chunk ``index`` of ``rounds`` of a measurement whose totals are ``policy``: its share of ``min_runs`` and
    ``max_runs`` (at least one call), ``min_time_s / rounds``, and ``warmup`` discarded calls."""
    least = max(1, _share(policy.min_runs, rounds, index))
    return StagePolicy(
        warmup=warmup,
        min_runs=least,
        min_time_s=policy.min_time_s / rounds,
        max_runs=max(least, _share(policy.max_runs, rounds, index)),
    )


@dataclass(frozen=True)
class LatencyConfig:
    """One ``bilayer-bench latency`` run.

    ``threads`` 0 keeps torch's default (the number used is recorded either way). ``data_root`` empty means the
    embedded default data set (bi-layer layout); its frames are resized to ``resolution`` when they differ.
    ``landmarks``: driver landmark extractor of the end-to-end stage; ``auto`` takes face-alignment's FAN when
    its two weight files resolve, else dlib's 68-point predictor (shipped by face-recognition-models).
    """

    models: tuple[str, ...] = DEFAULT_MODELS
    device: str = "cpu"
    dtype: Dtype = "float32"
    threads: int = 0
    resolution: int = 256
    batch: int = 1
    compile: bool = False
    random_weights: bool = False
    weights_dir: str = ""
    accept_hash_mismatch: bool = False
    landmarks: LandmarksChoice = "auto"
    data_root: str = ""
    split: str = "test"
    prepare: StagePolicy = field(default_factory=lambda: PREPARE_POLICY)
    frame: StagePolicy = field(default_factory=lambda: FRAME_POLICY)
    calibration: StagePolicy = field(default_factory=lambda: CALIBRATION_POLICY)
    calibration_size: int = 2048
    rounds: int = ROUNDS
    seed: int = 0
    sampling_label: str = ""  # what the record says of its sampling, e.g. a run's short settings ("": none)
    model_args: dict[str, dict[str, Any]] = field(default_factory=dict)  # a user's factory's arguments, per model

    def __post_init__(self) -> None:
        if not self.models:
            raise ConfigError(f"no models to time; name some, e.g. {' '.join(DEFAULT_MODELS)}")
        if self.dtype not in DTYPES:
            raise ConfigError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if self.device != "cpu" and not self.device.startswith("cuda"):
            raise ConfigError(f"device must be cpu or cuda (cuda:N), got {self.device!r}")
        if self.landmarks not in ("auto", "dlib", "fan"):
            raise ConfigError(f"landmarks must be auto, dlib or fan, got {self.landmarks!r}")
        for name, value, least in (
            ("threads", self.threads, 0),
            ("resolution", self.resolution, 16),
            ("batch", self.batch, 1),
            ("calibration_size", self.calibration_size, 16),
            ("rounds", self.rounds, 1),
        ):
            if value < least:
                raise ConfigError(f"{name} must be >= {least}, got {value}")

    def policy(self, stage: str) -> StagePolicy:
        """The sampling policy of ``stage``; under ``compile`` at least one warm-up call (compilation happens there)."""
        policy = self.prepare if stage == "prepare" else self.frame
        return replace(policy, warmup=max(policy.warmup, 1)) if self.compile else policy

    def settings(self) -> dict[str, Any]:
        """What the record's ``settings`` block stores (``threads`` filled in by the harness with the number used)."""
        return {
            "device": self.device,
            "dtype": self.dtype,
            "dtype_method": "torch.autocast (weights stay float32)" if self.dtype != "float32" else "none (float32)",
            "threads": self.threads,
            "resolution": self.resolution,
            "batch": self.batch,
            "compile": self.compile,
            "compile_method": "torch.compile of each model's per-frame networks in place (see the record's models)"
            if self.compile
            else None,
            "grad_mode": "torch.inference_mode",
            "warmup": {"prepare": self.policy("prepare").warmup, "frame": self.policy("animate").warmup},
            "min_runs": {"prepare": self.prepare.min_runs, "frame": self.frame.min_runs},
            "min_time_s": {"prepare": self.prepare.min_time_s, "frame": self.frame.min_time_s},
            "max_runs": {"prepare": self.prepare.max_runs, "frame": self.frame.max_runs},
            "policies": {"prepare": asdict(self.policy("prepare")), "frame": asdict(self.policy("animate"))},
            "untimed_calls": "per stage, before the first round: one call counting FLOPs, then the warm-up calls, "
            f"then one call measuring peak memory; all discarded; and {REWARM} discarded call at the start of each "
            "later round's chunk of a per-frame stage",
            "rounds": self.rounds,
            "sampling_label": self.sampling_label,
            "sampling": f"{self.rounds} interleaved rounds, each a calibration chunk then a chunk of every stage of "
            "every model in order; min_runs, min_time_s and max_runs are totals over the rounds; the calibration "
            "takes one more chunk after the last round",
            "random_weights": self.random_weights,
            "landmarks": self.landmarks,
            "data_root": self.data_root or "embedded default data set",
            "split": self.split,
            "seed": self.seed,
        }


ENV_PREFIX = "BILAYER_BENCH_LATENCY_"
"""Environment variables of the pytest-benchmark suite: ``{ENV_PREFIX}MODELS`` (comma-separated), ``DEVICE``,
``DTYPE``, ``THREADS``, ``BATCH``, ``RESOLUTION``, ``RANDOM_WEIGHTS`` (1/0), ``WEIGHTS_DIR``."""


def config_from_environ(environ: Mapping[str, str]) -> LatencyConfig:
    """A :class:`LatencyConfig` from ``BILAYER_BENCH_LATENCY_*`` variables (unset ones keep the defaults)."""

    def get(name: str, default: str) -> str:
        return environ.get(ENV_PREFIX + name, "").strip() or default

    def number(name: str, default: int) -> int:
        text = get(name, str(default))
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"${ENV_PREFIX}{name} must be an integer, got {text!r}") from None

    models = tuple(m.strip() for m in get("MODELS", ",".join(DEFAULT_MODELS)).split(",") if m.strip())
    return LatencyConfig(
        models=models,
        device=get("DEVICE", "cpu"),
        dtype=get("DTYPE", "float32"),  # type: ignore[arg-type]  # validated in __post_init__
        threads=number("THREADS", 0),
        batch=number("BATCH", 1),
        resolution=number("RESOLUTION", 256),
        random_weights=get("RANDOM_WEIGHTS", "0") not in ("0", "false", "no"),
        weights_dir=get("WEIGHTS_DIR", ""),
    )
