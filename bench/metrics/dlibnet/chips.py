"""dlib's aligned face chips (``get_face_chip_details`` + ``extract_image_chip``) in numpy.

``compute_face_descriptor(image, shape)`` embeds a 150x150 chip cut with padding 0.25 from the frame. The chip is
placed by the least-squares similarity transform (rotation, one scale, translation) that maps dlib's mean-face
template, padded and scaled to the chip, onto the shape's points (68-point shapes: the nose, the eyes and the
outer and upper-inner lips, 33 points; 5-point shapes: all five). That transform becomes a rectangle in the
image (``chip_details``: centre, side ``size * scale``, angle), and the chip is resampled from the rectangle:

* with dlib's bilinear interpolation: a chip pixel whose 2x2 neighbourhood is not inside the source is black;
  the value is computed in float64 and truncated to uint8;
* from the frame, cropped first to the rotated rectangle's bounding box grown by 2 pixels, or, when the
  rectangle is more than twice the chip's size, from a level of dlib's image pyramid (``pyramid_down<2>``: a
  separable 1-4-6-4-1 filter on integers, every other row and column, ``floor(sum / 256)``) built from a box
  grown by ``2 -> 2 * 2 + 2 -> ...`` pixels per level, with dlib's mapping of coordinates between levels
  (``p / 2 - (1.25, 0.75)``).

The template's numbers are recovered from dlib's own ``get_face_chip_details`` by probing it (the transform is
linear in the shape's points; tests/test_dlib_chips.py recovers them again and compares).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["TEMPLATE_5", "TEMPLATE_68", "ChipDetails", "extract_chip", "face_chip", "face_chip_details", "pyramid_down"]

TEMPLATE_68: dict[int, tuple[float, float]] = {
    27: (0.490127, 0.203352), 28: (0.490127, 0.307009), 29: (0.490127, 0.409805), 30: (0.490127, 0.515625),
    31: (0.36688, 0.587326), 32: (0.426036, 0.609345), 33: (0.490127, 0.628106), 34: (0.554217, 0.609345),
    35: (0.613373, 0.587326), 36: (0.121737, 0.216423), 37: (0.187122, 0.178758), 38: (0.265825, 0.179852),
    39: (0.334606, 0.231733), 40: (0.260918, 0.245099), 41: (0.182743, 0.244077), 42: (0.645647, 0.231733),
    43: (0.714428, 0.179852), 44: (0.793132, 0.178758), 45: (0.858516, 0.216423), 46: (0.79751, 0.244077),
    47: (0.719335, 0.245099), 48: (0.254149, 0.780233), 49: (0.340985, 0.745405), 50: (0.428858, 0.727388),
    51: (0.490127, 0.742578), 52: (0.551395, 0.727388), 53: (0.639268, 0.745405), 54: (0.726104, 0.780233),
    60: (0.290379, 0.784792), 61: (0.428096, 0.778746), 62: (0.490127, 0.785343), 63: (0.552157, 0.778746),
    64: (0.689874, 0.784792),
}  # fmt: skip
"""dlib's mean face for 68-point shapes: iBUG point (0-based) -> (x, y) in [0, 1] before padding."""

TEMPLATE_5: dict[int, tuple[float, float]] = {
    0: (0.8595674595992, 0.2134981538014), 1: (0.6460604764104, 0.2289674387677),
    2: (0.1205750620789, 0.2137274526848), 3: (0.3340850613712, 0.2290642403242),
    4: (0.4901123135679, 0.6277975316475),
}  # fmt: skip
"""dlib's mean face for its 5-point shapes (``shape_predictor_5_face_landmarks``)."""


@dataclass(frozen=True)
class ChipDetails:
    """dlib's ``chip_details``: a rectangle of the image (inclusive pixel edges), its rotation about its centre
    (radians) and the chip's size."""

    left: float
    top: float
    right: float
    bottom: float
    angle: float
    rows: int
    cols: int

    @property
    def area(self) -> float:
        return _area((self.left, self.top, self.right, self.bottom))


