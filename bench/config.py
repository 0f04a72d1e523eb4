"""Run configuration: frozen dataclasses read from TOML files.

The embedded default is ``bench/configs/default.toml``; ``bilayer-bench run`` without an argument uses it.
Unknown keys and wrong types are errors that name the file, the key and what is allowed. Every value is checked
where it is made (each dataclass's ``__post_init__``, so TOML files, ``with_overrides`` and the command line's
flags are checked alike) before a run writes anything; :func:`check_device` checks that this machine has the
configured device.
"""

from __future__ import annotations

import dataclasses
import re
import sys
import types
import typing
from dataclasses import dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import tomli_w

from bench.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "DataConfig",
    "LatencyRunConfig",
    "ProtocolConfig",
    "RandomWeights",
    "RunConfig",
    "SpaceConfig",
    "check_device",
    "config_to_dict",
    "config_to_toml",
    "default_config",
    "full_sampling",
    "load_config",
    "load_preset",
    "parse_model_args",
]

Layout = Literal["bilayer", "fomm"]
ProtocolName = Literal["self", "cross"]
SpaceName = Literal["frame", "crop", "masked-crop"]
MaskSource = Literal["auto", "data", "segmenter", "none"]


@dataclass(frozen=True)
class DataConfig:
    """Where the frames come from. An empty ``root`` means the embedded default data set."""

    root: str = ""
    layout: Layout = "bilayer"
    split: str = "test"
    max_sequences: int = 0  # 0: all sequences; N: N picked round-robin over identities (bench.data.select)
    sequence_list: str = ""  # a file of PERSON/VIDEO/SEQUENCE lines: exactly those sequences (sha256 recorded)
    # Foreground masks (the bi-layer source, the masked-crop space): "auto" = the data set's segs/ where a frame
    # has one, else the segmenter's (computed once, cached); "data" = segs/ only (a frame without one fails its
    # job); "segmenter" = always the segmenter; "none" = no masks at all (the bi-layer source unmasked: every
    # table says "no source mask"; masked-crop refuses).
    masks: MaskSource = "auto"

    def __post_init__(self) -> None:
        if self.max_sequences < 0:
            raise ConfigError(
                f"max_sequences (--max-sequences) must be >= 0 (0: all sequences), got {self.max_sequences}"
            )
        if not self.split:
            raise ConfigError("split (--split) must name the split folder, such as 'test'; got ''")

    @property
    def is_embedded_default(self) -> bool:
        return not self.root


@dataclass(frozen=True)
class ProtocolConfig:
    """Which frames are paired, for both protocols.

    Self-reenactment: per sequence, the frame at ``source_frame`` is the source; the other frames of the
    same sequence (every ``driver_stride``-th, at most ``max_drivers``; 0 means all) drive it and are the
    ground truth. Cross-reenactment: identities sorted by name, identity ``i`` is driven by identity
    ``(i + 1) % n``; the source is frame ``source_frame`` of the first sequence of ``i``, the drivers the frames
    of the first sequence of ``i + 1``. There is no ground truth.
    """

    kinds: tuple[ProtocolName, ...] = ("self", "cross")
    source_frame: int = 0
    driver_stride: int = 1
    max_drivers: int = 0

    def __post_init__(self) -> None:
        if not self.kinds or len(set(self.kinds)) != len(self.kinds):
            raise ConfigError(f"kinds must list 'self' and/or 'cross' once each, got {list(self.kinds)}")
        if self.source_frame < 0:
            raise ConfigError(
                f"source_frame must be >= 0 (0: the first frame), got {self.source_frame}; a negative "
                "index would make the source one of its own drivers"
            )
        if self.driver_stride < 1:
            raise ConfigError(f"driver_stride must be >= 1 (1: every frame), got {self.driver_stride}")
        if self.max_drivers < 0:
            raise ConfigError(f"max_drivers must be >= 0 (0: all frames), got {self.max_drivers}")


