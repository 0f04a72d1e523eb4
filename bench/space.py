"""Evaluation spaces: one place where every model's output and its reference are compared.

A model returns either full frames aligned with its driving frames (``output_geometry = "frame"``: FOMM, the
sanity baselines) or crops with their boxes in frame pixels (``"crop"``: the bi-layer model renders only the
crop around the driver's landmarks). Before any metric sees an image, the evaluator maps the output *and* its
reference into the run's space (:class:`~bench.config.SpaceConfig`) with the same operations:

* ``frame``: the whole frame, resized to ``size`` x ``size`` when it has another size;
* ``crop``: the driving frame's crop by the bi-layer rule (:func:`bilayer.preprocess.crop_box`: a square of twice
  the larger landmark extent, centre raised by a sixth of it), resized to ``size``;
* ``masked-crop``: ``crop`` with everything outside the ground truth's foreground mask set to the background
  constant, on the prediction and the reference alike (the bi-layer authors' test-time masking).

Both sides are 8-bit images (:func:`as_8bit`), as the papers' saved frames and crops are: a model's output is
rounded to 8-bit levels as it would be saved (a frame or a crop; the evaluator does it), and in the space each
image is rounded again after the cut or resampling and after the background is set, references and outputs alike.
So in-process outputs and saved ones (``bilayer-bench score``) are scored alike, and a perfect model of either
geometry scores exactly as the oracle does.

Crops are cut with edge replication and resized with antialiased bicubic interpolation (PIL's filter); the part
of a box that lies outside the frame is set to the background constant on both sides, so no metric ever sees a
pasted border that one side has and the other has not. A crop output whose box equals the space's box at the
space's size passes through untouched; another box is resampled (bilinear) and must cover the space's box.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F

from bench.config import SpaceConfig
from bench.errors import ConfigError, DataError, ModelOutputError
from bilayer.preprocess import crop_box

__all__ = [
    "CropOutput",
    "Crops",
    "OutputGeometry",
    "Placement",
    "SpaceFrames",
    "as_8bit",
    "crop_output",
    "describe_space",
    "output_geometry",
    "output_to_space",
    "placement",
    "reference_to_space",
]

OutputGeometry = Literal["frame", "crop"]


@runtime_checkable
class CropOutput(Protocol):
    """What a ``crop``-geometry model's ``animate`` returns: ``images`` (N, 3, S, S) in [0, 1] and ``boxes``
    (N, 4) x0, y0, x1, y1 of each crop in the driving frame's pixels."""

    images: torch.Tensor
    boxes: torch.Tensor


@dataclass(frozen=True)
class Crops:
    """A plain :class:`CropOutput`."""

    images: torch.Tensor
    boxes: torch.Tensor


def output_geometry(model: Any) -> OutputGeometry:
    """A model's declared output geometry (``frame`` unless it says ``crop``)."""
    geometry = getattr(model, "output_geometry", "frame")
    if geometry not in ("frame", "crop"):
        raise ConfigError(f"model {type(model).__name__} declares output_geometry={geometry!r}; use 'frame' or 'crop'")
    return geometry


@dataclass(frozen=True)
class Placement:
    """Where each frame of a batch is cut from: integer boxes (N, 4) x0, y0, x1, y1 in frame pixels (the whole
    frame in the ``frame`` space), the frames' (height, width) and the space's side."""

    boxes: np.ndarray
    frame_size: tuple[int, int]
    size: int

    def __len__(self) -> int:
        return len(self.boxes)

    @property
    def is_identity(self) -> bool:
        height, width = self.frame_size
        whole = np.array([0, 0, width, height])
        return height == width == self.size and bool((self.boxes == whole).all())


@dataclass(frozen=True)
class SpaceFrames:
    """Frames in the space: ``image`` (N, 3, S, S); ``landmarks`` (N, 68, 2) in space pixels or None; ``keep``
    (N, 1, S, S) the weight of the image against the background (in-frame part times the foreground mask), or
    None where nothing is replaced (the ``frame`` space)."""

    image: torch.Tensor
    landmarks: torch.Tensor | None
    keep: torch.Tensor | None


class _Frames(Protocol):
    image: torch.Tensor
    landmarks: torch.Tensor | None
    segmentation: torch.Tensor | None


