"""csim.bilayer.irse50: the bi-layer code's own alignment (template, direction, coordinates, padding)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.metrics.align import ARCFACE_TEMPLATE, BILAYER_TEMPLATE, align_faces_bilayer, five_points


def _landmarks_at(points: np.ndarray) -> torch.Tensor:
    """68 landmarks whose five points (eye centres, nose tip, mouth corners) are ``points`` (5, 2)."""
    landmarks = np.zeros((68, 2), dtype=np.float64)
    landmarks[36:42], landmarks[42:48] = points[0], points[1]
    landmarks[30], landmarks[48], landmarks[54] = points[2], points[3], points[4]
    return torch.from_numpy(landmarks)[None]


def test_template_points_map_to_themselves() -> None:
    """Landmarks on the template in a 112x112 image: the alignment is the identity, pixel for pixel."""
    image = torch.rand(1, 3, 112, 112, dtype=torch.float64)
    aligned = align_faces_bilayer(image, _landmarks_at(np.array(BILAYER_TEMPLATE)))
    torch.testing.assert_close(aligned, image, rtol=0, atol=1e-9)
    assert five_points(_landmarks_at(np.array(BILAYER_TEMPLATE)))[0].numpy() == pytest.approx(
        np.array(BILAYER_TEMPLATE)
    )
    assert not np.allclose(BILAYER_TEMPLATE, ARCFACE_TEMPLATE)  # the bi-layer code's template is its own


def test_a_known_similarity_by_hand() -> None:
    """Points at 2x the template plus (10, 20) in a 300x300 image: output pixel j reads the image at
    2 (j + 0.5) + offset - 0.5 in pixel-centre terms; outside the image the padding is mid-grey."""
    rng = np.random.default_rng(0)
    image = torch.from_numpy(rng.random((1, 3, 300, 300)))
    offset = np.array([10.0, 20.0])
    aligned = align_faces_bilayer(image, _landmarks_at(2 * np.array(BILAYER_TEMPLATE) + offset))
    j = np.arange(112)
    xs, ys = 2 * (j + 0.5) + offset[0] - 0.5, 2 * (j + 0.5) + offset[1] - 0.5  # exact half-pixel positions
    x0, y0 = np.floor(xs).astype(int), np.floor(ys).astype(int)
    array = image[0].numpy()
    expected = 0.25 * (
        array[:, y0][:, :, x0]
        + array[:, y0 + 1][:, :, x0]
        + array[:, y0][:, :, x0 + 1]
        + array[:, y0 + 1][:, :, x0 + 1]
    )
    np.testing.assert_allclose(aligned[0].numpy(), expected, atol=1e-9)
    far = align_faces_bilayer(image, _landmarks_at(np.array(BILAYER_TEMPLATE) + 1000.0))
    assert torch.allclose(far, torch.full_like(far, 0.5))
