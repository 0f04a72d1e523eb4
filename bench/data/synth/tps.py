"""Thin-plate spline backward maps and bilinear warping."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

_CHUNK = 8192


def _kernel(d2: np.ndarray) -> np.ndarray:
    """TPS radial basis ``r^2 log r^2`` (a constant multiple of ``r^2 log r``), 0 at ``r = 0``."""
    return d2 * np.log(np.maximum(d2, 1e-300))


@dataclass(frozen=True, eq=False)
class ThinPlateSpline:
    """A fitted 2-D thin-plate spline ``R^2 -> R^2``; call it on ``(n, 2)`` points.

    Attributes
    ----------
    centers
        ``(n, 2)`` control points in normalised coordinates ``(p - offset) / scale``.
    weights
        ``(n, 2)`` radial weights.
    affine
        ``(3, 2)`` affine part acting on ``(1, x, y)`` in normalised coordinates.
    offset, scale
        Normalisation of the input domain (for conditioning only; TPS is similarity invariant).
    """

    centers: np.ndarray
    weights: np.ndarray
    affine: np.ndarray
    offset: np.ndarray
    scale: float

    def __call__(self, points: np.ndarray) -> np.ndarray:
        pts = np.asarray(points, dtype=np.float64)
        flat = pts.reshape(-1, 2)
        out = np.empty_like(flat)
        cx, cy = self.centers[:, 0], self.centers[:, 1]
        for start in range(0, flat.shape[0], _CHUNK):
            q = (flat[start : start + _CHUNK] - self.offset) / self.scale
            qx, qy = q[:, :1], q[:, 1:]
            d2 = (qx - cx) ** 2 + (qy - cy) ** 2
            affine = self.affine[0] + qx * self.affine[1] + qy * self.affine[2]
            out[start : start + _CHUNK] = _kernel(d2) @ self.weights + affine
        return out.reshape(pts.shape)

    def grid(self, height: int, width: int) -> np.ndarray:
        """Map of every pixel centre ``(x, y)`` of a ``height`` x ``width`` image: ``(height, width, 2)``."""
        xs = (np.arange(width, dtype=np.float64) - self.offset[0]) / self.scale
        ys = (np.arange(height, dtype=np.float64) - self.offset[1]) / self.scale
        dx2 = (xs[:, None] - self.centers[:, 0]) ** 2  # separable squared distances
        dy2 = (ys[:, None] - self.centers[:, 1]) ** 2
        out = np.empty((height, width, 2))
        rows = max(1, _CHUNK // max(width, 1))
        for r0 in range(0, height, rows):
            kernel = _kernel(dy2[r0 : r0 + rows, None, :] + dx2[None, :, :])
            out[r0 : r0 + rows] = (kernel.reshape(-1, kernel.shape[-1]) @ self.weights).reshape(-1, width, 2)
        gx, gy = np.meshgrid(xs, ys)
        out += self.affine[0] + gx[..., None] * self.affine[1] + gy[..., None] * self.affine[2]
        return out


def dedupe_control_points(dst: np.ndarray, src: np.ndarray, tol: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """Drop control points whose ``dst`` coincides (within ``tol``) with an earlier one.

    Coinciding ``dst`` points must have equal ``src`` (within ``tol``), otherwise no map can interpolate
    them and ``ValueError`` is raised.
    """
    dst = np.asarray(dst, dtype=np.float64)
    src = np.asarray(src, dtype=np.float64)
    if dst.shape != src.shape or dst.ndim != 2 or dst.shape[1] != 2:
        raise ValueError("dst and src must both be (n, 2)")
    keep: list[int] = []
    for i in range(dst.shape[0]):
        if keep:
            dist = np.max(np.abs(dst[keep] - dst[i]), axis=1)
            j = int(np.argmin(dist))
            if dist[j] <= tol:
                if np.max(np.abs(src[keep[j]] - src[i])) > tol:
                    raise ValueError(f"control points {keep[j]} and {i} share dst but not src")
                continue
        keep.append(i)
    return dst[keep], src[keep]


def fit_tps(dst: np.ndarray, src: np.ndarray, *, regularization: float = 0.0, tol: float = 1e-6) -> ThinPlateSpline:
    """Fit the thin-plate spline ``f`` with ``f(dst_i) = src_i`` (a backward map when warping).

    ``regularization`` (in normalised units) relaxes interpolation into smoothing; keep it 0 or tiny.
    Duplicate ``dst`` points are merged (see :func:`dedupe_control_points`).
    """
    dst, src = dedupe_control_points(dst, src, tol)
    n = dst.shape[0]
    if n < 3:
        raise ValueError("need at least 3 distinct control points")
    offset = dst.mean(axis=0)
    scale = float(np.max(np.abs(dst - offset))) or 1.0
    c = (dst - offset) / scale
    d2 = ((c[:, None, :] - c[None, :, :]) ** 2).sum(axis=-1)
    system = np.zeros((n + 3, n + 3))
    system[:n, :n] = _kernel(d2) + regularization * np.eye(n)
    system[:n, n] = 1.0
    system[:n, n + 1 :] = c
    system[n, :n] = 1.0
    system[n + 1 :, :n] = c.T
    rhs = np.zeros((n + 3, 2))
    rhs[:n] = src
    solution = np.linalg.solve(system, rhs)
    return ThinPlateSpline(centers=c, weights=solution[:n], affine=solution[n:], offset=offset, scale=scale)


def sample_bilinear(image: np.ndarray, coords: np.ndarray, offset: float = 0.0) -> np.ndarray:
    """Bilinearly sample ``image`` (``H x W`` or ``H x W x C``) at ``(..., 2)`` ``(x, y)`` coordinates.

    ``offset`` is added to the coordinates (e.g. the margin of a padded image). Outside the image
    the values are mirrored. Returns float32 of shape ``coords.shape[:-1] (+ (C,))``.
    """
    rows = coords[..., 1] + offset
    cols = coords[..., 0] + offset
    where = np.stack([rows, cols])
    src = np.asarray(image, dtype=np.float32)
    if src.ndim == 2:
        return ndimage.map_coordinates(src, where, order=1, mode="reflect", output=np.float32)
    channels = [
        ndimage.map_coordinates(src[..., k], where, order=1, mode="reflect", output=np.float32)
        for k in range(src.shape[2])
    ]
    return np.stack(channels, axis=-1)
