"""The five networks of the bi-layer model, with the module names of the released checkpoints.

Each class is the "network wrapper" of one checkpoint file: its ``state_dict`` keys (after folding spectral
norm, see :mod:`bilayer.checkpoint`) are those of ``EPOCH_NETWORK.pth``. Forward passes run the layers through
:mod:`bilayer.fast_blocks` (same function, fewer multiply-adds, channels-last layout); the inference
generator's per-frame pass is folded per avatar by :mod:`bilayer.fast`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from bilayer.config import BilayerConfig
from bilayer.fast_blocks import run_block, run_sequence
from bilayer.layers import AdaptiveNorm, ResBlock, adaptive_modules, leaky_relu, spade_norms

__all__ = [
    "IdentityEmbedder",
    "InferenceGenerator",
    "KeypointsEmbedder",
    "Projector",
    "TextureEnhancer",
    "TextureGenerator",
]

POOL_SIDE = 32  # a projector pools an embedding to (32 * generator channels / embedder channels) squared


class _Embedder(nn.Module):
    def __init__(self, cfg: BilayerConfig) -> None:
        super().__init__()
        in_channels = 3 if cfg.emb_no_stickman else 6
        layers: list[nn.Module] = [nn.Conv2d(in_channels, cfg.emb_num_channels, 3, 1, 1)]
        for i in range(1, cfg.num_enc_blocks + 1):
            layers.append(ResBlock(cfg.emb_channels(i - 1), cfg.emb_channels(i), eps=cfg.eps, resize="down"))
        self.enc = nn.Sequential(*layers)
        channels = cfg.emb_channels(cfg.num_enc_blocks)
        blocks = []
        for i in range(cfg.num_tex_blocks - 1, -1, -1):
            blocks.append(ResBlock(channels, cfg.tex_channels(i), eps=cfg.eps))
            channels = cfg.tex_channels(i)
        self.dec_blocks = nn.ModuleList(blocks)


class IdentityEmbedder(nn.Module):
    """Source image (masked) + stickman -> one identity embedding per texture-generator block."""

    def __init__(self, cfg: BilayerConfig) -> None:
        super().__init__()
        self.net = _Embedder(cfg)

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``inputs`` (B, 6, H, W) -> (encoder output, embeddings); one source frame per avatar."""
        outputs = run_sequence(self.net.enc, inputs.contiguous(memory_format=torch.channels_last))
        encoded = outputs
        embeds = []
        for block in self.net.dec_blocks:
            outputs, feats = run_block(block, outputs, with_feats=True)
            embeds.append(feats)
        return encoded, embeds


def projector_shapes(emb_channels: int, gen_channels: int) -> tuple[int, int]:
    """(pool side, input features) of the projector of one embedding, from the channel ratio
    ``gen_channels / emb_channels`` of its block (configured widths, see :class:`Projector`).

    An embedding is average-pooled to ``side x side``, ``side = 32 * ratio`` (rounded down), and read as rows of
    ``features = side**2 / ratio`` values. Integer arithmetic: the numbers of the original's float
    ``channel_mult`` wherever that one works.
    """
    side = POOL_SIDE * gen_channels // emb_channels  # rounded down, as the original's int()
    if side < 1 or (side * side * emb_channels) % gen_channels:
        raise ValueError(
            f"projector: channel ratio {gen_channels}/{emb_channels} gives a {side}x{side} pool that does not "
            f"split into rows of whole width; choose channel counts with a power-of-two ratio"
        )
    return side, side * side * emb_channels // gen_channels


