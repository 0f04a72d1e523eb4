"""Registered constructors: ``bilayer.paper`` (the released runs, or random weights) and ``bilayer.tiny``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from bilayer.checkpoint import NETWORKS, RunFiles
from bilayer.config import BilayerConfig
from bilayer.model import BilayerModel
from bilayer.protocol import BilayerAvatarModel

__all__ = [
    "TINY",
    "create_paper",
    "create_paper_align_corners_true",
    "create_tiny",
    "random_model",
    "spectrally_normalise",
]

# A small configuration for CPU tests: 64x64 crops, few channels, the paper's structure.
TINY = BilayerConfig(
    image_size=64,
    emb_num_channels=8,
    emb_max_channels=32,
    tex_num_channels=8,
    tex_max_channels=32,
    pse_num_channels=32,
    inf_num_channels=4,
    inf_max_channels=16,
    enh_num_channels=8,
    enh_max_channels=16,
    enh_bottleneck_tensor_size=32,
    enh_num_blocks=2,
)


@torch.no_grad()
def spectrally_normalise(module: nn.Module, seed: int = 0, steps: int = 30) -> None:
    """Divide every Conv2d/Linear weight by its largest singular value (power iteration), as spectral norm
    leaves the released weights, so that random models have realistic activation scales."""
    generator = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            matrix = m.weight.reshape(m.weight.shape[0], -1)
            u = torch.randn(matrix.shape[0], generator=generator)
            for _ in range(steps):
                v = nn.functional.normalize(matrix.t() @ u, dim=0)
                u = nn.functional.normalize(matrix @ v, dim=0)
            m.weight.div_(torch.dot(u, matrix @ v))


def random_model(cfg: BilayerConfig, seed: int = 0) -> BilayerModel:
    torch.manual_seed(seed)
    model = BilayerModel(cfg)
    spectrally_normalise(model, seed)
    return model.eval()


def _run_files(weights: Mapping[str, Path]) -> RunFiles:
    files = {net: Path(weights[f"bilayer.{net}"]) for net in NETWORKS}
    main_args = files["identity_embedder"].parent.parent / "args.txt"
    enhancer_args = files["texture_enhancer"].parent.parent / "args.txt"
    return RunFiles(files, main_args, enhancer_args)


def create_paper(
    weights: Mapping[str, Path] | None = None, seed: int = 0, *, align_corners: bool = False
) -> BilayerAvatarModel:
    """The released model from its five files (config from the enhancer run's args.txt when present, else
    the paper values), or the paper-size architecture with random weights when ``weights`` is None.

    ``align_corners``: grid_sample semantics. False (default) is what the released code computes on the
    PyTorch its README asks for (1.3 or higher) and what the golden data uses; True is PyTorch 1.0's behaviour
    (its requirements.txt pins torch 1.0.1)."""
    if weights is None:
        cfg = BilayerConfig(align_corners=align_corners)
        return BilayerAvatarModel(random_model(cfg, seed))
    return BilayerAvatarModel(BilayerModel.from_files(_run_files(weights), align_corners=align_corners))


def create_paper_align_corners_true(weights: Mapping[str, Path] | None = None, seed: int = 0) -> BilayerAvatarModel:
    return create_paper(weights, seed, align_corners=True)


def create_tiny(weights: Mapping[str, Path] | None = None, seed: int = 0) -> BilayerAvatarModel:
    return BilayerAvatarModel(random_model(TINY, seed))