def _area(rect: tuple[float, float, float, float]) -> float:
    left, top, right, bottom = rect
    return 0.0 if left > right or top > bottom else (right - left + 1) * (bottom - top + 1)


def _similarity(source: np.ndarray, target: np.ndarray) -> tuple[complex, complex]:
    """Least-squares ``target ~ z * source + t`` over points as complex numbers (rotation and scale in z)."""
    p, q = source[:, 0] + 1j * source[:, 1], target[:, 0] + 1j * target[:, 1]
    pc, qc = p - p.mean(), q - q.mean()
    z = complex(np.sum(np.conj(pc) * qc) / np.sum(np.abs(pc) ** 2))
    return z, complex(q.mean() - z * p.mean())


def face_chip_details(shape: np.ndarray, size: int = 150, padding: float = 0.25) -> ChipDetails:
    """Where dlib cuts the face chip of a (68, 2) or (5, 2) array of (x, y) points, as ``get_face_chip_details``."""
    shape = np.asarray(shape, dtype=np.float64)
    templates = {68: TEMPLATE_68, 5: TEMPLATE_5}
    if shape.ndim != 2 or shape.shape[1] != 2 or shape.shape[0] not in templates:
        raise ValueError(f"expected a shape of 68 or 5 (x, y) points, got an array of shape {shape.shape}")
    if size <= 0 or padding < 0:
        raise ValueError(f"size must be > 0 and padding >= 0, got size={size}, padding={padding}")
    template = templates[shape.shape[0]]
    chip_points = (padding + np.array(list(template.values()))) / (2 * padding + 1) * size
    z, t = _similarity(chip_points, shape[list(template)])
    scale, centre = abs(z), z * complex(size / 2, size / 2) + t
    half = (size * scale - 1) / 2
    rect = (centre.real - half, centre.imag - half, centre.real + half, centre.imag + half)
    return ChipDetails(*rect, angle=math.atan2(z.imag, z.real), rows=size, cols=size)


