"""Bi-layer network construction: the identity grid, the projectors' pool and row arithmetic, activations that
leave their inputs alone."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bilayer.config import BilayerConfig
from bilayer.factory import TINY, random_model
from bilayer.layers import ResBlock
from bilayer.networks import identity_grid, projector_shapes


@pytest.mark.parametrize("size", [4, 64, 256, 512])
def test_identity_grid_holds_pixel_centres(size: int) -> None:
    grid = identity_grid(size)
    assert grid.shape == (1, size, size, 2) and grid.dtype == torch.float32
    centres = (2 * torch.arange(size, dtype=torch.float64) + 1) / size - 1
    assert torch.equal(grid[0, 0, :, 0].double(), centres)  # x along the width
    assert torch.equal(grid[0, :, 0, 1].double(), centres)  # y along the height
    assert torch.equal(grid[0, ..., 0], grid[0, :1, :, 0].expand(size, size))


@pytest.mark.parametrize("size", [64, 256])
def test_identity_grid_equals_the_original_midpoints_at_the_released_sizes(size: int) -> None:
    edges = torch.linspace(-1, 1, size + 1)  # the original: midpoints of S + 1 edges, meshgrid (v, u)
    midpoints = (edges[1:] + edges[:-1]) / 2
    v, u = torch.meshgrid(midpoints, midpoints, indexing="ij")
    assert torch.equal(identity_grid(size), torch.stack([u, v], 2)[None])


def _float_shapes(emb: int, gen: int) -> tuple[int, int]:
    """The original's float arithmetic: channel_mult = gen / emb, side = int(sqrt(1024) * mult),
    features = int(side**2 / mult)."""
    mult = gen / float(emb)
    side = int(1024**0.5 * mult)
    return side, int(side**2 / mult)


@pytest.mark.parametrize("emb", [2**i for i in range(0, 12)])
@pytest.mark.parametrize("gen", [2**i for i in range(0, 12)])
def test_projector_shapes_equal_the_float_arithmetic(emb: int, gen: int) -> None:
    if 32 * gen < emb:
        with pytest.raises(ValueError, match="projector: channel ratio"):
            projector_shapes(emb, gen)
        return
    assert projector_shapes(emb, gen) == _float_shapes(emb, gen)


@pytest.mark.parametrize(("emb", "gen"), [(64, 48), (48, 64), (64, 96)])
def test_projector_shapes_of_other_ratios(emb: int, gen: int) -> None:
    side, features = projector_shapes(emb, gen)
    assert (side, features) == _float_shapes(emb, gen)
    assert side * side * emb == features * gen


def test_projector_shapes_that_do_not_split_are_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"ratio 3/64 gives a 1x1 pool"):
        projector_shapes(64, 3)
    with pytest.raises(ValueError, match=r"ratio 64/96 gives a 21x21 pool"):  # 21**2 * 96 / 64 is no integer
        projector_shapes(96, 64)


@pytest.mark.parametrize("cfg", [TINY, BilayerConfig()], ids=["tiny", "paper"])
def test_projector_linear_widths(cfg: BilayerConfig) -> None:
    for i in range(cfg.num_tex_blocks, 0, -1):
        side, features = projector_shapes(cfg.emb_channels(i), cfg.tex_channels(i))
        assert (side, features) == _float_shapes(cfg.emb_channels(i), cfg.tex_channels(i))
    for i in range(cfg.num_inf_blocks, 0, -1):
        assert projector_shapes(cfg.emb_channels(i), cfg.inf_channels(i)) == _float_shapes(
            cfg.emb_channels(i), cfg.inf_channels(i)
        )


def test_no_activation_works_in_place() -> None:
    model = random_model(TINY)
    activations = [m for m in model.modules() if isinstance(m, nn.LeakyReLU)]
    assert activations and not any(m.inplace for m in activations)
    assert all(m.negative_slope == 0.2 for m in activations)


@pytest.mark.parametrize("norm", ["none", "bn"])
def test_res_block_leaves_its_input_alone(norm: str) -> None:
    block = ResBlock(4, 8, eps=1e-7, norm=norm, resize="down").eval()  # type: ignore[arg-type]
    x = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    before = x.clone()
    with torch.no_grad():
        out, feats = block.forward_with_feats(x)
    assert torch.equal(x, before)
    assert out.shape == (2, 8, 4, 4) and feats.shape == (2, 8, 8, 8)
    assert (feats >= 0).any() and (feats < 0).any()  # a leaky activation, not a clamp
