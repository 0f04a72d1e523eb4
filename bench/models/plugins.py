"""Models of the user's own: ``module:callable`` in ``--models`` or a config, or an installed entry point.

A model of yours is a factory, ``create(weights=None, seed=0, **model_args) -> model``, whose model has
``prepare(source)`` and ``animate(state, driver)`` (:mod:`bench.models.protocol`). Name it in a run as
``package.module:create``, or install a package that declares it in the entry point group ``bilayer_bench.models``
(``[project.entry-points."bilayer_bench.models"] my-model = "package.module:create"``) and name it ``my-model``.
``@avatar_model(...)`` on the factory says what the registry cannot guess: the weight files it needs (found in the
weights folder, verified by sha256 where you give one, and recorded), whether it reads the 68 landmarks, and whether
it renders whole frames or the bi-layer crop. ``model_args`` (``--model-args KEY=VALUE,...``, or a config's
``[model_args."NAME"]`` table) are passed to the factory as keyword arguments and recorded with the run.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from bench.errors import ConfigError
from bench.models.spec import ModelSpec
from bench.plugins import MODEL_GROUP, entry_point, import_target
from bench.weights import WEIGHTS, WeightFile

__all__ = ["DECLARATION", "ModelDeclaration", "avatar_model", "check_model_args", "discover_model"]

DECLARATION = "__bilayer_bench__"  # the attribute @avatar_model sets on a factory
F = TypeVar("F", bound=Callable[..., Any])
_RESERVED = frozenset({"weights", "seed"})  # what every factory is called with


@dataclass(frozen=True)
class ModelDeclaration:
    """What a factory of the user's declares through :func:`avatar_model`."""

    description: str = ""
    weights: tuple[WeightFile, ...] = ()
    needs_landmarks: bool = False
    output_geometry: Literal["frame", "crop"] = "frame"
    paper: str = ""


def _weight_file(key: str, value: str | WeightFile, factory: str) -> WeightFile:
    if isinstance(value, WeightFile):
        if value.name != key:
            raise ConfigError(f"{factory}: weights[{key!r}] is a WeightFile named {value.name!r}; use the same name")
        return value
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{factory}: weights[{key!r}] must be a file name in the weights folder, got {value!r}")
    return WeightFile(
        name=key,
        filename=value.rsplit("/", 1)[-1],
        relpath=value if "/" in value else "",
        url=f"supplied by the author of {factory}",
        purpose=f"weights of {factory}",
        origin=factory,
        licence="the model author's",
    )


def avatar_model(
    *,
    description: str = "",
    weights: Mapping[str, str | WeightFile] | None = None,
    needs_landmarks: bool = False,
    output_geometry: Literal["frame", "crop"] = "frame",
    paper: str = "",
) -> Callable[[F], F]:
    """Declare a factory's model: ``weights`` maps the names the factory receives (``weights[name]`` is the file's
    path) to a file name or path inside the weights folder, or to a :class:`~bench.weights.WeightFile` with its
    sha256 and download URLs. Prefix the names with your model's (``"my_model.generator"``)."""
    if output_geometry not in ("frame", "crop"):
        raise ValueError(f"output_geometry must be 'frame' or 'crop', got {output_geometry!r}")

    def declare(factory: F) -> F:
        where = f"{factory.__module__}:{factory.__qualname__}"
        files = tuple(_weight_file(key, value, where) for key, value in (weights or {}).items())
        setattr(factory, DECLARATION, ModelDeclaration(description, files, needs_landmarks, output_geometry, paper))
        return factory

    return declare


def _register_weights(files: tuple[WeightFile, ...], name: str) -> None:
    for entry in files:
        if entry.name in WEIGHTS:
            if WEIGHTS.get(entry.name) != entry:
                raise ConfigError(
                    f"model {name}: its weight file name {entry.name!r} is already the suite's or another model's; "
                    "prefix it with your model's name"
                )
            continue
        WEIGHTS.register(entry.name, entry)


def _spec(name: str, target: str, origin: str) -> ModelSpec:
    factory = import_target(target, f"model {name}")
    if not callable(factory):
        raise ConfigError(f"model {name}: {target} is a {type(factory).__name__}, not a factory to call")
    declared = getattr(factory, DECLARATION, ModelDeclaration())
    if not isinstance(declared, ModelDeclaration):
        raise ConfigError(f"model {name}: {target}.{DECLARATION} is not what @avatar_model sets")
    _register_weights(declared.weights, name)
    summary = (inspect.getdoc(factory) or "").strip().splitlines()
    return ModelSpec(
        name,
        target,
        declared.description or (summary[0] if summary else f"a model of yours ({target})"),
        weights=tuple(w.name for w in declared.weights),
        needs_landmarks=declared.needs_landmarks,
        paper=declared.paper,
        output_geometry=declared.output_geometry,
        origin=origin,
    )


def discover_model(name: str) -> ModelSpec | None:
    """The spec of ``package.module:callable``, or of an installed ``bilayer_bench.models`` entry point; None when
    ``name`` is neither."""
    if ":" in name:
        return _spec(name, name, f"module {name.partition(':')[0]}")
    found = entry_point(MODEL_GROUP, name)
    if found is None:
        return None
    by = f" of {found.distribution}" if found.distribution else ""
    return _spec(name, found.target, f"entry point {MODEL_GROUP}:{name}{by}")


def check_model_args(spec: ModelSpec, factory: Callable[..., Any], args: Mapping[str, Any]) -> None:
    """Refuse, naming the model and the keys, arguments its factory does not take (or a built-in model's)."""
    if not args:
        return
    if not spec.is_users:
        raise ConfigError(f"model {spec.name} is built in and takes no model_args (--model-args); got {dict(args)}")
    reserved = sorted(_RESERVED & set(args))
    if reserved:
        raise ConfigError(f"model {spec.name}: model_args may not set {', '.join(reserved)} (the run passes them)")
    parameters = inspect.signature(factory).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    takes = [n for n, p in parameters.items() if n not in _RESERVED and p.kind is not inspect.Parameter.VAR_POSITIONAL]
    unknown = sorted(set(args) - set(takes))
    if unknown:
        raise ConfigError(
            f"model {spec.name}: its factory {spec.factory} takes no argument {', '.join(map(repr, unknown))} "
            f"(--model-args / model_args); it takes: {', '.join(takes) or 'none'}"
        )
