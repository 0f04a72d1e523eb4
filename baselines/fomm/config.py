"""FOMM configuration: a frozen dataclass read from the original YAML/JSON layout.

The original code configures its networks from ``config/vox-256.yaml``: ``model_params.common_params``,
``model_params.kp_detector_params``, ``model_params.generator_params`` (with ``dense_motion_params`` inside)
and ``dataset_params.frame_shape``. :meth:`FommConfig.from_dict` reads exactly that structure (other sections
such as ``train_params`` or ``discriminator_params`` are ignored); :meth:`FommConfig.vox256` is the released
vox-256 configuration.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from baselines.fomm.blocks import subsampling_step

__all__ = ["DenseMotionParams", "FommConfig", "FommConfigError", "GeneratorParams", "KeypointDetectorParams"]


class FommConfigError(ValueError):
    """A FOMM configuration that cannot be read; the message names the file or key and the fix."""


@dataclass(frozen=True)
class KeypointDetectorParams:
    temperature: float = 0.1
    block_expansion: int = 32
    max_features: int = 1024
    scale_factor: float = 0.25
    num_blocks: int = 5
    single_jacobian_map: bool = False
    pad: int = 0

    def __post_init__(self) -> None:
        _check_scale(self.scale_factor)


@dataclass(frozen=True)
class DenseMotionParams:
    block_expansion: int = 64
    max_features: int = 1024
    num_blocks: int = 5
    scale_factor: float = 0.25
    kp_variance: float = 0.01

    def __post_init__(self) -> None:
        _check_scale(self.scale_factor)


@dataclass(frozen=True)
class GeneratorParams:
    block_expansion: int = 64
    max_features: int = 512
    num_down_blocks: int = 2
    num_bottleneck_blocks: int = 6
    estimate_occlusion_map: bool = True
    dense_motion: DenseMotionParams = field(default_factory=DenseMotionParams)


@dataclass(frozen=True)
class FommConfig:
    """Everything the keypoint detector and the generator are built from, plus the model's frame size."""

    num_kp: int = 10
    num_channels: int = 3
    estimate_jacobian: bool = True
    kp_detector: KeypointDetectorParams = field(default_factory=KeypointDetectorParams)
    generator: GeneratorParams = field(default_factory=GeneratorParams)
    frame_shape: tuple[int, int] = (256, 256)  # (height, width) the networks run at

    def __post_init__(self) -> None:
        if self.num_kp < 1 or self.num_channels < 1:
            raise FommConfigError(f"num_kp and num_channels must be >= 1, got {self.num_kp}, {self.num_channels}")
        if len(self.frame_shape) != 2 or min(self.frame_shape) < 1:
            raise FommConfigError(f"frame_shape must be (height, width), got {self.frame_shape}")

    @classmethod
    def vox256(cls) -> FommConfig:
        """``config/vox-256.yaml`` of first-order-model: the configuration of ``vox-cpk.pth.tar``."""
        return cls()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "config") -> FommConfig:
        """Read the original layout: ``model_params.{common_params,kp_detector_params,generator_params}``
        and ``dataset_params.frame_shape`` (default 256x256 when absent)."""
        model = _section(data, "model_params", where)
        common = _section(model, "common_params", f"{where}: model_params")
        generator = dict(_section(model, "generator_params", f"{where}: model_params"))
        if "dense_motion_params" not in generator or generator["dense_motion_params"] is None:
            raise FommConfigError(
                f"{where}: model_params.generator_params has no dense_motion_params; this implementation needs "
                "the dense motion network (every released FOMM config has one)"
            )
        dense = _build(DenseMotionParams, generator.pop("dense_motion_params"), f"{where}: dense_motion_params")
        common_keys = {"num_kp", "num_channels", "estimate_jacobian"}
        _reject_unknown(common, common_keys, f"{where}: model_params.common_params")
        shape = data.get("dataset_params", {}).get("frame_shape", [256, 256, 3])
        if not isinstance(shape, (list, tuple)) or len(shape) < 2:
            raise FommConfigError(f"{where}: dataset_params.frame_shape must be [height, width, channels], got {shape}")
        return cls(
            num_kp=int(common.get("num_kp", 10)),
            num_channels=int(common.get("num_channels", 3)),
            estimate_jacobian=bool(common.get("estimate_jacobian", False)),
            kp_detector=_build(KeypointDetectorParams, model.get("kp_detector_params", {}), f"{where}: kp_detector"),
            generator=_build(GeneratorParams, {**generator, "dense_motion": dense}, f"{where}: generator_params"),
            frame_shape=(int(shape[0]), int(shape[1])),
        )

    @classmethod
    def from_file(cls, path: str | Path) -> FommConfig:
        """Read a ``.yaml``/``.yml`` (PyYAML ``safe_load``) or ``.json`` file."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise FommConfigError(f"{path}: cannot read the FOMM config ({error}); pass e.g. vox-256.yaml") from error
        try:
            data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
        except (ValueError, yaml.YAMLError) as error:
            raise FommConfigError(f"{path}: not a readable FOMM config: {_one_line(error)}") from error
        if not isinstance(data, Mapping):
            raise FommConfigError(f"{path}: expected a mapping with model_params at the top level")
        return cls.from_dict(data, where=str(path))

    def to_dict(self) -> dict[str, Any]:
        """The original layout (the inverse of :meth:`from_dict`)."""
        kp = {f.name: getattr(self.kp_detector, f.name) for f in fields(KeypointDetectorParams)}
        gen = {f.name: getattr(self.generator, f.name) for f in fields(GeneratorParams) if f.name != "dense_motion"}
        gen["dense_motion_params"] = {
            f.name: getattr(self.generator.dense_motion, f.name) for f in fields(DenseMotionParams)
        }
        return {
            "dataset_params": {"frame_shape": [*self.frame_shape, self.num_channels]},
            "model_params": {
                "common_params": {
                    "num_kp": self.num_kp,
                    "num_channels": self.num_channels,
                    "estimate_jacobian": self.estimate_jacobian,
                },
                "kp_detector_params": kp,
                "generator_params": gen,
            },
        }


def _one_line(error: Exception) -> str:
    """A parser's message on one line: YAML errors span several (problem, then a caret under the line)."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None)
    if mark is not None and problem:
        return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
    return " ".join(str(error).split())


def _check_scale(scale: float) -> None:
    if scale != 1:
        try:
            subsampling_step(scale)
        except ValueError as error:
            raise FommConfigError(f"scale_factor: {error}") from error


def _section(data: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = data.get(key) if isinstance(data, Mapping) else None
    if not isinstance(value, Mapping):
        raise FommConfigError(
            f"{where}: missing section {key!r}; expected the layout of first-order-model's vox-256.yaml"
        )
    return value


def _reject_unknown(data: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise FommConfigError(f"{where}: unknown keys {unknown}; allowed: {sorted(allowed)}")


def _build(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, Mapping):
        raise FommConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    kinds = {f.name: f.type for f in fields(cls)}
    _reject_unknown(data, set(kinds), where)
    values: dict[str, Any] = {}
    for name, value in data.items():
        kind = kinds[name]
        if kind == "bool":
            values[name] = bool(value)
        elif kind == "int":
            values[name] = int(value)
        elif kind == "float":
            values[name] = float(value)
        else:
            values[name] = value
    try:
        return cls(**values)
    except FommConfigError as error:
        raise FommConfigError(f"{where}: {error}") from error
