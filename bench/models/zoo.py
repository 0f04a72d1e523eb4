"""The model registry: systems under test created by name, with the provenance of their weights."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch

from bench.errors import BenchError, ConfigError
from bench.models.plugins import check_model_args, discover_model
from bench.models.protocol import AvatarModel
from bench.models.spec import ModelSpec
from bench.plugins import MODEL_GROUP
from bench.registry import Registry, import_object
from bench.weights import ResolvedWeight, WeightsLocations, require, resolve

__all__ = [
    "MODELS",
    "WEIGHT_MARKS",
    "LoadedModel",
    "ModelSpec",
    "WeightsLabel",
    "create_model",
    "list_models",
]

WeightsLabel = Literal["none", "verified", "unverified", "random"]
# How tables mark a model whose weights are not verified releases.
WEIGHT_MARKS: dict[str, str] = {
    "none": "",
    "verified": "",
    "unverified": " [unverified weights]",
    "random": " [RANDOM WEIGHTS]",
}


@dataclass(frozen=True)
class LoadedModel:
    spec: ModelSpec
    model: AvatarModel
    weights_label: WeightsLabel
    weights: tuple[ResolvedWeight, ...]
    args: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # model_args given to a user's factory

    @property
    def label(self) -> str:
        """How tables name this model: random or unverified weights are said so."""
        return self.spec.name + WEIGHT_MARKS[self.weights_label]

    def provenance(self) -> dict[str, object]:
        users = {"origin": self.spec.origin, "factory": self.spec.factory, "args": dict(self.args)}
        return {
            "model": self.spec.name,
            "weights_label": self.weights_label,
            "files": [w.provenance() for w in self.weights],
            "notes": dict(getattr(self.model, "record_notes", {})),  # choices the model makes that a reader needs
            **(users if self.spec.is_users else {}),
        }


MODELS: Registry[ModelSpec] = Registry(
    "model",
    discover=discover_model,
    unknown_hint=f"; a model of yours: package.module:factory, or an installed {MODEL_GROUP} entry point",
)

MODELS.register(
    "copy-source",
    ModelSpec("copy-source", "baselines.sanity:create_copy_source", "sanity baseline: returns the source frame"),
)
MODELS.register(
    "oracle",
    ModelSpec("oracle", "baselines.sanity:create_oracle", "sanity baseline: returns the ground-truth driving frame"),
)
BILAYER_PAPER = "Zakharov et al., Fast Bi-layer Neural Synthesis of One-Shot Realistic Head Avatars, ECCV 2020"
MODELS.register(
    "bilayer.paper",
    ModelSpec(
        "bilayer.paper",
        "bilayer.factory:create_paper",
        "bi-layer avatar model, released runs (paper main 2225 + enhancer 1225)",
        weights=tuple(
            f"bilayer.{net}"
            for net in (
                "identity_embedder",
                "texture_generator",
                "keypoints_embedder",
                "inference_generator",
                "texture_enhancer",
            )
        ),
        needs_landmarks=True,
        paper=BILAYER_PAPER,
        output_geometry="crop",
    ),
)
MODELS.register(
    "bilayer.paper.align-corners-true",
    ModelSpec(
        "bilayer.paper.align-corners-true",
        "bilayer.factory:create_paper_align_corners_true",
        "bilayer.paper with grid_sample(align_corners=True), PyTorch 1.0 semantics (for comparison)",
        weights=MODELS.get("bilayer.paper").weights,
        needs_landmarks=True,
        paper=BILAYER_PAPER,
        output_geometry="crop",
    ),
)
MODELS.register(
    "bilayer.tiny",
    ModelSpec(
        "bilayer.tiny",
        "bilayer.factory:create_tiny",
        "bi-layer architecture at 64x64 with few channels, random weights (CPU tests)",
        needs_landmarks=True,
        paper=BILAYER_PAPER,
        output_geometry="crop",
        always_random=True,
    ),
)


def list_models(pattern: str = "*") -> list[str]:
    return MODELS.names(pattern)


def create_model(
    name: str,
    locations: WeightsLocations,
    *,
    random_weights: bool | str = False,
    device: torch.device | str = "cpu",
    seed: int = 0,
    args: Mapping[str, Any] | None = None,
) -> LoadedModel:
    """Build a registered model (or one of the user's, :mod:`bench.models.plugins`); its weights are resolved and
    verified offline unless ``random_weights`` is true; ``"missing"``: random weights when one of the model's files
    is not found (a file found but refused stays an error). ``args`` go to a user's factory as keyword arguments."""
    spec = MODELS.get(name)
    factory = import_object(spec.factory)
    args = dict(args or {})
    check_model_args(spec, factory, args)
    if random_weights == "missing":
        random_weights = not all(resolve(w, locations, verify=False).present for w in spec.weights)
    if spec.always_random:
        paths, label, resolved = None, "random", ()
    elif not spec.weights:
        paths, label, resolved = None, "none", ()
    elif random_weights:
        paths, label, resolved = None, "random", ()
    else:
        optional = tuple(
            r
            for r in (resolve(w, locations) for w in spec.optional_weights)
            if r.present and (r.verification != "mismatch" or locations.accept_mismatch)
        )
        resolved = tuple(require(w, locations) for w in spec.weights) + optional
        paths = {r.entry.name: r.path for r in resolved}
        verified = all(r.verification in ("verified", "verified-prefix") for r in resolved)
        label = "verified" if verified else "unverified"
    model = _call_factory(spec, factory, paths, seed, args)
    if hasattr(model, "to"):  # torch modules and model wrappers that own modules
        model = model.to(device)
    if hasattr(model, "eval"):
        model = model.eval()
    check_geometry(spec, model)
    if spec.is_users and not (callable(getattr(model, "prepare", None)) and callable(getattr(model, "animate", None))):
        raise ConfigError(
            f"model {name}: {spec.factory} returned a {type(model).__name__}, which has no prepare(source) and "
            "animate(state, driver) methods (bench.models.protocol.AvatarModel)"
        )
    return LoadedModel(spec, model, label, resolved, args)  # type: ignore[arg-type]


def check_geometry(spec: ModelSpec, model: Any) -> None:
    """The geometry a model declares on itself (``output_geometry``, as bi-layer's) is the one its spec says."""
    own = getattr(model, "output_geometry", spec.output_geometry)
    if own != spec.output_geometry:
        raise ConfigError(
            f"model {spec.name} renders output_geometry={own!r} but is registered with {spec.output_geometry!r}; "
            "declare the same in @avatar_model(output_geometry=...)"
        )


def _call_factory(spec: ModelSpec, factory: Any, paths: dict[str, Any] | None, seed: int, args: dict) -> Any:
    """The factory's model; a user's factory that raises is one line naming it (ours raise our own errors)."""
    if not spec.is_users:
        return factory(weights=paths, seed=seed)
    try:
        return factory(weights=paths, seed=seed, **args)
    except BenchError:
        raise
    except Exception as error:
        raise ConfigError(
            f"model {spec.name}: its factory {spec.factory}(weights=..., seed={seed}, **{args}) raised "
            f"{type(error).__name__}: {error}"
        ) from error


_FOMM_PAPER = "Siarohin et al., NeurIPS 2019"
MODELS.register(
    "fomm.vox256",
    ModelSpec(
        "fomm.vox256",
        "baselines.fomm.factory:create_vox256",
        "First Order Motion Model vox-256 as its authors run it: absolute keypoints in self-reenactment "
        "(reconstruction protocol), relative keypoints with adapted movement scale in cross-reenactment",
        weights=("fomm.vox-cpk",),
        paper=_FOMM_PAPER,
    ),
)
MODELS.register(
    "fomm.vox256.absolute",
    ModelSpec(
        "fomm.vox256.absolute",
        "baselines.fomm.factory:create_vox256_absolute",
        "First Order Motion Model vox-256, absolute keypoints in both protocols",
        weights=("fomm.vox-cpk",),
        paper=_FOMM_PAPER,
    ),
)
MODELS.register(
    "fomm.vox256.relative",
    ModelSpec(
        "fomm.vox256.relative",
        "baselines.fomm.factory:create_vox256_relative",
        "First Order Motion Model vox-256, relative keypoints with adapted movement scale (demo.py --relative "
        "--adapt_scale)",
        weights=("fomm.vox-cpk",),
        paper=_FOMM_PAPER,
    ),
)
MODELS.register(
    "fomm.vox256.best-frame",
    ModelSpec(
        "fomm.vox256.best-frame",
        "baselines.fomm.factory:create_vox256_best_frame",
        "First Order Motion Model vox-256, relative keypoints, adapted scale, from the best frame by 68 landmarks "
        "(demo.py --relative --adapt_scale --find_best_frame)",
        weights=("fomm.vox-cpk",),
        optional_weights=("face-alignment.2dfan4", "face-alignment.s3fd"),  # landmarks by FAN, as the demo
        needs_landmarks=True,
        paper=_FOMM_PAPER,
    ),
)
MODELS.register(
    "fomm.tiny",
    ModelSpec(
        "fomm.tiny",
        "baselines.fomm.factory:create_tiny",
        "First Order Motion Model, tiny config (64x64, random weights by design, fomm.vox256's rules) for CPU tests",
        paper=_FOMM_PAPER,
        always_random=True,
    ),
)
MODELS.register(
    "fomm.vox256.adv",
    ModelSpec(
        "fomm.vox256.adv",
        "baselines.fomm.factory:create_vox256_adv",
        "First Order Motion Model vox-256 trained with the adversarial loss (vox-adv-cpk.pth.tar, same architecture), "
        "fomm.vox256's rules: absolute keypoints in self-reenactment, relative with adapted scale in cross-reenactment",
        weights=("fomm.vox-adv-cpk",),
        paper=_FOMM_PAPER,
    ),
)
