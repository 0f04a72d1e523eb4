"""Real public-domain portraits shipped inside installed packages, with their 68 landmarks.

* ``astronaut``: ``skimage.data.astronaut()`` (512 x 512), NASA portrait of Eileen Collins, public domain.
* ``grace_hopper``: matplotlib sample ``grace_hopper.jpg`` (600 x 512, H x W), US Navy, public domain.

The landmark constants below were computed once with dlib 20's ``shape_predictor_68_face_landmarks``
on the original, un-cropped images and rounded to integer pixels (iBUG 68-point order).
The foreground masks are *approximate*: they are derived geometrically from the landmarks
(an ellipse for face and hair, the dilated landmark hull, and a neck / shoulders polygon).
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from .base import BaseIdentity, face_box

ASTRONAUT_LANDMARKS: np.ndarray = np.array(
    [[179, 104], [180, 116], [181, 127], [182, 139], [185, 150], [191, 160], [200, 168], [209, 176],
     [220, 178], [232, 177], [243, 171], [253, 163], [260, 154], [265, 143], [268, 131], [270, 120],
     [272, 108], [186, 94], [192, 88], [200, 87], [208, 89], [216, 92], [236, 93], [244, 91],
     [252, 91], [260, 92], [265, 99], [226, 102], [225, 111], [225, 119], [225, 127], [214, 131],
     [219, 133], [224, 134], [229, 133], [234, 132], [195, 101], [200, 98], [207, 98], [212, 104],
     [206, 104], [199, 104], [237, 106], [243, 100], [250, 100], [255, 105], [250, 107], [244, 107],
     [201, 139], [209, 139], [218, 139], [224, 141], [230, 140], [238, 140], [246, 141], [238, 151],
     [229, 155], [222, 156], [216, 155], [208, 150], [204, 141], [218, 143], [223, 144], [230, 143],
     [243, 142], [229, 150], [223, 151], [217, 150]],
    dtype=np.int64,
)  # fmt: skip
"""dlib 20 ``shape_predictor_68_face_landmarks`` on ``skimage.data.astronaut()`` (x, y pixels)."""

GRACE_HOPPER_LANDMARKS: np.ndarray = np.array(
    [[178, 203], [181, 226], [186, 248], [192, 270], [199, 291], [209, 310], [226, 323], [245, 331],
     [269, 333], [293, 329], [312, 319], [329, 304], [340, 284], [347, 262], [351, 241], [353, 218],
     [355, 195], [189, 188], [196, 172], [211, 165], [228, 165], [243, 171], [284, 168], [298, 161],
     [315, 161], [331, 167], [340, 181], [265, 188], [265, 205], [266, 221], [267, 238], [247, 246],
     [257, 249], [268, 252], [278, 249], [287, 246], [210, 195], [218, 187], [228, 187], [238, 194],
     [229, 195], [219, 196], [291, 192], [300, 184], [310, 184], [319, 190], [311, 192], [301, 193],
     [233, 281], [245, 274], [258, 272], [267, 274], [277, 271], [288, 273], [300, 277], [289, 284],
     [278, 287], [269, 289], [259, 288], [246, 285], [238, 279], [258, 278], [268, 279], [277, 278],
     [296, 278], [277, 278], [268, 279], [258, 279]],
    dtype=np.int64,
)  # fmt: skip
"""dlib 20 ``shape_predictor_68_face_landmarks`` on matplotlib's ``grace_hopper.jpg`` (x, y pixels)."""

CROP_SCALE = 2.6
"""Side of the head-centred crop relative to the landmark bounding box size."""


