"""Five-point ArcFace alignment of faces from their 68 landmarks (iBUG 300-W order, 0-based).

The five points are the left-eye centre (mean of points 36-41), the right-eye centre (mean of 42-47), the nose
tip (30) and the mouth corners (48, 54). They are mapped onto the standard ArcFace 112x112 template by the
least-squares similarity (rotation, uniform scale, translation; no reflection) of Umeyama (1991), and the image is
resampled with bilinear interpolation by ``torch.nn.functional.grid_sample`` with zero padding. Coordinates are
in pixels with pixel centres at integers, as in ``cv2.warpAffine``, so the result equals
``cv2.warpAffine(image, M, (112, 112), flags=INTER_LINEAR, borderMode=BORDER_CONSTANT, borderValue=0)``
(up to OpenCV's fixed-point interpolation weights); pixels mapped from outside the frame are black.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

__all__ = [
    "ARCFACE_TEMPLATE",
    "BILAYER_TEMPLATE",
    "align_faces",
    "align_faces_bilayer",
    "five_points",
    "similarity_transform",
]

ARCFACE_TEMPLATE: tuple[tuple[float, float], ...] = (
    (38.2946, 51.6963),  # left eye (image left)
    (73.5318, 51.5014),  # right eye
    (56.0252, 71.7366),  # nose tip
    (41.5493, 92.3655),  # left mouth corner
    (70.7299, 92.2041),  # right mouth corner
)
TEMPLATE_SIZE = 112


def five_points(landmarks: torch.Tensor) -> torch.Tensor:
    """(N, 68, 2) landmarks -> (N, 5, 2): eye centres, nose tip, mouth corners."""
    if landmarks.ndim != 3 or tuple(landmarks.shape[1:]) != (68, 2):
        raise ValueError(f"expected 68 (x, y) landmarks per face, shape (N, 68, 2), got {tuple(landmarks.shape)}")
    return torch.stack(
        [
            landmarks[:, 36:42].mean(1),
            landmarks[:, 42:48].mean(1),
            landmarks[:, 30],
            landmarks[:, 48],
            landmarks[:, 54],
        ],
        dim=1,
    )


def similarity_transform(src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """The (2, 3) similarity ``[s R | t]`` minimising ``sum |s R src_i + t - dst_i|^2`` (Umeyama, det R = +1).

    Computed in float64 and returned in ``src``'s dtype; degenerate point sets (all equal) raise ``ValueError``.
    """
    if src.ndim != 2 or src.shape[1] != 2 or src.shape != dst.shape:
        raise ValueError(f"expected two (K, 2) point sets of one shape, got {tuple(src.shape)} and {tuple(dst.shape)}")
    x, y = src.double(), dst.to(device=src.device, dtype=torch.float64)
    mean_x, mean_y = x.mean(0), y.mean(0)
    xc, yc = x - mean_x, y - mean_y
    var_x = xc.square().sum(1).mean()
    if var_x <= 1e-12:
        raise ValueError("cannot align a face whose landmarks all coincide; check the landmarks of this frame")
    cov = yc.T @ xc / x.shape[0]
    u, sigma, vh = torch.linalg.svd(cov)
    sign = torch.ones(2, dtype=torch.float64, device=x.device)
    if torch.det(u) * torch.det(vh) < 0:
        sign[1] = -1.0
    rotation = u @ torch.diag(sign) @ vh
    scale = (sigma * sign).sum() / var_x
    translation = mean_y - scale * rotation @ mean_x
    return torch.cat([scale * rotation, translation[:, None]], dim=1).to(src.dtype)


def _sampling_grid(matrices: torch.Tensor, height: int, width: int, size: int) -> torch.Tensor:
    """grid_sample grid (N, size, size, 2) that reads, for each output pixel, the source pixel ``M^-1 (x, y)``."""
    square = torch.zeros(matrices.shape[0], 3, 3, dtype=torch.float64, device=matrices.device)
    square[:, :2] = matrices.double()
    square[:, 2, 2] = 1.0
    inverse = torch.linalg.inv(square)[:, :2]  # (N, 2, 3): output pixel -> source pixel
    coords = torch.arange(size, dtype=torch.float64, device=matrices.device)
    gy, gx = torch.meshgrid(coords, coords, indexing="ij")
    pixels = torch.stack([gx, gy, torch.ones_like(gx)], dim=-1).reshape(-1, 3)  # (size*size, 3)
    source = torch.einsum("nij,pj->npi", inverse, pixels)  # (N, size*size, 2) in source pixels
    extent = torch.tensor([width, height], dtype=torch.float64, device=matrices.device)
    normalised = (2.0 * source + 1.0) / extent - 1.0  # pixel centres, align_corners=False
    return normalised.reshape(-1, size, size, 2)


def align_faces(images: torch.Tensor, landmarks: torch.Tensor, size: int = TEMPLATE_SIZE) -> torch.Tensor:
    """Warp faces (N, 3, H, W) in [0, 1] onto the ArcFace template -> (N, 3, size, size).

    ``landmarks`` (N, 68, 2) are (x, y) pixel coordinates in ``images``. For ``size`` other than 112 the template
    is scaled by ``size / 112``.
    """
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected RGB images (N, 3, H, W), got {tuple(images.shape)}")
    if landmarks.shape[0] != images.shape[0]:
        raise ValueError(f"got {images.shape[0]} images but {landmarks.shape[0]} landmark sets; expected one per image")
    points = five_points(landmarks.to(images.device))
    template = torch.tensor(ARCFACE_TEMPLATE, dtype=torch.float64, device=images.device) * (size / TEMPLATE_SIZE)
    matrices = torch.stack([similarity_transform(p.double(), template) for p in points])
    grid = _sampling_grid(matrices, images.shape[2], images.shape[3], size).to(images.dtype)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


# The bi-layer code's own template (losses/csim.py of saic-violet/bilayer-model): eye centres, nose tip, mouth
# corners on a 112x112 grid. It is not the common ArcFace template above (its x coordinates differ by 1-3 px).
BILAYER_TEMPLATE: tuple[tuple[float, float], ...] = (
    (35.343697, 51.6963),
    (76.453766, 51.5014),
    (56.029396, 71.7366),
    (39.14085, 92.3655),
    (73.18488, 92.2041),
)


def align_faces_bilayer(images: torch.Tensor, landmarks: torch.Tensor) -> torch.Tensor:
    """Warp faces (N, 3, H, W) in [0, 1] to 112x112 as the bi-layer code's CSIM does.

    Its rules, reproduced: the similarity is fitted from the template *to* the image's five points (least squares,
    Umeyama; the inverse direction of :func:`align_faces`); template and landmark coordinates are continuous with
    pixel edges at integers (output pixel ``j`` reads the image at ``M (j + 0.5) - 0.5`` in pixel-centre terms, what
    its ``affine_grid`` / ``grid_sample`` with ``align_corners=False`` compute); bilinear sampling with zero padding
    of the image in [-1, 1], so that pixels from outside the frame are mid-grey (0.5 here), not black.
    """
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected RGB images (N, 3, H, W), got {tuple(images.shape)}")
    if landmarks.shape[0] != images.shape[0]:
        raise ValueError(f"got {images.shape[0]} images but {landmarks.shape[0]} landmark sets; expected one per image")
    points = five_points(landmarks.to(images.device)).double()
    template = torch.tensor(BILAYER_TEMPLATE, dtype=torch.float64, device=images.device)
    matrices = torch.stack([similarity_transform(template, p) for p in points])  # template -> image
    centres = torch.arange(TEMPLATE_SIZE, dtype=torch.float64, device=images.device) + 0.5
    gy, gx = torch.meshgrid(centres, centres, indexing="ij")
    pixels = torch.stack([gx, gy, torch.ones_like(gx)], dim=-1).reshape(-1, 3)
    source = torch.einsum("nij,pj->npi", matrices, pixels)  # continuous image coordinates, edges at integers
    extent = torch.tensor([images.shape[3], images.shape[2]], dtype=torch.float64, device=images.device)
    grid = (2.0 * source / extent - 1.0).reshape(-1, TEMPLATE_SIZE, TEMPLATE_SIZE, 2).to(images.dtype)
    warped = F.grid_sample(images - 0.5, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return warped + 0.5
