"""Conformance of our bi-layer model with a golden case made by the original code.

A case folder holds ``runs/*/args.txt``, ``runs/*/checkpoints/EPOCH_NETWORK.pth`` (any run names and epochs) and
``cases.npz`` (inputs, every intermediate, outputs). We load the checkpoints through the public API
(:meth:`bilayer.model.BilayerModel.from_files`), preprocess the case's raw inputs with our preprocessing, run
``prepare`` and ``animate`` with tracing, and compare every array of the case: preprocessing exactly (1e-6),
embeddings and adaptive parameters at 1e-5; UVs, low-frequency images, segmentations and textures at 1e-4;
enhancer gradients and outputs, sampled high-frequency layers and final images at 1e-3 (the tolerances of
the shared README). Arrays named ``input_*`` are inputs; any other array we do not produce is reported as a
failure, so a richer case can never pass silently.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from bench.conformance.common import Comparison, compare, load_case_arrays
from bench.errors import DataError
from bench.weights.load import checkpoint_errors
from bilayer.checkpoint import NETWORKS, RunFiles
from bilayer.model import BilayerModel
from bilayer.preprocess import crop_box, crop_image, normalised_pose, stickman

__all__ = ["run_case", "tolerance"]

_TOLERANCES = (
    (r"^(source|target)_(imgs|poses|stickmen|segs)$", 1e-6),
    (
        r"^(emb_enc_output|source_idt_embeds_\d+|(tex|inf)_adaptive_(weight|bias)_\d+|kp_mlp_input_\w+|"
        r"\w+_pose_embeds|effective_weight_\w+)$",
        1e-5,
    ),
    (
        r"^(pred_\w*uvs|\w+_delta_uvs_raw|pred_\w*_delta_lf_rgbs|\w+_lf_rgbs_raw|pred_\w*segs|\w+_segs_logits|"
        r"pred_\w*tex_hf_rgbs|enh_iter\d+_tex_in)$",
        1e-4,
    ),
    (r"^(enh_iter\d+_(grad_in|net_out)|pred_\w*delta_hf_rgbs|pred_\w*target_imgs)$", 1e-3),
)


_INPUTS = (
    "input_source_img",
    "input_source_keypoints",
    "input_target_imgs",
    "input_target_keypoints",
    "input_source_seg",
)


def tolerance(name: str) -> float | None:
    for pattern, tol in _TOLERANCES:
        if re.match(pattern, name):
            return tol
    return None


def _run_files(case: Path) -> RunFiles:
    files: dict[str, Path] = {}
    args: dict[str, Path] = {}
    for net in NETWORKS:
        found = sorted(case.glob(f"runs/*/checkpoints/*_{net}.pth"))
        if len(found) != 1:
            raise DataError(
                case,
                f"expected one runs/*/checkpoints/*_{net}.pth, found {len(found)}",
                "use a case folder in the format of shared/conformance/bilayer/case_*",
            )
        files[net] = found[0]
        args[net] = found[0].parent.parent / "args.txt"
    return RunFiles(files, args["identity_embedder"], args["texture_enhancer"])


def _effective_weights(model: BilayerModel, names: list[str]) -> dict[str, torch.Tensor]:
    out = {}
    for name in names:
        rest = name.removeprefix("effective_weight_")
        for net in NETWORKS:
            if rest.startswith(net + "_"):
                keys = {
                    k[: -len(".weight")].replace(".", "_"): k
                    for k in getattr(model, net).state_dict()
                    if k.endswith(".weight")
                }
                key = keys.get(rest[len(net) + 1 :])
                if key is not None:
                    out[name] = getattr(model, net).state_dict()[key]
    return out


def _produce(model: BilayerModel, case: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    size, thickness = model.cfg.image_size, model.cfg.stickmen_thickness
    produced: dict[str, torch.Tensor] = {}
    box = crop_box(case["input_source_keypoints"])
    image = crop_image(case["input_source_img"], box, size)[None]
    pose = normalised_pose(case["input_source_keypoints"], box)[None]
    stick = stickman(pose[0], size, thickness)[None]
    segmentation = torch.from_numpy(case["input_source_seg"]).reshape(1, 1, size, size)
    targets = [crop_box(k) for k in case["input_target_keypoints"]]
    poses = torch.stack([normalised_pose(k, b) for k, b in zip(case["input_target_keypoints"], targets, strict=True)])
    produced.update(
        source_imgs=image[None],
        source_poses=pose[None],
        source_stickmen=stick[None],
        source_segs=segmentation[None],
        target_poses=poses[None],
        target_imgs=torch.stack(
            [crop_image(i, b, size) for i, b in zip(case["input_target_imgs"], targets, strict=True)]
        )[None],
        target_stickmen=torch.stack([stickman(p, size, thickness) for p in poses])[None],
    )
    with torch.inference_mode():
        avatar = model.prepare_tensors(image, pose, stick, segmentation, produced)
        model.animate_poses(avatar, poses, produced)
    return produced


def run_case(case_dir: Path) -> list[Comparison]:
    case_dir = Path(case_dir)
    fix = "use a case folder in the format of shared/conformance/bilayer/case_*"
    case = load_case_arrays(case_dir / "cases.npz", fix)
    missing = [name for name in _INPUTS if name not in case]
    if missing:
        raise DataError(case_dir / "cases.npz", f"no input array(s) {', '.join(missing)}", fix)
    with checkpoint_errors():
        model = BilayerModel.from_files(_run_files(case_dir))
    produced = _produce(model, case)
    produced.update(_effective_weights(model, [k for k in case if k.startswith("effective_weight_")]))
    rows = []
    for name, golden in case.items():
        if name.startswith("input_"):
            continue
        tol = tolerance(name)
        if name not in produced or tol is None:
            rows.append(Comparison(name, tuple(golden.shape), float("inf"), tol or 0.0, "not produced by our pipeline"))
            continue
        rows.append(compare(name, produced[name], golden, tol))
    return rows
