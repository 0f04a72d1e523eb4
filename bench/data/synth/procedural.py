"""Procedurally drawn fallback identities.

A symmetric 68-point template (the de-rolled, mirror-averaged astronaut landmarks with a nearly
closed mouth) is perturbed by seeded shape parameters; the face is then drawn with PIL at 4x
supersampling *along those points*, so the landmarks are exact by construction. The mask is the
union of the drawn person layers (hair, ears, head, neck, shoulders).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from .base import MIRROR, BaseIdentity, face_box
from .canvas import Canvas, Color, arc, mix, noise, shade
from .portraits import ASTRONAUT_LANDMARKS


def template_landmarks() -> np.ndarray:
    """Symmetric frontal template, bounding box centred at 0 with width 1 (y down)."""
    pts = ASTRONAUT_LANDMARKS.astype(np.float64)
    left, right = pts[36:42].mean(0), pts[42:48].mean(0)
    angle = np.arctan2(right[1] - left[1], right[0] - left[0])
    rot = np.array([[np.cos(-angle), -np.sin(-angle)], [np.sin(-angle), np.cos(-angle)]])
    mid = (left + right) / 2
    pts = mid + (pts - mid) @ rot.T
    xc = pts[:, 0].mean()
    mirrored = pts[MIRROR].copy()
    mirrored[:, 0] = 2 * xc - mirrored[:, 0]
    pts = (pts + mirrored) / 2
    box = face_box(pts)
    pts = (pts - np.array([box.cx, box.cy])) / box.width
    # Nearly close the mouth: lift the lower lip so that the inner lips are 0.015 apart.
    gap = pts[[65, 66, 67], 1].mean() - pts[[61, 62, 63], 1].mean()
    pts[[55, 56, 57, 58, 59, 65, 66, 67], 1] -= gap - 0.015
    return pts


def _perturbed_shape(rng: np.random.Generator) -> np.ndarray:
    """Template with seeded face width / length, eye spacing and size, nose, mouth and brow changes."""
    pts = template_landmarks()
    eye_y = pts[36:48, 1].mean()
    pts[0:17, 0] *= rng.uniform(0.92, 1.08)
    lower = pts[:, 1] > eye_y
    pts[lower, 1] = eye_y + (pts[lower, 1] - eye_y) * rng.uniform(0.93, 1.08)
    pts[4:13, 0] *= rng.uniform(0.9, 1.06)
    spacing = rng.uniform(-0.03, 0.03)
    eye_scale = rng.uniform(0.88, 1.15)
    for eye, brow, side in ((slice(36, 42), slice(17, 22), -1.0), (slice(42, 48), slice(22, 27), 1.0)):
        centre = pts[eye].mean(0)
        pts[eye] = centre + (pts[eye] - centre) * eye_scale
        pts[eye, 0] += side * spacing
        pts[brow, 0] += side * spacing
    pts[17:27, 1] -= rng.uniform(-0.02, 0.03)
    top = pts[27].copy()
    pts[27:36, 1] = top[1] + (pts[27:36, 1] - top[1]) * rng.uniform(0.9, 1.1)
    pts[31:36, 0] = top[0] + (pts[31:36, 0] - top[0]) * rng.uniform(0.85, 1.2)
    mouth_centre = pts[48:68].mean(0)
    pts[48:68, 0] = mouth_centre[0] + (pts[48:68, 0] - mouth_centre[0]) * rng.uniform(0.85, 1.12)
    seam = pts[60:68, 1].mean()
    pts[48:60, 1] = seam + (pts[48:60, 1] - seam) * rng.uniform(0.8, 1.25)
    return pts - np.array([face_box(pts).cx, face_box(pts).cy])


@dataclass(frozen=True)
class FaceStyle:
    """Seeded colours and hair style of a procedural identity."""

    skin: Color
    hair: Color
    iris: Color
    lips: Color
    cloth: Color
    bg_top: Color
    bg_bottom: Color
    long_hair: bool
    fringe: float


def _style(rng: np.random.Generator) -> FaceStyle:
    skin = mix((250, 214, 186), (105, 66, 45), rng.uniform(0.0, 1.0))
    skin = mix(skin, (230, 180, 140), rng.uniform(0.0, 0.3))
    hairs = [(30, 24, 20), (85, 55, 35), (150, 105, 60), (205, 170, 110), (140, 60, 30), (150, 150, 150)]
    hair = mix(hairs[int(rng.integers(len(hairs)))], (128, 128, 128), rng.uniform(0.0, 0.15))
    irises = [(80, 50, 30), (60, 100, 150), (70, 110, 70), (110, 110, 120)]
    iris = irises[int(rng.integers(len(irises)))]
    lips = mix(skin, (170, 60, 70), rng.uniform(0.35, 0.6))
    cloth = mix(rng.integers(20, 230, 3), (0, 0, 0), 0.0)
    bg_top = mix(rng.integers(60, 230, 3), (128, 128, 128), 0.5)
    bg_bottom = mix(bg_top, rng.integers(40, 200, 3), 0.6)
    return FaceStyle(
        skin=skin, hair=hair, iris=iris, lips=lips, cloth=cloth, bg_top=bg_top, bg_bottom=bg_bottom,
        long_hair=bool(rng.random() < 0.5), fringe=float(rng.uniform(0.12, 0.28)),
    )  # fmt: skip


def _background(style: FaceStyle, side: int, rng: np.random.Generator) -> np.ndarray:
    t = np.linspace(0.0, 1.0, side)[:, None, None]
    tilt = np.linspace(-0.15, 0.15, side)[None, :, None] * rng.uniform(-1.0, 1.0)
    grad = np.clip(t + tilt, 0.0, 1.0)
    image = np.asarray(style.bg_top, np.float64) * (1 - grad) + np.asarray(style.bg_bottom, np.float64) * grad
    blobs = noise(rng, side, side / 10.0)[..., None] * 14.0
    return np.clip(np.round(image + blobs), 0, 255).astype(np.uint8)


def _draw_person(cv: Canvas, p: np.ndarray, st: FaceStyle, rng: np.random.Generator) -> list[tuple[float, float]]:
    """Draw hair, shoulders, neck, ears and head; return the head outline (frame coordinates)."""
    box = face_box(p)
    w = box.width
    cx = float(p[0, 0] + p[16, 0]) / 2
    brow_top = float(p[17:27, 1].min())
    chin = float(p[8, 1])
    h = chin - brow_top
    y_mid = float(p[0, 1] + p[16, 1]) / 2
    a_head = float(p[16, 0] - p[0, 0]) / 2 + 0.02 * w
    b_head = (y_mid - brow_top) + 0.45 * h
    bottom = cv.side - cv.margin + 2.0
    y_s = chin + 0.42 * h
    cv.ellipse(cx, y_s + 1.3 * h, 1.55 * w, 1.3 * h, st.cloth, person=True)
    cv.polygon([(cx - 1.55 * w, y_s + 1.3 * h), (cx + 1.55 * w, y_s + 1.3 * h),
                (cx + 1.55 * w, bottom), (cx - 1.55 * w, bottom)], st.cloth, person=True)  # fmt: skip
    hair_a, hair_b = a_head + (0.2 if st.long_hair else 0.07) * w, b_head + 0.1 * h
    hair_low = chin + 0.6 * h if st.long_hair else y_mid + 0.1 * h
    back = [*arc(cx, y_mid, hair_a, hair_b, 0.0, np.pi), (cx - hair_a, hair_low), (cx + hair_a, hair_low)]
    cv.polygon(back, shade(st.hair, 0.8), person=True)
    neck = shade(st.skin, 0.86)
    neck_outline = [
        (cx - 0.3 * w, float(p[3, 1])), (cx + 0.3 * w, float(p[13, 1])), (cx + 0.32 * w, y_s + 0.05 * h),
        (cx, y_s + 0.35 * h), (cx - 0.32 * w, y_s + 0.05 * h),
    ]  # fmt: skip
    cv.polygon(neck_outline, neck, person=True)
    cv.ellipse(cx, chin - 0.04 * h, 0.28 * w, 0.12 * h, shade(st.skin, 0.72), person=True)
    for jaw, side in ((p[1], -1.0), (p[15], 1.0)):
        cv.ellipse(float(jaw[0]) + side * 0.005 * w, float(jaw[1]) - 0.02 * h, 0.07 * w, 0.13 * h,
                   shade(st.skin, 0.92), person=True)  # fmt: skip
    centre = np.array([box.cx, box.cy])
    radial = (p[0:17] - centre) / np.linalg.norm(p[0:17] - centre, axis=1, keepdims=True)
    head = [tuple(q) for q in p[0:17] + 1.5 * radial] + arc(cx, y_mid, a_head, b_head, 0.0, np.pi)
    cv.polygon(head, st.skin, person=True)
    cv.line(p[0:17], shade(st.skin, 0.8), 0.012 * w)
    y_c, y_t = brow_top - st.fringe * h, y_mid - 0.08 * h
    xs = np.linspace(cx + a_head, cx - a_head, 30)
    u = np.abs(xs - cx) / a_head
    fringe = y_c + (y_t - y_c) * u**3 + 0.015 * h * np.sin(xs / w * rng.uniform(15, 30) + rng.uniform(0, 6.3))
    side_low = chin - 0.1 * h if st.long_hair else y_mid + 0.05 * h
    cap = [
        *arc(cx, y_mid, a_head + 0.05 * w, b_head + 0.06 * h, 0.0, np.pi),
        (cx - a_head - 0.05 * w, side_low),
        *[(float(x), float(y)) for x, y in zip(xs[::-1], fringe[::-1], strict=True)],
        (cx + a_head + 0.05 * w, side_low),
    ]
    cv.polygon(cap, st.hair, person=True)
    return head


def _draw_features(cv: Canvas, p: np.ndarray, st: FaceStyle) -> None:
    """Brows, eyes, nose and lips drawn along the landmarks."""
    w = face_box(p).width
    h = float(p[8, 1] - p[17:27, 1].min())
    brow = shade(st.hair, 0.7)
    cv.line(p[17:22], brow, 0.035 * w)
    cv.line(p[22:27], brow, 0.035 * w)
    for eye in (p[36:42], p[42:48]):
        cv.polygon(eye, mix((245, 245, 240), st.skin, 0.15))
        centre = eye.mean(axis=0)
        r = 0.33 * float(np.linalg.norm(eye[3] - eye[0]))
        paint, draw = cv.layer()
        for radius, color in ((r, st.iris), (0.45 * r, (15, 12, 12))):
            draw.ellipse([*cv.xy(centre[0] - radius, centre[1] - radius),
                          *cv.xy(centre[0] + radius, centre[1] + radius)], fill=color)  # fmt: skip
        hx, hy = centre + np.array([0.3, -0.3]) * r
        glint = 0.15 * r
        draw.ellipse([*cv.xy(hx - glint, hy - glint), *cv.xy(hx + glint, hy + glint)], fill=(250, 250, 250))
        cv.clipped(eye, paint)
        cv.line(eye[[0, 1, 2, 3]], mix(shade(st.hair, 0.4), (20, 15, 15), 0.5), 0.016 * w)
        cv.line(eye[[3, 4, 5, 0]], shade(st.skin, 0.7), 0.006 * w)
    side = shade(st.skin, 0.88)
    for k, s in ((31, -1.0), (35, 1.0)):
        wing = (p[k, 0] - s * 0.01 * w, p[k, 1] - 0.08 * h)
        cv.line([(p[27, 0] + s * 0.05 * w, p[27, 1] + 0.03 * h), wing], side, 0.025 * w)
        cv.line([p[k], (p[k, 0] + s * 0.015 * w, p[k, 1] - 0.04 * h), wing], shade(st.skin, 0.75), 0.018 * w)
    cv.ellipse(float(p[33, 0]), float(p[33, 1]) + 0.02 * h, 0.07 * w, 0.025 * h, shade(st.skin, 0.8))
    cv.ellipse(float(p[30, 0]), float(p[30, 1]) - 0.01 * h, 0.045 * w, 0.04 * h, shade(st.skin, 1.15))
    for k in (32, 34):
        cv.ellipse(float(p[k, 0]), float(p[k, 1]) - 0.01 * h, 0.025 * w, 0.014 * h, shade(st.skin, 0.35))
    cv.line(p[31:36], shade(st.skin, 0.6), 0.02 * w)
    cv.polygon(p[48:60], st.lips)
    cv.polygon(np.concatenate([p[48:55], p[[64, 63, 62, 61, 60]]]), shade(st.lips, 0.88))
    cv.polygon(p[60:68], (40, 12, 18))
    seam = (60, 15, 20)
    cv.line(p[60:65], seam, 0.01 * w)
    cv.line(p[[60, 67, 66, 65, 64]], seam, 0.01 * w)


def procedural_identity(name: str, rng: np.random.Generator, size: int, margin: int) -> BaseIdentity:
    """Draw the base identity of a procedural person from a seeded generator."""
    shape = _perturbed_shape(rng)
    style = _style(rng)
    face_px = rng.uniform(0.36, 0.42) * size
    box = face_box(shape * face_px)
    centre = np.array([size / 2 + rng.uniform(-0.03, 0.03) * size,
                       size / 2 + box.size / 6 + rng.uniform(-0.02, 0.02) * size])  # fmt: skip
    landmarks = shape * face_px + centre
    side = size + 2 * margin
    canvas = Canvas(_background(style, side, rng), margin)
    head = _draw_person(canvas, landmarks, style, rng)
    _draw_features(canvas, landmarks, style)
    image, mask = canvas.result()
    stencil = Image.new("L", (side, side), 0)
    ImageDraw.Draw(stencil).polygon([(x + margin, y + margin) for x, y in head], fill=1)
    dist = ndimage.distance_transform_edt(np.asarray(stencil))
    light = 0.8 + 0.2 * np.clip(dist / (0.2 * box.width), 0.0, 1.0) ** 0.7
    texture = 1.0 + 0.05 * noise(rng, side, side / 12.0) + 0.02 * noise(rng, side, 1.5)
    shaded = image.astype(np.float64) * (np.where(dist > 0, light, 1.0) * texture)[..., None]
    final = np.clip(np.round(shaded), 0, 255).astype(np.uint8)
    return BaseIdentity(name=name, image=final, mask=mask, landmarks=landmarks, margin=margin, size=size)
