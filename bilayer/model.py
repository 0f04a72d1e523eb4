"""The complete bi-layer model: ``prepare`` once per avatar, ``animate`` per batch of frames.

``prepare`` (per avatar): preprocessing of the source, identity embedding, both projectors, the texture, the
source-side inference and the unrolled texture enhancement, and the per-avatar folding of the inference
generator (:mod:`bilayer.fast`). ``animate`` (per frame): keypoints embedding, inference generator, sampling
of the enhanced texture plus the low-frequency layer, image and segmentation.

Order of operations and conventions follow the released code (see shared/conformance/bilayer/README.md):
images in [-1, 1], no clamping, no output masking (the released inference settings), the enhancer's
gradient is that of ``sum((source - reconstruction)^2) / 2`` with respect to the texture, through
``grid_sample``, computed with the sampler's backward operator (no autograd, so it runs in inference mode).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from bilayer.checkpoint import RunFiles, is_harmonic, load_network, read_state
from bilayer.config import BilayerConfig
from bilayer.fast import FoldedGenerator, fold_generator, run_folded
from bilayer.networks import (
    IdentityEmbedder,
    InferenceGenerator,
    KeypointsEmbedder,
    TextureEnhancer,
    TextureGenerator,
)

__all__ = ["Avatar", "BilayerModel"]

Trace = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Avatar:
    """Everything ``animate`` needs for one source: the enhanced texture and the folded generator."""

    texture: torch.Tensor  # (1, 3, S, S) enhanced high-frequency texture
    generator: FoldedGenerator
    base_texture: torch.Tensor = field(repr=False)  # before enhancement (for the unenhanced image)


class BilayerModel(nn.Module):
    def __init__(self, cfg: BilayerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.identity_embedder = IdentityEmbedder(cfg)
        self.texture_generator = TextureGenerator(cfg)
        self.keypoints_embedder = KeypointsEmbedder(cfg)
        self.inference_generator = InferenceGenerator(cfg)
        self.texture_enhancer = TextureEnhancer(cfg)
        self.eval()

    # --- loading ------------------------------------------------------------------------------------------
    @classmethod
    def from_files(cls, files: RunFiles, cfg: BilayerConfig | None = None, **overrides: object) -> BilayerModel:
        """Build from the released files; the config comes from the enhancer run's args.txt unless given.

        Harmonic encoding is read from the keypoints_embedder checkpoint itself (``frequencies`` buffer).
        """
        files.check()
        if cfg is None:
            args = files.enhancer_args if files.enhancer_args and files.enhancer_args.is_file() else None
            cfg = BilayerConfig.from_args_txt(args) if args else BilayerConfig.paper()
        harmonic = is_harmonic(read_state(files.files["keypoints_embedder"], "keypoints_embedder"))
        cfg = BilayerConfig(**{**cfg.__dict__, "pse_use_harmonic_enc": harmonic, **overrides})  # type: ignore[arg-type]
        model = cls(cfg)
        for name in (
            "identity_embedder",
            "texture_generator",
            "keypoints_embedder",
            "inference_generator",
            "texture_enhancer",
        ):
            load_network(getattr(model, name), files.files[name], name)
        return model.eval()

    @classmethod
    def from_runs_dir(cls, runs: Path | str, **kwargs: object) -> BilayerModel:
        return cls.from_files(RunFiles.from_runs_dir(runs), **kwargs)  # type: ignore[arg-type]

    # --- the two stages on preprocessed tensors -------------------------------------------------------------
    def _sample(self, texture: torch.Tensor, uvs: torch.Tensor) -> torch.Tensor:
        if texture.shape[0] != uvs.shape[0]:
            texture = texture.expand(uvs.shape[0], -1, -1, -1)
        return F.grid_sample(texture, uvs, mode="bilinear", padding_mode="zeros", align_corners=self.cfg.align_corners)

    def _inference(self, folded: FoldedGenerator, poses: torch.Tensor, trace: Trace | None, side: str):
        pose_inputs = self.keypoints_embedder.encode(poses)
        embeds = self.keypoints_embedder.net.mlp(pose_inputs)
        size = self.cfg.inf_input_tensor_size
        embeds = embeds.view(-1, self.cfg.inf_max_channels, size, size)
        delta_uvs, lf_rgbs, seg_logits = run_folded(folded, embeds)
        uvs = self.inference_generator.identity_grid + delta_uvs.permute(0, 2, 3, 1)
        segs = torch.sigmoid(seg_logits) if seg_logits is not None else None
        if trace is not None:
            trace[f"kp_mlp_input_{side}"] = pose_inputs
            trace[f"{side}_pose_embeds"] = embeds[None]
            trace[f"{side}_delta_uvs_raw"], trace[f"{side}_lf_rgbs_raw"] = delta_uvs, lf_rgbs
            if seg_logits is not None:
                trace[f"{side}_segs_logits"] = seg_logits
        return uvs, lf_rgbs, segs

    def _enhance(
        self,
        texture: torch.Tensor,
        source: torch.Tensor,
        uvs: torch.Tensor,
        lf: torch.Tensor,
        segs: torch.Tensor,
        trace: Trace | None,
    ) -> torch.Tensor:
        masked = source * segs - (1 - segs)
        for i in range(self.cfg.enh_unrolling_depth):
            recon = (lf + self._sample(texture, uvs)) * segs - (1 - segs)
            grad_sampled = (recon - masked) * segs  # d/d(sampled) of sum((masked - recon)^2) / 2
            gradient = torch.ops.aten.grid_sampler_2d_backward(
                grad_sampled, texture, uvs, 0, 0, self.cfg.align_corners, [True, False]
            )[0]
            out = self.texture_enhancer(texture, gradient)
            if trace is not None:
                trace[f"enh_iter{i}_tex_in"], trace[f"enh_iter{i}_grad_in"], trace[f"enh_iter{i}_net_out"] = (
                    texture,
                    gradient,
                    out,
                )
            texture = texture + torch.tanh(out[:, :3])
        return texture

    def prepare_tensors(
        self,
        image: torch.Tensor,
        pose: torch.Tensor,
        stickman: torch.Tensor,
        segmentation: torch.Tensor,
        trace: Trace | None = None,
    ) -> Avatar:
        """One avatar from its preprocessed source: image (1,3,S,S) in [-1,1], pose (1,136), stickman
        (1,3,S,S), segmentation (1,1,S,S) in [0,1]."""
        inputs = image * segmentation - (1 - segmentation) if self.cfg.emb_apply_masks else image
        if not self.cfg.emb_no_stickman:
            inputs = torch.cat([inputs, stickman], 1)
        encoded, idt_embeds = self.identity_embedder(inputs)
        texture, tex_params = self.texture_generator(idt_embeds)
        inf_params = self.inference_generator.assign(idt_embeds)
        folded = fold_generator(self.inference_generator.gen_inf, self.cfg.inf_pred_segmentation)
        uvs, lf, segs = self._inference(folded, pose, trace, "source")
        if segs is None:
            raise ValueError("the texture enhancer needs predicted segmentations (inf_pred_segmentation)")
        if trace is not None:
            trace["emb_enc_output"] = encoded
            trace.update({f"source_idt_embeds_{i}": e for i, e in enumerate(idt_embeds)})
            for prefix, params in (("tex", tex_params), ("inf", inf_params)):
                for i, (w, b) in enumerate(params):
                    trace[f"{prefix}_adaptive_weight_{i:02d}"], trace[f"{prefix}_adaptive_bias_{i:02d}"] = w, b
            trace["pred_tex_hf_rgbs"] = texture[None]
            trace["pred_source_uvs"], trace["pred_source_delta_lf_rgbs"] = uvs[None], lf[None]
            trace["pred_source_segs"] = segs[None]
        enhanced = self._enhance(texture, image, uvs, lf, segs, trace)
        return Avatar(enhanced, folded, texture)

    def animate_poses(
        self, avatar: Avatar, poses: torch.Tensor, trace: Trace | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Images (N,3,S,S) in [-1,1] (unclamped) and segmentations (N,1,S,S) for poses (N,136)."""
        uvs, lf, segs = self._inference(avatar.generator, poses, trace, "target")
        hf = self._sample(avatar.texture, uvs)
        images = lf + hf
        if trace is not None:
            base_hf = self._sample(avatar.base_texture, uvs)
            trace.update(
                pred_target_uvs=uvs[None],
                pred_target_delta_lf_rgbs=lf[None],
                pred_target_delta_hf_rgbs=base_hf[None],
                pred_target_imgs=(lf + base_hf)[None],
                pred_enh_target_delta_hf_rgbs=hf[None],
                pred_enh_target_imgs=images[None],
                pred_enh_tex_hf_rgbs=avatar.texture.expand(len(poses), -1, -1, -1)[None],
            )
            if segs is not None:
                trace["pred_target_segs"] = segs[None]
        return images, segs
