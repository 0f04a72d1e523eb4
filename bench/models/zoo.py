"""The model registry: systems under test created by name, with the provenance of their weights."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from bench.models.protocol import AvatarModel
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
class ModelSpec:
    """A registered system. ``factory`` is ``"module:callable"`` called as ``factory(weights=..., seed=...)``
    where ``weights`` maps weight-registry names to files, or is None for random initialisation."""

    name: str
    factory: str
    description: str
    weights: tuple[str, ...] = ()
    needs_landmarks: bool = False
    paper: str = ""
    always_random: bool = False  # tiny test variants: random weights by design, labelled so
    optional_weights: tuple[str, ...] = ()  # passed to the factory when present and verified-or-unpinned
    output_geometry: Literal["frame", "crop"] = "frame"  # what animate returns (bench.space): frames or crops


@dataclass(frozen=True)
class LoadedModel:
    spec: ModelSpec
    model: AvatarModel
    weights_label: WeightsLabel
    weights: tuple[ResolvedWeight, ...]

    @property
    def label(self) -> str:
        """How tables name this model: random or unverified weights are said so."""
        return self.spec.name + WEIGHT_MARKS[self.weights_label]

    def provenance(self) -> dict[str, object]:
        return {
            "model": self.spec.name,
            "weights_label": self.weights_label,
            "files": [w.provenance() for w in self.weights],
            "notes": dict(getattr(self.model, "record_notes", {})),  # choices the model makes that a reader needs
        }


MODELS: Registry[ModelSpec] = Registry("model")

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
) -> LoadedModel:
    """Build a registered model; its weights are resolved and verified offline unless ``random_weights`` is true;
    ``"missing"``: random weights when one of the model's files is not found (a file found but refused stays an
    error)."""
    spec = MODELS.get(name)
    factory = import_object(spec.factory)
    if random_weights == "missing":
        random_weights = not all(resolve(w, locations, verify=False).present for w in spec.weights)
    if spec.always_random:
        model, label, resolved = factory(weights=None, seed=seed), "random", ()
    elif not spec.weights:
        model, label, resolved = factory(weights=None, seed=seed), "none", ()
    elif random_weights:
        model, label, resolved = factory(weights=None, seed=seed), "random", ()
    else:
        optional = tuple(
            r
            for r in (resolve(w, locations) for w in spec.optional_weights)
            if r.present and (r.verification != "mismatch" or locations.accept_mismatch)
        )
        resolved = tuple(require(w, locations) for w in spec.weights) + optional
        paths = {r.entry.name: r.path for r in resolved}
        model = factory(weights=paths, seed=seed)
        verified = all(r.verification in ("verified", "verified-prefix") for r in resolved)
        label = "verified" if verified else "unverified"
    if hasattr(model, "to"):  # torch modules and model wrappers that own modules
        model = model.to(device)
    if hasattr(model, "eval"):
        model = model.eval()
    return LoadedModel(spec, model, label, resolved)


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
