"""FOMM building blocks against explicit reference computations: the anti-aliased downsampling (blur, then every
k-th pixel, at sizes divisible by k and not), the coordinate grid, the hourglass layout, and the animation rules
(convex-hull movement scale, best frame by normalised landmarks)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import require_shared

from baselines.fomm import FommConfig, KeypointDetectorParams, Keypoints
from baselines.fomm.animation import best_frame, best_frame_distances, movement_scale, normalize_landmarks
from baselines.fomm.blocks import AntiAliasDownsample, Hourglass, coordinate_grid, gaussian_kernel
from baselines.fomm.config import DenseMotionParams, FommConfigError
from baselines.fomm.factory import tiny_config

SHARED = Path(__file__).resolve().parents[2] / "shared" / "conformance" / "fomm"


def _reference_downsample(x: torch.Tensor, scale: float) -> torch.Tensor:
    """Blur every pixel (same-size output, zero padding) with the Gaussian of sigma (1/scale - 1)/2, then keep
    every k-th row and column from the first: the arithmetic AntiAliasDownsample claims, written out in float64."""
    k = round(1 / scale)
    sigma = (k - 1) / 2
    radius = round(4 * sigma)
    taps = np.exp(-(np.arange(-radius, radius + 1) ** 2) / (2 * sigma**2))
    kernel = torch.from_numpy(np.outer(taps, taps) / np.outer(taps, taps).sum())
    channels = x.shape[1]
    weight = kernel.expand(channels, 1, *kernel.shape)
    blurred = F.conv2d(x.double(), weight, padding=radius, groups=channels)
    assert blurred.shape == x.shape
    return blurred[..., ::k, ::k]


@pytest.mark.parametrize("size", [(256, 256), (250, 250), (250, 253), (64, 61)])
@pytest.mark.parametrize("scale", [0.25, 0.5])
def test_anti_alias_downsample_is_blur_then_every_kth_pixel(size: tuple[int, int], scale: float) -> None:
    x = torch.rand(2, 3, *size, generator=torch.Generator().manual_seed(0))
    out = AntiAliasDownsample(3, scale)(x)
    reference = _reference_downsample(x, scale)
    k = round(1 / scale)
    assert out.shape == reference.shape == (2, 3, math.ceil(size[0] / k), math.ceil(size[1] / k))
    torch.testing.assert_close(out.double(), reference, atol=1e-6, rtol=0)


def test_anti_alias_downsample_keeps_63_rows_at_250() -> None:
    """The original's ``blur(x)[..., ::4, ::4]`` gives ceil(250 / 4) = 63 rows and columns, not 250 // 4."""
    assert AntiAliasDownsample(3, 0.25)(torch.zeros(1, 3, 250, 250)).shape[-2:] == (63, 63)
    assert AntiAliasDownsample(3, 0.25)(torch.zeros(1, 3, 256, 256)).shape[-2:] == (64, 64)


def test_gaussian_kernel_equals_the_kernel_stored_in_checkpoints() -> None:
    path = SHARED / "vox-small-cpk.pth.tar"
    require_shared(path, "shared FOMM conformance checkpoint")
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    kernel = AntiAliasDownsample(3, 0.25).weight
    assert kernel.shape == (3, 1, 13, 13)
    assert torch.equal(kernel, checkpoint["kp_detector"]["down.weight"])
    assert torch.equal(kernel, checkpoint["generator"]["dense_motion_network.down.weight"])


@pytest.mark.parametrize(("scale", "side"), [(0.5, 5), (0.25, 13), (0.125, 29)])
def test_gaussian_kernel_is_normalised_symmetric_and_separable(scale: float, side: int) -> None:
    kernel = gaussian_kernel(scale).double()
    assert kernel.shape == (side, side)
    assert kernel.sum().item() == pytest.approx(1.0, abs=1e-6)
    torch.testing.assert_close(kernel, kernel.T, atol=0, rtol=0)
    torch.testing.assert_close(kernel, torch.outer(kernel.sum(1), kernel.sum(0)), atol=1e-8, rtol=1e-6)  # separable
    assert kernel.argmax().item() == side * side // 2


@pytest.mark.parametrize("scale", [0.3, 0.4, 2.0, 0.0, -0.5, 1.0])
def test_anti_alias_downsample_rejects_scales_that_are_not_one_over_k(scale: float) -> None:
    with pytest.raises(ValueError, match=rf"scale_factor must be 1/k .*got {scale}"):
        AntiAliasDownsample(3, scale)


def test_config_rejects_a_scale_it_cannot_subsample_by() -> None:
    with pytest.raises(FommConfigError, match=r"scale_factor: .*1/k .*got 0.3"):
        KeypointDetectorParams(scale_factor=0.3)
    with pytest.raises(FommConfigError, match=r"scale_factor: .*got 0.75"):
        DenseMotionParams(scale_factor=0.75)
    data = tiny_config().to_dict()
    data["model_params"]["kp_detector_params"]["scale_factor"] = 0.3
    with pytest.raises(FommConfigError, match=r"^cfg\.yaml: kp_detector: scale_factor: "):
        FommConfig.from_dict(data, where="cfg.yaml")
    assert KeypointDetectorParams(scale_factor=1).scale_factor == 1


