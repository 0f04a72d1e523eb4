"""Per-frame image distances on float images in [0, 1], shape (N, 3, H, W) -> (N,).

* ``l1``: mean absolute difference (FOMM's reconstruction L1).
* ``psnr``: 10 log10(1 / MSE), data range 1; identical frames give +inf.
* ``ssim``: Wang et al. 2004 with an 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03, computed per channel
  over the window positions that fit inside the frame ("valid") and averaged over positions and channels;
  equal to ``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, data_range=1, channel_axis=...)``.
"""

from __future__ import annotations

import functools

import torch

__all__ = ["gaussian_taps", "l1", "psnr", "ssim"]


def _check(pred: torch.Tensor, target: torch.Tensor) -> None:
    if pred.shape != target.shape or pred.ndim != 4:
        raise ValueError(
            f"expected two (N, C, H, W) tensors of one shape, got {tuple(pred.shape)} and {tuple(target.shape)}"
        )


def l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    _check(pred, target)
    return (pred - target).abs().flatten(1).mean(1)


def psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    _check(pred, target)
    mse = (pred.double() - target.double()).square().flatten(1).mean(1)
    return (10.0 * torch.log10(1.0 / mse)).float()  # mse == 0 -> +inf


@functools.lru_cache(maxsize=8)
def gaussian_taps(size: int = 11, sigma: float = 1.5) -> tuple[float, ...]:
    """Normalised 1-D Gaussian taps; the 2-D SSIM window is their outer product."""
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return tuple((g / g.sum()).tolist())


def _blur_valid(t: torch.Tensor, taps: tuple[float, ...]) -> torch.Tensor:
    """Separable Gaussian filter over the last two axes, keeping only positions where the window fits.

    Written as shifted multiply-adds: an 11x11 ``conv2d`` in float64 materialises a 121-fold im2col buffer.
    """
    n = len(taps)
    rows = t.shape[-2] - n + 1
    out = t[..., 0:rows, :] * taps[0]
    for k in range(1, n):
        out.add_(t[..., k : k + rows, :], alpha=taps[k])
    cols = t.shape[-1] - n + 1
    result = out[..., 0:cols] * taps[0]
    for k in range(1, n):
        result.add_(out[..., k : k + cols], alpha=taps[k])
    return result


def ssim(
    pred: torch.Tensor,
    target: torch.Tensor,
    *,
    window: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
) -> torch.Tensor:
    _check(pred, target)
    x, y = pred.double(), target.double()
    taps = gaussian_taps(window, sigma)
    mu_x, mu_y = _blur_valid(x, taps), _blur_valid(y, taps)
    var_x = _blur_valid(x * x, taps) - mu_x**2
    var_y = _blur_valid(y * y, taps) - mu_y**2
    cov = _blur_valid(x * y, taps) - mu_x * mu_y
    c1, c2 = k1**2, k2**2
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return s.flatten(1).mean(1).float()
