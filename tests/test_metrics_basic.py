"""Per-frame distances: analytic cases and scikit-image as the reference implementation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from bench.metrics import functional as M


def _images(seed: int, n: int = 3, size: int = 48) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_identical_images() -> None:
    x = _images(0)
    assert torch.equal(M.l1(x, x), torch.zeros(3))
    assert torch.isinf(M.psnr(x, x)).all() and (M.psnr(x, x) > 0).all()
    torch.testing.assert_close(M.ssim(x, x), torch.ones(3))


def test_analytic_values() -> None:
    x = torch.zeros(1, 3, 16, 16)
    y = torch.full_like(x, 0.1)
    torch.testing.assert_close(M.l1(x, y), torch.tensor([0.1]))
    torch.testing.assert_close(M.psnr(x, y), torch.tensor([20.0]))  # 10 log10(1 / 0.01)


def test_against_scikit_image() -> None:
    x, y = _images(1), _images(2)
    y = (0.7 * x + 0.3 * y).clamp(0, 1)
    for i in range(x.shape[0]):
        a, b = x[i].permute(1, 2, 0).double().numpy(), y[i].permute(1, 2, 0).double().numpy()
        expected = structural_similarity(
            a,
            b,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=1.0,
            channel_axis=2,
        )
        assert math.isclose(float(M.ssim(x[i : i + 1], y[i : i + 1])), expected, rel_tol=1e-5)
        assert math.isclose(
            float(M.psnr(x[i : i + 1], y[i : i + 1])),
            peak_signal_noise_ratio(a, b, data_range=1.0),
            rel_tol=1e-5,
        )


def test_ordering_more_noise_is_worse() -> None:
    x = _images(3)
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(4))
    little, much = (x + 0.02 * noise).clamp(0, 1), (x + 0.2 * noise).clamp(0, 1)
    assert (M.ssim(x, little) > M.ssim(x, much)).all()
    assert (M.psnr(x, little) > M.psnr(x, much)).all()
    assert (M.l1(x, little) < M.l1(x, much)).all()


def test_shape_errors_quote_the_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(1, 3, 8, 8\) and \(1, 3, 8, 9\)"):
        M.l1(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 9))


def test_window_is_normalised() -> None:
    taps = np.array(M.gaussian_taps())
    assert taps.shape == (11,)
    assert math.isclose(float(taps.sum()), 1.0, rel_tol=1e-12)
    assert int(taps.argmax()) == 5 and taps[0] == taps[-1]