def load_portrait(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Original RGB uint8 portrait and its integer landmarks."""
    if name == "astronaut":
        from skimage import data as skdata

        return np.ascontiguousarray(skdata.astronaut()[..., :3]), ASTRONAUT_LANDMARKS.copy()
    if name == "grace_hopper":
        from matplotlib import cbook

        with cbook.get_sample_data("grace_hopper.jpg") as handle, Image.open(handle) as image:
            rgb = np.asarray(image.convert("RGB"))
        return np.ascontiguousarray(rgb), GRACE_HOPPER_LANDMARKS.copy()
    raise ValueError(f"no real portrait named {name!r}")


def crop_portrait(image: np.ndarray, landmarks: np.ndarray, size: int, margin: int) -> tuple[np.ndarray, np.ndarray]:
    """Head-centred square crop resized to ``size`` plus ``margin`` pixels of context on every side.

    The crop centre is the landmark box centre moved up by a sixth of the box size; its side is
    ``CROP_SCALE`` times the box size; the window is shifted to stay inside the image. Context
    beyond the image border is mirrored. Returns the padded crop and the landmarks in frame coordinates.
    """
    height, width = image.shape[:2]
    box = face_box(landmarks)
    side = min(CROP_SCALE * box.size, float(height), float(width))
    x0 = min(max(box.cx - side / 2, 0.0), width - side)
    y0 = min(max(box.cy - box.size / 6 - side / 2, 0.0), height - side)
    scale = size / side
    context = margin / scale
    pad = math.ceil(context) + 2
    padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="symmetric")
    window = (x0 - context + pad, y0 - context + pad, x0 + side + context + pad, y0 + side + context + pad)
    out_side = size + 2 * margin
    resized = Image.fromarray(padded).resize((out_side, out_side), Image.Resampling.LANCZOS, box=window)
    # Pixel centres: input index i sits at continuous i + 0.5, output index j at j + 0.5.
    frame_landmarks = (np.asarray(landmarks, np.float64) + 0.5 - np.array([x0, y0])) * scale - 0.5
    return np.asarray(resized, dtype=np.uint8), frame_landmarks


def landmark_mask(landmarks: np.ndarray, side: int, offset: float) -> np.ndarray:
    """Approximate person mask drawn from landmarks on a ``side`` x ``side`` canvas.

    ``offset`` is added to landmark coordinates (the margin of a padded canvas).
    """
    pts = np.asarray(landmarks, np.float64) + offset
    box = face_box(pts)
    brow_top = float(pts[17:27, 1].min())
    chin = float(pts[8, 1])
    h = chin - brow_top
    w = box.width
    cx = float(pts[[0, 16, 27, 8], 0].mean())
    canvas = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(canvas)
    # Face and hair: an ellipse from well above the brows to just below the chin.
    top, bottom = brow_top - 0.75 * h, chin - 0.05 * h
    half_w = 0.75 * w
    draw.ellipse([cx - half_w, top, cx + half_w, bottom], fill=255)
    # The landmark hull, pushed outward, guarantees that the jaw contour is inside.
    centre = pts.mean(axis=0)
    hull = centre + (pts[0:17] - centre) * 1.12
    draw.polygon([tuple(p) for p in hull] + [(cx + 0.5 * w, brow_top), (cx - 0.5 * w, brow_top)], fill=255)
    # Neck and shoulders widening down to the bottom edge.
    neck_top = chin - 0.35 * h
    shoulder = chin + 0.45 * h
    poly = [
        (cx - 0.32 * w, neck_top),
        (cx + 0.32 * w, neck_top),
        (cx + 0.38 * w, chin + 0.25 * h),
        (cx + 1.3 * w, shoulder),
        (cx + 2.0 * w, shoulder + 0.3 * h),
        (cx + 2.2 * w, side),
        (cx - 2.2 * w, side),
        (cx - 2.0 * w, shoulder + 0.3 * h),
        (cx - 1.3 * w, shoulder),
        (cx - 0.38 * w, chin + 0.25 * h),
    ]
    draw.polygon(poly, fill=255)
    return np.asarray(canvas, dtype=np.uint8)


def real_identity(name: str, size: int, margin: int) -> BaseIdentity:
    """Build the base identity of a real portrait."""
    image, landmarks = load_portrait(name)
    crop, frame_landmarks = crop_portrait(image, landmarks, size, margin)
    mask = landmark_mask(frame_landmarks, size + 2 * margin, float(margin))
    return BaseIdentity(name=name, image=crop, mask=mask, landmarks=frame_landmarks, margin=margin, size=size)