class Projector(nn.Module):
    """Maps identity embeddings to the adaptive parameters of a generator (three linear layers per slot).

    Per block, an embedding of ``c`` channels is pooled (see :func:`projector_shapes`) and split into
    ``c * ratio`` rows, each mapped to one output row of every slot. ``c`` is the width the embedding has, which
    can differ from the block's configured embedder width (the last texture block: 64 channels against 128).
    """

    def __init__(self, blocks: list[tuple[int, int, list[int]]]) -> None:
        """``blocks``: per embedding, (embedder channels, generator channels, output widths of its slots)."""
        super().__init__()
        self.ratios: list[tuple[int, int]] = []  # (generator, embedder) channels
        self.pool_sides: list[int] = []
        self.fc_blocks = nn.ModuleList()
        for emb_channels, gen_channels, widths in blocks:
            side, features = projector_shapes(emb_channels, gen_channels)
            self.ratios.append((gen_channels, emb_channels))
            self.pool_sides.append(side)
            self.fc_blocks.append(
                nn.ModuleList(
                    nn.Sequential(
                        nn.Linear(features, emb_channels),
                        nn.Linear(emb_channels, emb_channels),
                        nn.Linear(emb_channels, width),
                    )
                    for width in widths
                )
            )

    def forward(self, embeds: list[torch.Tensor]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(weight, bias) per slot: norm slots give (B, C) and (B, C), conv slots (B, C, C_in, 1, 1), (B, C).

        ``embeds`` may be longer than the projector (the inference generator has fewer blocks than the texture
        generator): the first embeddings are used."""
        params = []
        for embed, fc_block, (gen, emb), side in zip(
            embeds, self.fc_blocks, self.ratios, self.pool_sides, strict=False
        ):
            batch, channels = embed.shape[:2]
            rows = channels * gen // emb
            pooled = F.adaptive_avg_pool2d(embed, (side, side)).reshape(batch * rows, -1)
            for fc in fc_block:
                out = fc(pooled).view(batch, rows, -1)
                weight, bias = out[:, :, :-1], out[:, :, -1]
                weight = weight[..., 0] if weight.shape[-1] == 1 else weight[..., None, None]
                params.append((weight, bias))
        return params


def assign_adaptive(net: nn.Module, params: list[tuple[torch.Tensor, torch.Tensor]], what: str) -> None:
    """Assign projector outputs to the adaptive slots in the original's order (module registration order)."""
    slots = list(adaptive_modules(net))
    if len(slots) != len(params):
        raise ValueError(f"{what}: projector gives {len(params)} parameter sets for {len(slots)} adaptive layers")
    for slot, (weight, bias) in zip(slots, params, strict=True):
        slot.assign(weight, bias)
    avatars = params[0][0].shape[0]
    for norm in spade_norms(net):
        norm.compute_spade(avatars)


class _TexGenerator(nn.Module):
    def __init__(self, cfg: BilayerConfig) -> None:
        super().__init__()
        n = cfg.num_tex_blocks
        size = cfg.tex_input_tensor_size
        layers: list[nn.Module] = []
        for i in range(n - 1, -1, -1):
            layers.append(
                ResBlock(
                    cfg.tex_channels(i + 1),
                    cfg.tex_channels(i),
                    eps=cfg.eps,
                    norm="ada_spade_bn",
                    first_norm="bn" if i == n - 1 else None,
                    resize="up",
                    adaptive_skip=True,
                    spatial_size=size,
                )
            )
            size *= 2

        layers += [AdaptiveNorm(cfg.tex_channels(0), size, "ada_spade_bn", cfg.eps), leaky_relu()]
        self.blocks = nn.Sequential(*layers)
        self.heads = nn.ModuleList([nn.Sequential(nn.Conv2d(cfg.tex_channels(0), 3, 3, 1, 1), nn.Tanh())])


class TextureGenerator(nn.Module):
    """Identity embeddings -> high-frequency RGB texture (B, 3, H, W) in [-1, 1]."""

    def __init__(self, cfg: BilayerConfig) -> None:
        super().__init__()
        self.gen_tex_input = nn.Parameter(
            torch.randn(1, cfg.tex_max_channels, cfg.tex_input_tensor_size, cfg.tex_input_tensor_size)
        )
        self.gen_tex = _TexGenerator(cfg)
        blocks = []
        for i in range(cfg.num_tex_blocks, 0, -1):
            entering = cfg.tex_channels(i)  # generator channels entering block i
            out, skip_in = cfg.tex_channels(i - 1) + 1, entering + 1
            blocks.append((cfg.emb_channels(i), entering, [out, out, skip_in, out, out]))
        self.prj_tex = Projector(blocks)

    def forward(self, embeds: list[torch.Tensor]) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        params = self.prj_tex(embeds)
        assign_adaptive(self.gen_tex, params, "texture generator")
        batch = embeds[0].shape[0]
        start = self.gen_tex_input.expand(batch, -1, -1, -1).contiguous(memory_format=torch.channels_last)
        outputs = run_sequence(self.gen_tex.blocks, start)
        return torch.tanh(run_sequence(self.gen_tex.heads[0][:1], outputs)), params


class _MLP(nn.Module):
    def __init__(self, cfg: BilayerConfig) -> None:
        super().__init__()
        out = cfg.inf_max_channels * cfg.inf_input_tensor_size**2
        hidden = out if cfg.pse_num_blocks == 1 else cfg.pse_num_channels
        layers: list[nn.Module] = [nn.Linear(cfg.pose_features, hidden)]
        for _ in range(1, cfg.pse_num_blocks - 1):
            layers += [leaky_relu(), nn.Linear(hidden, hidden)]
        if cfg.pse_num_blocks != 1:
            layers += [leaky_relu(), nn.Linear(hidden, out)]
        self.mlp = nn.Sequential(*layers)


class KeypointsEmbedder(nn.Module):
    """Normalised keypoints (N, 136) -> pose embeddings (N, C, s, s); optional harmonic encoding."""

    def __init__(self, cfg: BilayerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.net = _MLP(cfg)
        if cfg.pse_use_harmonic_enc:
            frequencies = math.pi * 2.0 ** torch.arange(cfg.pse_num_harmonics, dtype=torch.float32)
            self.register_buffer("frequencies", frequencies[None, None])

    def encode(self, poses: torch.Tensor) -> torch.Tensor:
        """The MLP input: poses, or [sin, cos] of poses times each frequency (x[c * K + k] = p_c f_k)."""
        if not self.cfg.pse_use_harmonic_enc:
            return poses
        phases = (poses[..., None] * self.frequencies).flatten(1)
        return torch.cat([torch.sin(phases), torch.cos(phases)], dim=1)

    def forward(self, poses: torch.Tensor) -> torch.Tensor:
        out = self.net.mlp(self.encode(poses))
        size = self.cfg.inf_input_tensor_size
        return out.view(-1, self.cfg.inf_max_channels, size, size)


class _InfGenerator(nn.Module):
    def __init__(self, cfg: BilayerConfig) -> None:
        super().__init__()
        n = cfg.num_inf_blocks
        layers: list[nn.Module] = []
        for i in range(n - 1, -1, -1):
            layers.append(
                ResBlock(
                    cfg.inf_channels(i + 1),
                    cfg.inf_channels(i),
                    eps=cfg.eps,
                    norm="ada_bn",
                    first_norm="bn" if i == n - 1 else None,
                    resize="up",
                    upsample_after_first_conv=True,
                    adaptive_skip=True,
                )
            )

        layers += [AdaptiveNorm(cfg.inf_channels(0), 1, "ada_bn", cfg.eps), leaky_relu()]
        self.blocks = nn.Sequential(*layers)
        widths = [(2, True), (3, True)] + ([(1, False)] if cfg.inf_pred_segmentation else [])
        self.heads = nn.ModuleList(
            nn.Sequential(nn.Conv2d(cfg.inf_channels(0), w, 3, 1, 1), *([nn.Tanh()] if tanh else []))
            for w, tanh in widths
        )


def identity_grid(size: int) -> torch.Tensor:
    """(1, S, S, 2) pixel-centre coordinates in [-1, 1], last axis (x, y): pixel i at (2i + 1) / S - 1.

    Stored in the checkpoints (it is loaded, not recomputed); for powers of two, such as the sizes of the
    released models, this equals the original's arithmetic bit for bit."""
    centres = torch.linspace(-1 + 1 / size, 1 - 1 / size, size)
    y, x = torch.meshgrid(centres, centres, indexing="ij")
    return torch.stack([x, y], dim=-1)[None]


class InferenceGenerator(nn.Module):
    """Pose embeddings -> UV offsets, low-frequency RGB and segmentation logits, with per-avatar norms."""

    def __init__(self, cfg: BilayerConfig) -> None:
        super().__init__()
        self.gen_inf = _InfGenerator(cfg)
        blocks = []
        for i in range(cfg.num_inf_blocks, 0, -1):
            blocks.append((cfg.emb_channels(i), cfg.inf_channels(i), [2, cfg.inf_channels(i) + 1, 2]))
        self.prj_inf = Projector(blocks)
        self.register_buffer("identity_grid", identity_grid(cfg.image_size))

    def assign(self, embeds: list[torch.Tensor]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        params = self.prj_inf(embeds)
        assign_adaptive(self.gen_inf, params, "inference generator")
        return params

    def forward(self, pose_embeds: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(raw UV deltas, raw LF RGB, segmentation logits or None) for (N, C, s, s) pose embeddings."""
        outputs = self.gen_inf.blocks(pose_embeds)
        heads = [head(outputs) for head in self.gen_inf.heads]
        return heads[0], heads[1], heads[2] if len(heads) > 2 else None


class _EnhNet(nn.Module):
    def __init__(self, cfg: BilayerConfig) -> None:
        super().__init__()
        down = cfg.num_enh_down_blocks
        layers: list[nn.Module] = [nn.Conv2d(6, cfg.enh_num_channels, 3, 1, 1)]
        for i in range(1, down + 1):
            layers.append(ResBlock(cfg.enh_channels(i - 1), cfg.enh_channels(i), eps=cfg.eps, resize="down"))
        for _ in range(cfg.enh_num_blocks):
            layers.append(ResBlock(cfg.enh_channels(down), cfg.enh_channels(down), eps=cfg.eps))
        for i in range(down - 1, -1, -1):
            layers.append(ResBlock(cfg.enh_channels(i + 1), cfg.enh_channels(i), eps=cfg.eps, resize="up"))
        # output block: a norm slot (enh_norm_layer_type "none", the default, is an identity), activation, conv
        layers += [nn.Identity(), leaky_relu(), nn.Conv2d(cfg.enh_channels(0), 3, 3, 1, 1)]
        self.blocks = nn.Sequential(*layers)


class TextureEnhancer(nn.Module):
    """(texture, gradient of the source reconstruction error) -> texture update (before tanh)."""

    def __init__(self, cfg: BilayerConfig) -> None:
        super().__init__()
        self.net = _EnhNet(cfg)

    def forward(self, texture: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
        inputs = torch.cat([texture, gradient], dim=1).contiguous(memory_format=torch.channels_last)
        return run_sequence(self.net.blocks, inputs)