def placement(space: SpaceConfig, frames: _Frames, what: str = "driving frames") -> Placement:
    """The boxes of ``frames`` in ``space``: the whole frame, or the bi-layer crop of each frame's landmarks."""
    height, width = (int(v) for v in frames.image.shape[-2:])
    count = int(frames.image.shape[0])
    if not space.is_crop:
        return Placement(np.tile(np.array([0, 0, width, height]), (count, 1)), (height, width), space.size)
    if frames.landmarks is None:
        raise ConfigError(
            f"the {space.name} space needs the 68 landmarks of the {what}; this data set has none "
            "(use the bi-layer layout with keypoints/, or space = 'frame')"
        )
    boxes = []
    for points in frames.landmarks.detach().cpu().numpy():
        try:
            boxes.append(crop_box(points).box)
        except ValueError as error:
            raise DataError("landmarks", f"cannot place the {what} in the {space.name} space: {error}") from error
    return Placement(np.asarray(boxes, dtype=np.int64), (height, width), space.size)


def _cut(images: torch.Tensor, where: Placement, mode: str) -> torch.Tensor:
    """Each frame's box, edge-replicated outside the frame, resized to the space's side."""
    if where.is_identity:
        return images
    height, width = where.frame_size
    out = []
    for image, (x0, y0, x1, y1) in zip(images, where.boxes.tolist(), strict=True):
        pads = (max(0, -x0), max(0, x1 - width), max(0, -y0), max(0, y1 - height))
        padded = F.pad(image[None], pads, mode="replicate") if any(pads) else image[None]
        left, top = x0 + pads[0], y0 + pads[2]
        box = padded[..., top : top + (y1 - y0), left : left + (x1 - x0)]
        if box.shape[-2:] != (where.size, where.size):
            box = F.interpolate(box, size=(where.size, where.size), mode=mode, align_corners=False, antialias=True)
        out.append(box)
    return torch.cat(out).clamp_(0.0, 1.0)


def _in_frame(where: Placement, device: torch.device) -> torch.Tensor | None:
    """(N, 1, S, S) 1 where a space pixel's centre lies inside the frame; None when every pixel does."""
    height, width = where.frame_size
    boxes = torch.as_tensor(where.boxes, dtype=torch.float64, device=device)
    centres = (torch.arange(where.size, dtype=torch.float64, device=device) + 0.5) / where.size
    xs = boxes[:, 0:1] + centres[None] * (boxes[:, 2:3] - boxes[:, 0:1])
    ys = boxes[:, 1:2] + centres[None] * (boxes[:, 3:4] - boxes[:, 1:2])
    inside_x, inside_y = (xs >= 0) & (xs < width), (ys >= 0) & (ys < height)
    if bool(inside_x.all()) and bool(inside_y.all()):
        return None
    return (inside_y[:, :, None] & inside_x[:, None, :]).float()[:, None]


def _keep(space: SpaceConfig, where: Placement, segmentation: torch.Tensor | None, device: torch.device):
    if not space.is_crop:
        return None
    keep = _in_frame(where, device)
    if space.name == "masked-crop":
        if segmentation is None:
            raise ConfigError(
                "the masked-crop space needs the ground truth's foreground masks; this run has none "
                "(data.masks = 'none' or segs/ missing with data.masks = 'data'): use masks = 'auto' or another space"
            )
        mask = _cut(segmentation.float(), where, "bilinear")
        keep = mask if keep is None else keep * mask
    return keep


def _composite(image: torch.Tensor, keep: torch.Tensor | None, background: float) -> torch.Tensor:
    return image if keep is None else image * keep + background * (1.0 - keep)


def _landmarks(landmarks: torch.Tensor | None, where: Placement) -> torch.Tensor | None:
    if landmarks is None:
        return None
    boxes = torch.as_tensor(where.boxes, dtype=landmarks.dtype, device=landmarks.device)
    origin, side = boxes[:, None, 0:2], boxes[:, None, 2:4] - boxes[:, None, 0:2]
    return (landmarks - origin) * (where.size / side)


def as_8bit(images: torch.Tensor) -> torch.Tensor:
    """Float images in [0, 1] rounded to the 256 levels of an 8-bit image file (``floor(255 x + 0.5) / 255``, as
    :func:`bench.jobs.save_png` writes them)."""
    return torch.floor(images * 255.0 + 0.5).div_(255.0)


