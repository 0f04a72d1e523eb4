"""FOMM conformance: our reimplementation against golden arrays of the original first-order-model code.

A case folder (format of ``shared/conformance/fomm``) holds one JSON config in the original layout
(``config*.json``), one checkpoint in the released structure (``*.pth.tar``) and ``cases.npz``. The checkpoint
is loaded through the public API (:meth:`FommModel.load_checkpoint`), the inputs ``source_float`` and
``driving_float`` (and the fixed ``fbf_landmarks_*``) are run, and every other array of ``cases.npz`` is compared
at ``atol`` 1e-4 (``fbf_best_frame`` exactly):

* keypoints and detector intermediates: ``kp_{source,driving}_{value,jacobian,down,logits,jacobian_map}``;
* the generator called per driving frame with absolute keypoints: ``recon_*``;
* ``kpnorm_{relative,relative_adapt,absolute}_*`` and ``adapt_movement_scale``;
* the protocol path (``prepare``/``begin_sequence``/``animate`` over all drivers): ``anim_*``;
* best frame: ``fbf_norms``, ``fbf_best_frame`` and ``anim_bestframe_relative_adapt_prediction``;
* all of the above that depend on ``grid_sample`` again with ``align_corners=False`` under the prefix ``acfalse_``.

Arrays we do not produce are listed as rows marked "SKIPPED" (they never fail the check); inputs are not listed.
The networks run at the size of the case's frames (as the original code, which does not resize).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import torch

from baselines.fomm import FommConfig, FommModel, Keypoints, normalize_keypoints
from baselines.fomm.animation import best_frame_distances, movement_scale
from bench.conformance.common import Comparison, compare, load_case_arrays
from bench.errors import DataError
from bench.models.protocol import Frames
from bench.weights.load import checkpoint_errors

__all__ = ["TOLERANCE", "NotCompared", "run_case"]

TOLERANCE = 1e-4
INPUTS = frozenset(
    {
        "source_raw_uint8",
        "driving_raw_uint8",
        "source_float",
        "driving_float",
        "fbf_landmarks_source",
        "fbf_landmarks_driving",
    }
)
RECON = ("sparse_deformed", "mask", "deformation", "occlusion_map", "deformed", "prediction", "dm_hourglass_input")
ANIMATIONS = {  # name -> (relative, adapt_movement_scale, best_frame)
    "anim_relative_prediction": (True, False, False),
    "anim_relative_adapt_prediction": (True, True, False),
    "anim_absolute_prediction": (False, False, False),
    "anim_absolute_adaptflag_prediction": (False, True, False),
    "anim_bestframe_relative_adapt_prediction": (True, True, True),
}
Producer = Callable[[], "np.ndarray | torch.Tensor"]


@dataclasses.dataclass(frozen=True)
class NotCompared(Comparison):
    """A golden array this pipeline does not produce: listed, never failing."""

    @property
    def passed(self) -> bool:
        return True


def _one(case_dir: Path, patterns: tuple[str, ...], what: str, fix: str) -> Path:
    for pattern in patterns:
        found = sorted(p for p in case_dir.glob(pattern) if not p.name.startswith("manifest"))
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            names = ", ".join(p.name for p in found)
            raise DataError(case_dir, f"several {what} files ({names})", f"keep exactly one; {fix}")
    raise DataError(case_dir, f"no {what} ({' or '.join(patterns)})", fix)


def _load_model(case_dir: Path, golden: Mapping[str, np.ndarray]) -> FommModel:
    config_path = _one(case_dir, ("config*.json", "*.json"), "FOMM config", "add the config in vox-256.yaml layout")
    checkpoint = _one(case_dir, ("*.pth.tar", "*.pth"), "checkpoint", "add the case's checkpoint (*.pth.tar)")
    with checkpoint_errors():
        config = FommConfig.from_file(config_path)
        height, width = golden["source_float"].shape[:2]
        model = FommModel(dataclasses.replace(config, frame_shape=(int(height), int(width))))
        model.load_checkpoint(checkpoint)
    return model


def _keypoint_producers(model: FommModel, source: torch.Tensor, driving: torch.Tensor) -> dict[str, Producer]:
    kp_source, source_debug = model.kp_detector.detect(source)
    per_frame = [model.kp_detector.detect(driving[t : t + 1]) for t in range(driving.shape[0])]
    kp_driving = Keypoints(
        torch.cat([kp.value for kp, _ in per_frame]),
        None if kp_source.jacobian is None else torch.cat([kp.jacobian for kp, _ in per_frame]),  # type: ignore[misc]
    )
    initial = kp_driving[0]
    scale = movement_scale(kp_source, initial)
    producers: dict[str, Producer] = {
        "kp_source_value": lambda: kp_source.value[0],
        "kp_source_jacobian": lambda: kp_source.jacobian[0],  # type: ignore[index]
        "kp_driving_value": lambda: kp_driving.value,
        "kp_driving_jacobian": lambda: kp_driving.jacobian,  # type: ignore[return-value]
        "adapt_movement_scale": lambda: np.float64(scale),
        "acfalse_adapt_movement_scale": lambda: np.float64(scale),
    }
    for key in ("down", "logits", "jacobian_map"):
        producers[f"kp_source_{key}"] = lambda key=key: source_debug[key][0]
        producers[f"kp_driving_{key}"] = lambda key=key: torch.cat([debug[key] for _, debug in per_frame])
    for mode, relative, factor in (("relative", True, 1.0), ("relative_adapt", True, scale), ("absolute", False, 1.0)):
        norm = normalize_keypoints(kp_source, kp_driving, initial, relative=relative, scale=factor)
        producers[f"kpnorm_{mode}_value"] = lambda norm=norm: norm.value
        producers[f"kpnorm_{mode}_jacobian"] = lambda norm=norm: norm.jacobian
    return {**producers, **_recon_producers(model, source, _per_frame(kp_driving), kp_source)}


def _per_frame(kp: Keypoints) -> list[Keypoints]:
    return [kp[t] for t in range(kp.value.shape[0])]


def _recon_producers(
    model: FommModel, source: torch.Tensor, kp_driving: list[Keypoints], kp_source: Keypoints
) -> dict[str, Producer]:
    producers: dict[str, Producer] = {}
    for prefix, align in (("", True), ("acfalse_", False)):
        cache: dict[str, list[dict[str, torch.Tensor]]] = {}

        def outputs(align: bool = align, cache: dict = cache) -> list[dict[str, torch.Tensor]]:
            if "runs" not in cache:
                cache["runs"] = [model.generator(source, kp, kp_source, align_corners=align) for kp in kp_driving]
            return cache["runs"]

        for key in RECON:
            producers[f"{prefix}recon_{key}"] = lambda key=key, outputs=outputs: torch.cat([o[key] for o in outputs()])
        producers[f"{prefix}recon_dm_down_source"] = lambda outputs=outputs: outputs()[0]["dm_down_source"][0]
    return producers


def _animation_producers(
    model: FommModel, source: Frames, driving: Frames, golden: Mapping[str, np.ndarray]
) -> dict[str, Producer]:
    producers: dict[str, Producer] = {}
    for prefix, align in (("", True), ("acfalse_", False)):
        for name, (relative, adapt, best) in ANIMATIONS.items():

            def animate(relative: bool = relative, adapt: bool = adapt, best: bool = best, align: bool = align):
                variant = model.with_options(
                    relative=relative, adapt_movement_scale=adapt, best_frame=best, align_corners=align
                )
                state = variant.begin_sequence(variant.prepare(source), driving)
                return variant.animate(state, driving).permute(0, 2, 3, 1)

            producers[prefix + name] = animate
    if "fbf_landmarks_source" in golden and "fbf_landmarks_driving" in golden:
        distances = best_frame_distances(golden["fbf_landmarks_source"], golden["fbf_landmarks_driving"])
        producers["fbf_norms"] = lambda: distances
        producers["fbf_best_frame"] = lambda: np.int64(np.argmin(distances))
    else:
        for name in [n for n in producers if "bestframe" in n]:
            del producers[name]
    return producers


def _frames(golden: Mapping[str, np.ndarray]) -> tuple[Frames, Frames]:
    def nchw(array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).permute(0, 3, 1, 2).contiguous()

    source = nchw(golden["source_float"][None])
    driving = nchw(golden["driving_float"])
    marks = [golden.get(k) for k in ("fbf_landmarks_source", "fbf_landmarks_driving")]
    if marks[0] is not None and marks[1] is not None:
        return Frames(source, torch.from_numpy(marks[0][None])), Frames(driving, torch.from_numpy(marks[1]))
    return Frames(source), Frames(driving)


def run_case(case_dir: Path) -> list[Comparison]:
    """Compare every array of ``case_dir/cases.npz`` that our pipeline produces; see the module docstring."""
    case_dir = Path(case_dir)
    npz = case_dir / "cases.npz"
    golden = load_case_arrays(npz, "a FOMM case folder holds cases.npz, a config*.json and a *.pth.tar")
    for required in ("source_float", "driving_float"):
        if required not in golden:
            raise DataError(npz, f"no input array {required!r}", "generate the case with the inputs named in README")
    model = _load_model(case_dir, golden)
    source, driving = _frames(golden)
    rows: list[Comparison] = []
    with torch.inference_mode():
        producers = {
            **_keypoint_producers(model, source.image, driving.image),
            **_animation_producers(model, source, driving, golden),
        }
        for name, expected in golden.items():
            if name in INPUTS:
                continue
            if name not in producers:
                note = "SKIPPED: not produced by this pipeline, not compared"
                rows.append(NotCompared(name, tuple(expected.shape), float("nan"), TOLERANCE, note))
                continue
            ours = producers[name]()
            tolerance = 0.0 if name == "fbf_best_frame" else TOLERANCE
            rows.append(compare(name, ours, expected, tolerance))
    return rows
