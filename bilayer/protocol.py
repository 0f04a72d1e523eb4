"""The bi-layer model behind the suite's model protocol (``prepare`` per avatar, ``animate`` per frames).

Inputs are frames with ``image`` (N, 3, H, W) in [0, 1], ``landmarks`` (N, 68, 2) pixels and optionally
``segmentation`` (N, 1, H, W). The model works on the bi-layer crop of each frame (from its landmarks); its
output crop is resized back (bicubic, antialiased) and pasted at the crop box of a black frame of the
driver's size, so outputs are aligned with the driving frames. Only the driver's landmarks are used per frame.

Source segmentation: the data set's mask when the source frame has one (cropped and resized like the
image); otherwise an all-ones mask, i.e. no masking (the released code computes the mask with Graphonomy,
whose weights are not part of the release; :attr:`BilayerAvatarModel.segmentation_fallback` says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from bilayer.model import Avatar, BilayerModel
from bilayer.preprocess import CropBox, crop_box, crop_image, crop_mask, normalised_pose, stickman

__all__ = ["BilayerAvatarModel"]


@dataclass(frozen=True)
class _State:
    avatar: Avatar


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
    segmentation_fallback = "all-ones mask (no masking) when the source frame has no segmentation"

    def __init__(self, model: BilayerModel) -> None:
        self.model = model.eval()
        self.record_notes = {
            "source_segmentation": "the data set's mask of the source frame; " + self.segmentation_fallback,
            "grid_sample": f"align_corners={model.cfg.align_corners}",
            "output": "the crop of the driver's landmarks, resized back (bicubic) and pasted into a black frame",
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

    def animate(self, state: _State, driver: Any) -> torch.Tensor:
        points = _landmarks(driver, "driver")
        boxes = [crop_box(p) for p in points]
        poses = torch.stack([normalised_pose(p, b) for p, b in zip(points, boxes, strict=True)]).to(self.device)
        images, _ = self.model.animate_poses(state.avatar, poses)
        crops = images.add(1).mul_(0.5).clamp_(0, 1)
        return _paste(crops, boxes, driver.image.shape[-2:])


def _paste(crops: torch.Tensor, boxes: list[CropBox], frame: torch.Size) -> torch.Tensor:
    """Each crop resized to its box and pasted into a black frame (the part of the box inside the frame)."""
    height, width = int(frame[0]), int(frame[1])
    out = crops.new_zeros(len(boxes), 3, height, width)
    for i, box in enumerate(boxes):
        side = 2 * box.size
        resized = F.interpolate(
            crops[i : i + 1], size=(side, side), mode="bicubic", align_corners=False, antialias=side < crops.shape[-1]
        ).clamp_(0, 1)
        x0, y0, x1, y1 = box.box
        fx0, fy0, fx1, fy1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
        if fx1 > fx0 and fy1 > fy0:
            out[i, :, fy0:fy1, fx0:fx1] = resized[0, :, fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0]
    return out