def pyramid_down(image: np.ndarray) -> np.ndarray:
    """One level of dlib's ``pyramid_down<2>`` on an (H, W, C) uint8 image: ((H - 3) // 2, (W - 3) // 2, C)."""
    rows, cols = image.shape[:2]
    if rows <= 8 or cols <= 8:
        return np.zeros((0, 0, *image.shape[2:]), dtype=image.dtype)
    out_rows, out_cols = (rows - 3) // 2, (cols - 3) // 2
    x = image.astype(np.int32)
    weights = (1, 4, 6, 4, 1)
    across = sum(w * x[:, i : i + 2 * out_cols : 2] for i, w in enumerate(weights))
    down = sum(w * across[i : i + 2 * out_rows : 2] for i, w in enumerate(weights))
    return (down // 256).astype(image.dtype)


def _rotate(centre: tuple[float, float], point: tuple[float, float], angle: float) -> tuple[float, float]:
    cos, sin = math.cos(angle), math.sin(angle)
    dx, dy = point[0] - centre[0], point[1] - centre[1]
    return cos * dx - sin * dy + centre[0], sin * dx + cos * dy + centre[1]


def _down(rect: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    left, top, right, bottom = rect
    return left / 2 - 1.25, top / 2 - 0.75, right / 2 - 1.25, bottom / 2 - 0.75


def _round(value: float) -> int:
    """C's ``lround``: halves away from zero."""
    return int(math.copysign(math.floor(abs(value) + 0.5), value))


def _bilinear(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """dlib's ``interpolate_bilinear`` at float64 points: truncated to uint8, black outside."""
    rows, cols, channels = image.shape
    left, top = np.floor(x), np.floor(y)
    inside = (left >= 0) & (top >= 0) & (left < cols - 1) & (top < rows - 1)
    out = np.zeros((x.size, channels), dtype=np.uint8)
    if not inside.any():
        return out.reshape(*x.shape, channels)
    everywhere = bool(inside.all())
    pick = (lambda a: a.reshape(-1)) if everywhere else (lambda a: a[inside])
    left, top = pick(left), pick(top)
    lr, tb = (pick(x) - left)[:, None], (pick(y) - top)[:, None]
    flat = image.reshape(-1, channels)
    index = top.astype(np.intp) * cols + left.astype(np.intp)
    tl, tr = flat[index].astype(np.float64), flat[index + 1].astype(np.float64)
    bl, br = flat[index + cols].astype(np.float64), flat[index + cols + 1].astype(np.float64)
    value = (1 - tb) * ((1 - lr) * tl + lr * tr) + tb * ((1 - lr) * bl + lr * br)
    if everywhere:
        out[:] = value  # truncation, as dlib's static_cast (values are in [0, 255])
    else:
        out[inside.reshape(-1)] = value
    return out.reshape(*x.shape, channels)


def _copy(image: np.ndarray, details: ChipDetails) -> np.ndarray:
    """dlib's plain copy for an unrotated chip of the rectangle's own size; black outside the image."""
    left, top, right, bottom = (_round(v) for v in (details.left, details.top, details.right, details.bottom))
    chip = np.zeros((bottom - top + 1, right - left + 1, image.shape[2]), dtype=np.uint8)
    rows = slice(max(top, 0), min(bottom + 1, image.shape[0]))
    cols = slice(max(left, 0), min(right + 1, image.shape[1]))
    if rows.start < rows.stop and cols.start < cols.stop:
        chip[rows.start - top : rows.stop - top, cols.start - left : cols.stop - left] = image[rows, cols]
    return chip


def extract_chip(image: np.ndarray, details: ChipDetails) -> np.ndarray:
    """The (rows, cols, 3) uint8 chip of an (H, W, 3) uint8 RGB image, as dlib's ``extract_image_chip``."""
    if image.ndim != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, C) uint8 image, got shape {image.shape} and dtype {image.dtype}")
    rect = (details.left, details.top, details.right, details.bottom)
    if details.angle == 0 and details.rows == rect[3] - rect[1] + 1 and details.cols == rect[2] - rect[0] + 1:
        return _copy(image, details)
    size, grow, depth, smaller = details.rows * details.cols, 2.0, 0, _down(rect)
    while _area(smaller) > size:
        smaller, depth, grow = _down(smaller), depth + 1, grow * 2 + 2
    centre = ((rect[0] + rect[2]) / 2, (rect[1] + rect[3]) / 2)
    corners = [_rotate(centre, (x, y), details.angle) for x in (rect[0], rect[2]) for y in (rect[1], rect[3])]
    xs, ys = [c[0] for c in corners], [c[1] for c in corners]
    box = (max(min(xs) - grow, 0), max(min(ys) - grow, 0))
    box += (min(max(xs) + grow, image.shape[1] - 1), min(max(ys) + grow, image.shape[0] - 1))
    left, top, right, bottom = (_round(v) for v in box)
    if left > right or top > bottom:
        return np.zeros((details.rows, details.cols, image.shape[2]), dtype=np.uint8)
    source = image[top : bottom + 1, left : right + 1]
    rect = (rect[0] - left, rect[1] - top, rect[2] - left, rect[3] - top)
    while _area(_down(rect)) > size:
        source, rect = pyramid_down(source), _down(rect)
    centre = ((rect[0] + rect[2]) / 2, (rect[1] + rect[3]) / 2)
    origin = np.array(_rotate(centre, rect[:2], details.angle))
    across = (np.array(_rotate(centre, (rect[2], rect[1]), details.angle)) - origin) / (details.cols - 1)
    down = (np.array(_rotate(centre, (rect[0], rect[3]), details.angle)) - origin) / (details.rows - 1)
    r, c = np.mgrid[0 : details.rows, 0 : details.cols].astype(np.float64)
    x = across[0] * c + down[0] * r + origin[0]
    y = across[1] * c + down[1] * r + origin[1]
    return _bilinear(source, x, y)


def face_chip(image: np.ndarray, shape: np.ndarray, size: int = 150, padding: float = 0.25) -> np.ndarray:
    """dlib's ``get_face_chip(image, shape, size, padding)`` from an (N, 2) array of the shape's points."""
    return extract_chip(image, face_chip_details(shape, size, padding))
