"""The bi-layer model behind the suite's model protocol (``prepare`` per avatar, ``animate`` per frames).

Inputs are frames with ``image`` (N, 3, H, W) in [0, 1], ``landmarks`` (N, 68, 2) pixels and optionally
``segmentation`` (N, 1, H, W). The model works on the bi-layer crop of each frame (from its landmarks) and returns
what it renders: the crops, (N, 3, S, S) in [0, 1], with their boxes in the driving frame's pixels
(:class:`CropFrames`, ``output_geometry = "crop"``). It never pastes them into a frame: the evaluator maps crops
and references into one evaluation space. Only the driver's landmarks are used per frame.

Source segmentation: the source frame's mask (the data set's, or a segmenter's, as the suite's run chooses),
cropped and resized like the image; without one an all-ones mask, i.e. no masking (the released code computes
the mask with Graphonomy, whose weights are not part of the release); ``record_notes`` says which it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from bilayer.model import Avatar, BilayerModel
from bilayer.preprocess import crop_box, crop_image, crop_mask, normalised_pose, stickman

__all__ = ["BilayerAvatarModel", "CropFrames"]


@dataclass(frozen=True)
class _State:
    avatar: Avatar


@dataclass(frozen=True)
class CropFrames:
    """Rendered crops (N, 3, S, S) in [0, 1] and their boxes (N, 4) float64 x0, y0, x1, y1 in frame pixels."""

    images: torch.Tensor
    boxes: torch.Tensor


def _landmarks(frames: Any, role: str) -> np.ndarray:
    if frames.landmarks is None:
        raise ValueError(
            f"the bi-layer model needs the {role}'s 68 landmarks; this data set has none "
            "(use the bi-layer layout with keypoints/)"
        )
    return frames.landmarks.detach().cpu().numpy()


def _to_uint8(image: torch.Tensor) -> np.ndarray:
    return (image.detach().clamp(0, 1).mul(255).round().to(torch.uint8)).permute(1, 2, 0).cpu().numpy()


class BilayerAvatarModel:
    output_geometry = "crop"
    segmentation_fallback = "all-ones mask (no masking) when the source frame has no segmentation"

    def __init__(self, model: BilayerModel) -> None:
        self.model = model.eval()
        size = model.cfg.image_size
        self.record_notes = {
            "source_segmentation": "the source frame's foreground mask as given; " + self.segmentation_fallback,
            "grid_sample": f"align_corners={model.cfg.align_corners}",
            "output": f"crops of {size}x{size} at the bi-layer box of each driver's landmarks (output geometry: crop)",
            "inputs": "source: frame, its 68 landmarks and mask (cropped by the bi-layer rule); per frame: the "
            "driver's 68 landmarks only",
        }

    def to(self, device: torch.device | str) -> BilayerAvatarModel:
        self.model.to(device)
        return self

    def eval(self) -> BilayerAvatarModel:
        return self

    @property
    def device(self) -> torch.device:
        return self.model.inference_generator.identity_grid.device

    def prepare(self, source: Any) -> _State:
        size, device = self.model.cfg.image_size, self.device
        points = _landmarks(source, "source")[0]
        box = crop_box(points)
        image = crop_image(_to_uint8(source.image[0]), box, size)[None].to(device)
        pose = normalised_pose(points, box)[None].to(device)
        stick = stickman(pose[0], size, self.model.cfg.stickmen_thickness)[None].to(device)
        if source.segmentation is not None:
            mask = crop_mask(source.segmentation[0, 0].detach().cpu().numpy(), box, size)[None].to(device)
        else:
            mask = torch.ones(1, 1, size, size, device=device)
        return _State(self.model.prepare_tensors(image, pose, stick, mask))

    def animate(self, state: _State, driver: Any) -> CropFrames:
        points = _landmarks(driver, "driver")
        boxes = [crop_box(p) for p in points]
        poses = torch.stack([normalised_pose(p, b) for p, b in zip(points, boxes, strict=True)]).to(self.device)
        images, _ = self.model.animate_poses(state.avatar, poses)
        crops = images.add(1).mul_(0.5).clamp_(0, 1)
        return CropFrames(crops, torch.tensor([b.box for b in boxes], dtype=torch.float64))

