"""Thin-plate spline backward maps (scipy's ``RBFInterpolator``) and bilinear warping."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.interpolate import RBFInterpolator


@dataclass(frozen=True, eq=False)
class ThinPlateSpline:
    """A fitted 2-D thin-plate spline ``R^2 -> R^2`` (radial basis ``r^2 log r`` plus an affine part); call it on
    ``(..., 2)`` points."""

    interpolator: RBFInterpolator

    def __call__(self, points: np.ndarray) -> np.ndarray:
        pts = np.asarray(points, dtype=np.float64)
        return self.interpolator(pts.reshape(-1, 2)).reshape(pts.shape)

    def grid(self, height: int, width: int) -> np.ndarray:
        """Map of every pixel centre ``(x, y)`` of a ``height`` x ``width`` image: ``(height, width, 2)``."""
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
        return self(np.stack([xs, ys], axis=-1))


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


def fit_tps(dst: np.ndarray, src: np.ndarray, *, smoothing: float = 0.0, tol: float = 1e-6) -> ThinPlateSpline:
    """Fit the thin-plate spline ``f`` with ``f(dst_i) = src_i`` (a backward map when warping).

    ``smoothing`` (``RBFInterpolator``'s, in pixel units) relaxes interpolation into smoothing; keep it 0 or
    tiny. Duplicate ``dst`` points are merged (see :func:`dedupe_control_points`).
    """
    dst, src = dedupe_control_points(dst, src, tol)
    if dst.shape[0] < 3:
        raise ValueError("need at least 3 distinct control points")
    return ThinPlateSpline(RBFInterpolator(dst, src, kernel="thin_plate_spline", degree=1, smoothing=smoothing))


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