def _in_space(image: torch.Tensor, keep: torch.Tensor | None, background: float) -> torch.Tensor:
    """A cut (or resampled) image as a space image: 8-bit, background set, 8-bit (once where nothing is set)."""
    eight_bit = as_8bit(image)
    return eight_bit if keep is None else as_8bit(_composite(eight_bit, keep, background))


def reference_to_space(space: SpaceConfig, frames: _Frames, where: Placement) -> SpaceFrames:
    """Real frames (ground truth, or the source as the identity reference) in the space; their own masks."""
    keep = _keep(space, where, frames.segmentation, frames.image.device)
    image = _in_space(_cut(frames.image, where, "bicubic"), keep, space.background)
    return SpaceFrames(image, _landmarks(frames.landmarks, where), keep)


def crop_output(output: CropOutput, where: Placement) -> torch.Tensor:
    """A crop-geometry output on the space's boxes at the space's side: untouched when its boxes are the space's
    boxes at that side, else resampled (bilinear); a box that does not cover the space's box is an error."""
    images, boxes = output.images, torch.as_tensor(output.boxes, dtype=torch.float64).cpu()
    target = torch.as_tensor(where.boxes, dtype=torch.float64)
    if images.ndim != 4 or images.shape[0] != len(where) or tuple(boxes.shape) != (len(where), 4):
        raise ModelOutputError(
            f"a crop output needs images (N, 3, S, S) and boxes (N, 4) for N = {len(where)} frames, got "
            f"{tuple(images.shape)} and {tuple(boxes.shape)}"
        )
    same_box = bool(torch.allclose(boxes, target, atol=1e-6))
    if same_box and images.shape[-2:] == (where.size, where.size):
        return images
    if same_box:
        size = (where.size, where.size)
        return F.interpolate(images, size=size, mode="bicubic", align_corners=False, antialias=True).clamp_(0, 1)
    if bool(((boxes[:, :2] - target[:, :2]) > 0.5).any() or ((target[:, 2:] - boxes[:, 2:]) > 0.5).any()):
        raise ModelOutputError(
            "a crop output's boxes do not cover the space's boxes (the driver's bi-layer crops): the model did not "
            "render part of what every model is scored on; return crops covering them, or full frames"
        )
    centres = (torch.arange(where.size, dtype=torch.float64) + 0.5) / where.size
    xs = target[:, 0:1] + centres[None] * (target[:, 2:3] - target[:, 0:1])
    ys = target[:, 1:2] + centres[None] * (target[:, 3:4] - target[:, 1:2])
    u = (xs - boxes[:, 0:1]) / (boxes[:, 2:3] - boxes[:, 0:1]) * 2 - 1
    v = (ys - boxes[:, 1:2]) / (boxes[:, 3:4] - boxes[:, 1:2]) * 2 - 1
    grid = torch.stack(torch.broadcast_tensors(u[:, None, :], v[:, :, None]), dim=-1)
    grid = grid.to(device=images.device, dtype=images.dtype)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False).clamp_(0, 1)


def output_to_space(
    space: SpaceConfig,
    output: torch.Tensor | CropOutput,
    geometry: OutputGeometry,
    reference: SpaceFrames,
    where: Placement,
) -> torch.Tensor:
    """A model's output in the space, with the reference's background replaced the same way."""
    if geometry == "crop":
        if not space.is_crop:
            raise ConfigError(
                "a model that returns crops cannot be scored in the frame space (it renders no full frame); "
                "use space = 'crop' or 'masked-crop'"
            )
        image = crop_output(output, where)  # type: ignore[arg-type]
    else:
        image = _cut(output, where, "bicubic")  # type: ignore[arg-type]
    return _in_space(image, reference.keep, space.background)


def describe_space(space: SpaceConfig) -> dict[str, Any]:
    """The space as records and captions state it."""
    text = {
        "frame": f"whole frames at {space.size}x{space.size}",
        "crop": f"the driver's bi-layer landmark crop at {space.size}x{space.size}",
        "masked-crop": f"the driver's bi-layer landmark crop at {space.size}x{space.size}, background outside the "
        f"ground truth's foreground mask set to {space.background:g}",
    }[space.name]
    if space.is_crop:
        text += f"; crop outside the frame set to {space.background:g} on both sides"
    return {"name": space.name, "size": space.size, "background": space.background, "description": text}