@dataclass(frozen=True)
class SpaceConfig:
    """Where generated and real frames are compared (:mod:`bench.space`), the same place for every model.

    ``frame``: the whole frame, resized to ``size`` x ``size`` when it differs (FOMM's reconstruction protocol);
    ``crop``: the driving frame's bi-layer landmark crop, resized to ``size``; ``masked-crop``: ``crop`` with the
    background (outside the ground truth's foreground mask) set to ``background`` on both sides, as the bi-layer
    authors' test losses do (their -1 in [-1, 1] is 0 here). In the crop spaces the part of the box outside the
    frame is ``background`` on both sides too.
    """

    name: SpaceName = "crop"
    size: int = 256
    background: float = 0.0  # RGB value in [0, 1]

    def __post_init__(self) -> None:
        if not 16 <= self.size <= 4096:
            raise ConfigError(f"space.size must be between 16 and 4096 pixels, got {self.size}")
        if not 0.0 <= float(self.background) <= 1.0:
            raise ConfigError(f"space.background must be an RGB value in [0, 1], got {self.background}")

    @property
    def is_crop(self) -> bool:
        return self.name != "frame"


@dataclass(frozen=True)
class LatencyRunConfig:
    """``[latency]``: after the evaluation, time the run's models with the latency harness (:mod:`bench.latency`)
    into ``RUN/latency.json``, on the run's device and threads, float32, batch 1. The defaults are short settings
    (a few timed calls per stage, said so in the record and the report); ``bilayer-bench latency`` takes longer
    ones."""

    measure: bool = False
    frame_runs: int = 8  # timed calls per per-frame stage (animate, end_to_end), in total over the rounds
    frame_min_time: float = 1.0  # seconds those calls add up to at least
    prepare_runs: int = 3  # timed calls of prepare (per avatar)
    rounds: int = 2  # interleaved rounds the samples spread over
    calibration_size: int = 1024  # side of the square matmul of the calibration

    def __post_init__(self) -> None:
        for name in ("frame_runs", "prepare_runs", "rounds", "calibration_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"latency.{name} must be >= 1, got {getattr(self, name)}")
        if self.frame_min_time < 0:
            raise ConfigError(f"latency.frame_min_time must be >= 0 seconds, got {self.frame_min_time}")

    @property
    def label(self) -> str:
        return (
            f"short settings of the run ({self.frame_runs} timed calls per frame stage over >= {self.frame_min_time:g}"
            f" s, {self.prepare_runs} per prepare, {self.rounds} rounds); `bilayer-bench latency` samples longer"
        )


RandomWeights = bool | Literal["missing"]
ModelArg = str | int | float | bool


@dataclass(frozen=True)
class RunConfig:
    """One evaluation run."""

    name: str = "default"
    models: tuple[str, ...] = ("copy-source", "oracle")
    metrics: tuple[str, ...] = ("all",)  # "all": every metric whose weights are present or shipped
    data: DataConfig = field(default_factory=DataConfig)
    protocol: ProtocolConfig = field(default_factory=ProtocolConfig)
    space: SpaceConfig = field(default_factory=SpaceConfig)
    device: str = "cpu"
    threads: int = 0  # 0: leave torch's default
    batch_size: int = 4
    seed: int = 0
    # false: real weights (a missing file is an error); true: random weights for every model that has weights;
    # "missing": real weights where all of a model's files are found, random weights (labelled) where not
    random_weights: RandomWeights = False
    weights_dir: str = ""
    accept_hash_mismatch: bool = False  # use weight files whose sha256 differs from the release (labelled unverified)
    samples_per_job: int = 2  # frames saved as PNG (in the space) per saved job, for figures and videos
    sample_jobs: Literal["first", "all"] = "first"  # which jobs save them: the first of each protocol, or every job
    reference_model: str = ""  # paired differences of every model against this one (bench.stats); "": none
    allow_missing_metrics: bool = False  # named metrics whose weights are missing: skipped (listed) instead of an error
    published: tuple[str, ...] = ()  # papers whose published rows the report sets beside ours (published.csv); (): all
    ref_stats: str = ""  # FID/KID reference statistics (.npz, bench.refstats) instead of the run's own real frames
    save_stats: str = ""  # write the run's reference statistics there (.npz) for later runs' ref_stats
    latency: LatencyRunConfig = field(default_factory=LatencyRunConfig)
    report: bool = False  # end by writing RUN/report/ (bilayer-bench report RUN --out RUN/report)
    save_outputs: bool = False  # every generated self-reenactment frame as PNG in RUN/outputs/ (bench.score reads them)
    # keyword arguments of a user's model factory (bench.models.plugins), per model: [model_args."pkg.mod:create"]
    model_args: dict[str, dict[str, ModelArg]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.models:
            raise ConfigError('config lists no models; add e.g. models = ["copy-source", "oracle"]')
        if self.reference_model and self.reference_model not in self.models:
            raise ConfigError(
                f"reference_model {self.reference_model!r} is not one of the run's models ({', '.join(self.models)}); "
                "name one of them or leave it empty"
            )
        if not self.metrics:
            raise ConfigError('config lists no metrics; add e.g. metrics = ["all"]')
        if self.batch_size < 1:
            raise ConfigError(f"batch_size (--batch-size) must be >= 1, got {self.batch_size}")
        if self.threads < 0:
            raise ConfigError(f"threads (--threads) must be >= 0 (0: torch's default), got {self.threads}")
        if not _DEVICE.fullmatch(self.device):
            raise ConfigError(f"device (--device) {self.device!r} is not one of cpu, cuda, cuda:N, mps")
        if not 0 <= self.seed < 2**63:
            raise ConfigError(f"seed must be an integer in [0, 2**63), got {self.seed}")
        if self.samples_per_job < 0:
            raise ConfigError(f"samples_per_job must be >= 0, got {self.samples_per_job}")
        if self.random_weights not in (True, False, "missing"):
            raise ConfigError(f'random_weights must be true, false or "missing", got {self.random_weights!r}')
        _check_model_args(self.model_args, self.models)


def _check_model_args(model_args: Any, models: tuple[str, ...]) -> None:
    if not isinstance(model_args, dict):
        raise ConfigError(f'model_args must be tables [model_args."MODEL"] of KEY = VALUE, got {model_args!r}')
    for model, args in model_args.items():
        if model not in models:
            raise ConfigError(
                f"model_args names {model!r}, which is not one of the run's models ({', '.join(models)}); name one "
                "of them or drop its table"
            )
        if not isinstance(args, dict) or not all(isinstance(k, str) and k.isidentifier() for k in args):
            raise ConfigError(f'model_args."{model}" must be a table of KEY = VALUE (KEY a Python name), got {args!r}')
        for key, value in args.items():
            if not isinstance(value, (str, int, float, bool)):
                raise ConfigError(
                    f'model_args."{model}".{key}: {value!r} is a {type(value).__name__}; values are strings, numbers '
                    "or booleans"
                )


def parse_model_args(text: str) -> dict[str, ModelArg]:
    """``--model-args KEY=VALUE,...``: each VALUE read as a TOML value (``2``, ``0.5``, ``true``, ``"a,b"``), else as
    a string."""
    args: dict[str, ModelArg] = {}
    for item in _split_items(text):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ConfigError(f"--model-args: {item!r} is not KEY=VALUE (KEY a Python name); e.g. --model-args gain=2")
        if key in args:
            raise ConfigError(f"--model-args: {key} is given twice")
        try:
            parsed = tomllib.loads(f"v = {value.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            parsed = value.strip()
        if not isinstance(parsed, (str, int, float, bool)):
            raise ConfigError(f"--model-args {key}: {value!r} is not a string, number or boolean")
        args[key] = parsed
    return args


def _split_items(text: str) -> list[str]:
    """Split at commas outside double quotes."""
    items, current, quoted = [], "", False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            items.append(current)
            current = ""
        else:
            current += ch
    items.append(current)
    return [item for item in items if item.strip()]


_DEVICE = re.compile(r"cpu|cuda(:[0-9]+)?|mps")


def check_device(device: str) -> None:
    """Refuse, in one line, a device this machine does not have (``cuda`` without CUDA, ``cuda:3`` of two)."""
    import torch

    if not _DEVICE.fullmatch(device):
        raise ConfigError(f"--device {device!r} is not one of cpu, cuda, cuda:N, mps")
    if device.startswith("cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(device.partition(":")[2] or 0)
        if count == 0:
            built = f"torch {torch.__version__} is built without CUDA" if torch.version.cuda is None else "no GPU found"
            raise ConfigError(f"--device {device}: CUDA is not available on this machine ({built}); use --device cpu")
        if index >= count:
            raise ConfigError(f"--device {device}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}")
    if device == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("--device mps: Apple's MPS backend is not available on this machine; use --device cpu")


def _check_type(value: Any, annotation: Any, where: str) -> Any:
    origin = typing.get_origin(annotation)
    if origin is Literal:
        allowed = typing.get_args(annotation)
        if value not in allowed:
            raise ConfigError(f"{where}: {value!r} is not one of {', '.join(map(repr, allowed))}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__} {value!r}")
        (item,) = typing.get_args(annotation)[:1]
        return tuple(_check_type(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    if origin in (typing.Union, types.UnionType):
        return value
    if annotation is bool and not isinstance(value, bool):
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if annotation is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if annotation is str and not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    return value


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}")
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        annotation = hints[key]
        if dataclasses.is_dataclass(annotation):
            if not isinstance(value, dict):
                raise ConfigError(f"{where}.{key}: expected a table [{key}]")
            kwargs[key] = _build(annotation, value, f"{where}.{key}")
        else:
            kwargs[key] = _check_type(value, annotation, f"{where}.{key}")
    try:
        return cls(**kwargs)
    except ConfigError as error:  # a value out of range: name the file it came from
        raise ConfigError(f"{where}: {error}") from None


def config_from_dict(data: dict[str, Any], source: str = "config") -> RunConfig:
    """Build a :class:`RunConfig` from a parsed TOML mapping; ``source`` names it in errors."""
    return _build(RunConfig, data, source)


def load_config(path: Path | str) -> RunConfig:
    """Read a TOML run config."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found; pass an existing TOML file or no argument for the default")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: not valid TOML ({error})") from error
    return config_from_dict(data, str(path))


def default_config() -> RunConfig:
    """The embedded default run (``bench/configs/default.toml``)."""
    return load_preset("default")


PRESETS = ("default", "bilayer-paper", "fomm-paper", "cross")  # bench/configs/NAME.toml


def load_preset(name: str) -> RunConfig:
    """A named configuration shipped in ``bench/configs/`` (``bilayer-bench run --preset NAME``)."""
    if name not in PRESETS:
        raise ConfigError(f"--preset {name!r} is not one of {', '.join(PRESETS)}")
    text = resources.files("bench").joinpath(f"configs/{name}.toml").read_text(encoding="utf-8")
    return config_from_dict(tomllib.loads(text), f"bench/configs/{name}.toml")


def full_sampling(config: RunConfig) -> RunConfig:
    """``config`` evaluating every sequence and every driving frame, saving samples of the first job of each
    protocol: what ``--data ROOT`` without a config file or preset runs, so that the main job's short sample of the
    embedded default data set (default.toml) never silently shortens a user's data set."""
    return replace(
        config,
        data=replace(config.data, max_sequences=0),
        protocol=replace(config.protocol, driver_stride=1, max_drivers=0),
        sample_jobs="first",
        samples_per_job=min(config.samples_per_job, 2),
    )


def config_to_dict(config: RunConfig) -> dict[str, Any]:
    def convert(value: Any) -> Any:
        if isinstance(value, tuple):
            return [convert(v) for v in value]
        return value

    def walk(obj: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(obj):
            value = getattr(obj, f.name)
            out[f.name] = walk(value) if dataclasses.is_dataclass(value) else convert(value)
        return out

    return walk(config)


def config_to_toml(config: RunConfig) -> str:
    return tomli_w.dumps(config_to_dict(config))


def with_overrides(config: RunConfig, **changes: Any) -> RunConfig:
    """Return ``config`` with top-level fields or ``data``/``protocol`` fields (``data__root=...``) replaced."""
    nested: dict[str, dict[str, Any]] = {}
    top: dict[str, Any] = {}
    for key, value in changes.items():
        if value is None:
            continue
        if "__" in key:
            section, name = key.split("__", 1)
            nested.setdefault(section, {})[name] = value
        else:
            top[key] = value
    for section, values in nested.items():
        top[section] = replace(getattr(config, section), **values)
    return replace(config, **top)
