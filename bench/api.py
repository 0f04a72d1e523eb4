"""The Python API: evaluate model instances (or registered names) the way ``bilayer-bench run`` does.

::

    import bench
    result = bench.evaluate(MyModel(), data="/data/vox2", preset="bilayer-paper", metrics=["lpips.vgg.v0.1"])
    result.summary        # pandas: one row per (model, protocol, metric) with its interval
    result.frames         # pandas: one row per generated frame, a column per frame metric
    result.run_dir        # the run directory: the same record, resumable, for `bilayer-bench report`

An instance is named by its ``name`` attribute (else its class name); its ``output_geometry`` (``"frame"``, the
default, or ``"crop"``) and ``needs_landmarks`` attributes say what the registry would. The run records it as a
model given as an instance, its weights as not verified by the suite (they never went through the weights registry).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from bench.config import RunConfig, default_config, full_sampling, load_config, load_preset, with_overrides
from bench.errors import ConfigError
from bench.models import MODELS, LoadedModel, ModelSpec
from bench.models.zoo import check_geometry
from bench.runner import RunSummary, run_benchmark
from bench.space import output_geometry

__all__ = ["Evaluation", "evaluate"]

ModelArgument = Any  # an AvatarModel instance or a registered name


@dataclass(frozen=True)
class Evaluation:
    run_dir: Path
    summary: pd.DataFrame  # RUN/results.json's summary: (model, protocol, metric) -> mean, interval, n
    frames: pd.DataFrame  # RUN/frames.csv: per generated frame
    failures: pd.DataFrame  # RUN/failures.csv: the jobs that failed, with the file and the error
    result: RunSummary  # everything the CLI prints (counts, costs, space, masks, warnings)

    @property
    def status(self) -> str:
        return self.result.status


def _instance_name(model: Any) -> str:
    name = getattr(model, "name", None)
    return name if isinstance(name, str) and name else type(model).__name__


def _as_loaded(name: str, model: Any, device: str) -> LoadedModel:
    if not (callable(getattr(model, "prepare", None)) and callable(getattr(model, "animate", None))):
        raise ConfigError(
            f"model {name}: a {type(model).__name__} has no prepare(source) and animate(state, driver) methods "
            "(bench.models.protocol.AvatarModel)"
        )
    if name in MODELS:
        raise ConfigError(f"model instance {name!r} has the name of a registered model; give it another name attribute")
    spec = ModelSpec(
        name,
        "",
        (type(model).__doc__ or f"a {type(model).__name__} instance").strip().splitlines()[0],
        needs_landmarks=bool(getattr(model, "needs_landmarks", False)),
        output_geometry=output_geometry(model),
        origin=f"instance of {type(model).__module__}.{type(model).__qualname__} (bench.evaluate)",
    )
    check_geometry(spec, model)
    if hasattr(model, "to"):
        model = model.to(device)
    if hasattr(model, "eval"):
        model = model.eval()
    return LoadedModel(spec, model, "unverified", ())


def _models(models: ModelArgument | Sequence[ModelArgument] | Mapping[str, Any]) -> dict[str, Any]:
    """Names -> instances (None for a registered name), in the order given."""
    if isinstance(models, Mapping):
        return dict(models)
    items = [models] if isinstance(models, str) or not isinstance(models, Sequence) else list(models)
    named: dict[str, Any] = {}
    for item in items:
        name = item if isinstance(item, str) else _instance_name(item)
        if name in named:
            raise ConfigError(f"two models are named {name!r}; give instances distinct name attributes or a mapping")
        named[name] = None if isinstance(item, str) else item
    return named


def _config(config: RunConfig | str | Path | None, preset: str | None, data: str | Path | None) -> RunConfig:
    if config is not None and preset is not None:
        raise ConfigError(f"give config= or preset={preset!r}, not both")
    if isinstance(config, RunConfig):
        return config
    if config is not None:
        return load_config(config)
    if preset is not None:
        return load_preset(preset)
    base = default_config()
    return full_sampling(base) if data is not None else base


def evaluate(
    models: ModelArgument | Sequence[ModelArgument] | Mapping[str, Any],
    *,
    data: str | Path | None = None,
    layout: str | None = None,
    split: str | None = None,
    preset: str | None = None,
    config: RunConfig | str | Path | None = None,
    metrics: Sequence[str] | None = None,
    space: str | None = None,
    device: str | None = None,
    weights_dir: str | Path | None = None,
    model_args: Mapping[str, Mapping[str, Any]] | None = None,
    out: str | Path = "bench-runs",
    resume: str | Path | None = None,
    progress: bool = False,
    **overrides: Any,
) -> Evaluation:
    """Evaluate ``models`` (an instance, a registered name, a list of both, or a mapping name -> instance) under
    ``preset`` / ``config`` (default: the embedded default run; with ``data``, every sequence and frame of it),
    with what is given replacing the config's. ``overrides`` are further :class:`~bench.config.RunConfig` fields
    (``data__max_sequences=2``, ``protocol__kinds=("self",)``). The latency and the report of a config are not run
    here (``bilayer-bench latency``, ``bilayer-bench report RUN``)."""
    named = _models(models)
    base = _config(config, preset, data)
    base = with_overrides(
        base,
        models=tuple(named),
        metrics=tuple(metrics) if metrics is not None else None,
        device=device,
        weights_dir=None if weights_dir is None else str(weights_dir),
        data__root=None if data is None else str(data),
        data__layout=layout,
        data__split=split,
        space__name=space,
        **overrides,
    )
    base = replace(
        base,
        model_args={k: dict(v) for k, v in (model_args or {}).items()} or base.model_args,
        latency=replace(base.latency, measure=False),
        report=False,
    )
    instances = {name: _as_loaded(name, model, base.device) for name, model in named.items() if model is not None}
    result = run_benchmark(
        base,
        out_root=Path(out),
        resume=None if resume is None else Path(resume),
        progress=progress,
        instances=instances,
    )
    frames = pd.read_csv(result.run_dir / "frames.csv", dtype={"source_frame": str, "driver_frame": str})
    return Evaluation(result.run_dir, result.summary, frames, result.failures, result)
