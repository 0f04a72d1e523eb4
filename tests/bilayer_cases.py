"""Helpers for bi-layer tests: writing runs in the released layout and case folders in the shared format."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from bilayer.checkpoint import ENHANCER_EPOCH, ENHANCER_RUN, MAIN_EPOCH, MAIN_RUN, NETWORKS, save_released
from bilayer.config import BilayerConfig
from bilayer.model import BilayerModel
from bilayer.preprocess import crop_box, crop_image, normalised_pose, stickman

SHARED = Path(__file__).resolve().parents[2] / "shared" / "conformance" / "bilayer"


def write_args(path: Path, cfg: BilayerConfig) -> None:
    lines = [f"{k}: {v}" for k, v in sorted(asdict(cfg).items())]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def write_runs(model: BilayerModel, runs: Path) -> dict[str, Path]:
    """Save ``model``'s five networks as released files under ``runs`` (with both args.txt)."""
    paths = {}
    for net in NETWORKS:
        run, epoch = (ENHANCER_RUN, ENHANCER_EPOCH) if net == "texture_enhancer" else (MAIN_RUN, MAIN_EPOCH)
        paths[net] = runs / run / "checkpoints" / f"{epoch}_{net}.pth"
        save_released(getattr(model, net), paths[net])
    for run in (MAIN_RUN, ENHANCER_RUN):
        write_args(runs / run / "args.txt", model.cfg)
    return paths


def write_case(case: Path, model: BilayerModel, targets: int, seed: int = 0) -> Path:
    """A case folder in the shared format whose golden arrays are computed by the loaded copy of ``model``."""
    write_runs(model, case / "runs")
    loaded = BilayerModel.from_runs_dir(case / "runs")
    rng = np.random.default_rng(seed)
    size = loaded.cfg.image_size

    def keypoints() -> np.ndarray:
        angles = np.linspace(0, 2 * np.pi, 68, endpoint=False)
        radius = 60 + 10 * rng.random(68)
        return np.stack([128 + radius * np.cos(angles), 140 + radius * np.sin(angles)], 1).astype(np.float32)

    arrays: dict[str, np.ndarray] = {
        "input_source_img": rng.integers(0, 256, (256, 256, 3), dtype=np.uint8),
        "input_source_keypoints": keypoints(),
        "input_target_imgs": rng.integers(0, 256, (targets, 256, 256, 3), dtype=np.uint8),
        "input_target_keypoints": np.stack([keypoints() for _ in range(targets)]),
        "input_source_seg": (rng.random((1, 1, size, size)) > 0.3).astype(np.float32),
    }
    box = crop_box(arrays["input_source_keypoints"])
    image = crop_image(arrays["input_source_img"], box, size)[None]
    pose = normalised_pose(arrays["input_source_keypoints"], box)[None]
    stick = stickman(pose[0], size)[None]
    trace: dict[str, torch.Tensor] = {}
    poses = torch.stack([normalised_pose(k, crop_box(k)) for k in arrays["input_target_keypoints"]])
    with torch.inference_mode():
        avatar = loaded.prepare_tensors(image, pose, stick, torch.from_numpy(arrays["input_source_seg"]), trace)
        loaded.animate_poses(avatar, poses, trace)
    arrays.update({k: v.numpy() for k, v in trace.items()})
    np.savez(case / "cases.npz", **arrays)
    return case
