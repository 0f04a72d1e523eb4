"""Run configuration: frozen dataclasses read from TOML files.

The embedded default is ``bench/configs/default.toml``; ``bilayer-bench run`` without an argument uses it.
Unknown keys and wrong types are errors that name the file, the key and what is allowed.
"""

from __future__ import annotations

import dataclasses
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
    "ProtocolConfig",
    "RunConfig",
    "config_to_dict",
    "config_to_toml",
    "default_config",
    "load_config",
]

Layout = Literal["bilayer", "fomm"]
ProtocolName = Literal["self", "cross"]


@dataclass(frozen=True)
class DataConfig:
    """Where the frames come from. An empty ``root`` means the embedded default data set."""

    root: str = ""
    layout: Layout = "bilayer"
    split: str = "test"
    max_sequences: int = 0  # 0: all sequences

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


@dataclass(frozen=True)
class RunConfig:
    """One evaluation run."""

    name: str = "default"
    models: tuple[str, ...] = ("copy-source", "oracle")
    metrics: tuple[str, ...] = ("all",)  # "all": every metric whose weights are present or shipped
    data: DataConfig = field(default_factory=DataConfig)
    protocol: ProtocolConfig = field(default_factory=ProtocolConfig)
    device: str = "cpu"
    threads: int = 0  # 0: leave torch's default
    batch_size: int = 4
    seed: int = 0
    random_weights: bool = False
    weights_dir: str = ""
    accept_hash_mismatch: bool = False  # use weight files whose sha256 differs from the release (labelled unverified)
    samples_per_job: int = 2  # generated frames saved as PNG for the first job of each protocol

    def __post_init__(self) -> None:
        if not self.models:
            raise ConfigError('config lists no models; add e.g. models = ["copy-source", "oracle"]')
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}")


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
    return cls(**kwargs)


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
    text = resources.files("bench").joinpath("configs/default.toml").read_text(encoding="utf-8")
    return config_from_dict(tomllib.loads(text), "bench/configs/default.toml")


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