@pytest.mark.parametrize(("height", "width"), [(10, 10), (16, 16), (64, 48), (2, 3)])
def test_coordinate_grid_is_the_original_arithmetic_bit_for_bit(height: int, width: int) -> None:
    grid = coordinate_grid(height, width, dtype=torch.float32, device=torch.device("cpu"))
    assert grid.shape == (height, width, 2)
    for col in range(width):  # x along the width, y along the height, -1 and +1 at the outer pixel centres
        assert grid[0, col, 0].item() == np.float32(2 * np.float32(np.float32(col) / np.float32(width - 1)) - 1)
    for row in range(height):
        assert grid[row, 0, 1].item() == np.float32(2 * np.float32(np.float32(row) / np.float32(height - 1)) - 1)
    assert torch.equal(grid[..., 0], grid[:1, :, 0].expand(height, width))
    assert torch.equal(grid[..., 1], grid[:, :1, 1].expand(height, width))
    assert grid[0, 0].tolist() == [-1.0, -1.0] and grid[-1, -1].tolist() == [1.0, 1.0]


@pytest.mark.parametrize(
    ("expansion", "features", "blocks", "max_features"), [(8, 3, 3, 32), (4, 44, 2, 16), (64, 3, 1, 32)]
)
def test_hourglass_layout_and_skips(expansion: int, features: int, blocks: int, max_features: int) -> None:
    net = Hourglass(expansion, features, blocks, max_features).eval()
    widths = [min(max_features, expansion * 2**level) for level in range(blocks + 1)]
    downs = [(b.conv.in_channels, b.conv.out_channels) for b in net.encoder["down_blocks"]]
    ups = [(b.conv.in_channels, b.conv.out_channels) for b in net.decoder["up_blocks"]]
    assert downs == [(features if i == 0 else widths[i], widths[i + 1]) for i in range(blocks)]
    assert ups == [(widths[i + 1] * (1 if i == blocks - 1 else 2), widths[i]) for i in reversed(range(blocks))]
    assert net.out_filters == widths[0] + features
    keys = list(net.state_dict())
    assert keys[0] == "encoder.down_blocks.0.conv.weight"
    assert f"decoder.up_blocks.{blocks - 1}.norm.num_batches_tracked" in keys
    x = torch.rand(1, features, 16, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = net(x)
        skips = [x]
        for block in net.encoder["down_blocks"]:
            skips.append(block(skips[-1]))
        expected = skips[-1]
        for block, skip in zip(net.decoder["up_blocks"], skips[-2::-1], strict=True):
            expected = torch.cat([block(expected), skip], 1)
    assert out.shape == (1, net.out_filters, 16, 16)
    assert torch.equal(out, expected)
    assert torch.equal(out[:, -features:], x)  # the input itself is the last skip


def _square(side: float, offset: float = 0.0) -> Keypoints:
    corners = torch.tensor([[0, 0], [1, 0], [1, 1], [0, 1], [0.5, 0.5]], dtype=torch.float32) * side + offset
    return Keypoints(corners[None])


def test_movement_scale_is_the_square_root_of_the_hull_area_ratio() -> None:
    assert movement_scale(_square(0.5), _square(0.25, offset=0.3)) == pytest.approx(2.0, rel=1e-7)
    assert movement_scale(_square(0.3), _square(0.3, offset=-0.5)) == pytest.approx(1.0, rel=1e-7)


def test_movement_scale_of_collinear_keypoints_is_a_clear_error() -> None:
    line = Keypoints(torch.tensor([[[0.0, 0.0], [0.1, 0.1], [0.2, 0.2]]]))
    with pytest.raises(ValueError, match="initial driving keypoints span no area"):
        movement_scale(_square(0.5), line)


def _landmarks(count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    angles = np.linspace(0, 2 * np.pi, 68, endpoint=False)
    radius = 40 + 8 * rng.random((count, 68))
    centre = rng.uniform(60, 200, (count, 1, 2))
    points = np.stack([np.cos(angles) * radius, np.sin(angles) * radius], -1) + centre
    return points.astype(np.float32)


def test_best_frame_distances_equal_a_per_frame_computation() -> None:
    source, driving = _landmarks(1, 0)[0], _landmarks(6, 1)

    def normalised(points: np.ndarray) -> np.ndarray:  # demo.find_best_frame's normalize_kp, one set at a time
        from scipy.spatial import ConvexHull

        centred = points - points.mean(axis=0, keepdims=True)
        centred[:, :2] = centred[:, :2] / np.sqrt(ConvexHull(centred[:, :2]).volume)
        return centred

    expected = [float((np.abs(normalised(source.copy()) - normalised(frame.copy())) ** 2).sum()) for frame in driving]
    distances = best_frame_distances(source, driving)
    assert distances.dtype == np.float64 and distances.shape == (6,)
    np.testing.assert_array_equal(distances, expected)
    assert best_frame(source, driving) == int(np.argmin(expected))
    np.testing.assert_array_equal(normalize_landmarks(driving)[2], normalised(driving[2].copy()))


def test_best_frame_takes_the_first_of_equal_frames_and_ignores_position_and_size() -> None:
    source = _landmarks(1, 3)[0]
    moved = (source - 100) * 1.5 + 7  # same shape, other place and size: distance ~0
    driving = np.stack([_landmarks(1, 4)[0], moved, moved.copy()])
    distances = best_frame_distances(source, driving)
    assert distances[1] == distances[2] and distances[1] < 1e-8
    assert best_frame(source, driving) == 1
    with pytest.raises(ValueError, match="no driving landmarks"):
        best_frame(source, np.zeros((0, 68, 2), np.float32))
