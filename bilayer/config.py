"""Hyperparameters of the bi-layer model: the paper values as the named default, reduced ones from ``args.txt``.

The fields are the network-relevant arguments of the original training scripts (same names and meaning).
``BilayerConfig.paper()`` is the configuration of the released runs ``vc2-hq_adrianb_paper_main`` and
``vc2-hq_adrianb_paper_enhancer``; :meth:`BilayerConfig.from_args_txt` reads the ``key: value`` lines the
original code writes to ``runs/EXPERIMENT/args.txt`` (unknown keys are ignored, known ones are typed).
The inference-time overrides of the released inference wrapper (no masking of outputs, source-side
inference on) are fixed by the pipeline and are not configuration.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

__all__ = ["BilayerConfig", "log2_int"]

SamplingSemantics = Literal["align_corners_false", "align_corners_true"]


def log2_int(ratio: int, what: str) -> int:
    """Exact log2 of a power of two (the original computes ``int(math.log(a // b, 2))``)."""
    if ratio < 1 or ratio & (ratio - 1):
        raise ValueError(f"{what} must be a power of two, got {ratio}")
    return ratio.bit_length() - 1


@dataclass(frozen=True)
class BilayerConfig:
    image_size: int = 256
    eps: float = 1e-7
    num_keypoints: int = 68
    stickmen_thickness: int = 2
    # identity embedder
    emb_num_channels: int = 64
    emb_max_channels: int = 512
    emb_output_tensor_size: int = 8
    emb_apply_masks: bool = True
    emb_no_stickman: bool = False
    # texture generator
    tex_num_channels: int = 64
    tex_max_channels: int = 512
    tex_input_tensor_size: int = 4
    # keypoints embedder
    pse_in_channels: int = 136
    pse_num_channels: int = 256
    pse_num_blocks: int = 4
    pse_use_harmonic_enc: bool = True
    pse_num_harmonics: int = 4
    # inference generator
    inf_num_channels: int = 32
    inf_max_channels: int = 256
    inf_input_tensor_size: int = 4
    inf_pred_segmentation: bool = True
    # texture enhancer
    enh_num_channels: int = 64
    enh_max_channels: int = 128
    enh_bottleneck_tensor_size: int = 128
    enh_num_blocks: int = 8
    enh_unrolling_depth: int = 4
    # sampling semantics of grid_sample (the golden data and released code on torch >= 1.3: align_corners=False)
    align_corners: bool = False

    @classmethod
    def paper(cls) -> BilayerConfig:
        """The released runs' hyperparameters (scripts/train_base_model_8gpus.sh and the enhancer script)."""
        return cls()

    # --- derived sizes -----------------------------------------------------------------------------------
    @property
    def num_enc_blocks(self) -> int:
        return log2_int(self.image_size // self.emb_output_tensor_size, "image_size / emb_output_tensor_size")

    @property
    def num_tex_blocks(self) -> int:
        return log2_int(self.image_size // self.tex_input_tensor_size, "image_size / tex_input_tensor_size")

    @property
    def num_inf_blocks(self) -> int:
        return log2_int(self.image_size // self.inf_input_tensor_size, "image_size / inf_input_tensor_size")

    @property
    def num_enh_down_blocks(self) -> int:
        return log2_int(self.image_size // self.enh_bottleneck_tensor_size, "image_size / enh_bottleneck_tensor_size")

    def emb_channels(self, i: int) -> int:
        return min(self.emb_num_channels * 2**i, self.emb_max_channels)

    def tex_channels(self, i: int) -> int:
        return min(self.tex_num_channels * 2**i, self.tex_max_channels)

    def inf_channels(self, i: int) -> int:
        return min(self.inf_num_channels * 2**i, self.inf_max_channels)

    def enh_channels(self, i: int) -> int:
        return min(self.enh_num_channels * 2**i, self.enh_max_channels)

    @property
    def pose_features(self) -> int:
        """Input width of the keypoints embedder's MLP."""
        harmonics = 2 * self.pse_num_harmonics if self.pse_use_harmonic_enc else 1
        return self.pse_in_channels * harmonics

    # --- reading the original args.txt -------------------------------------------------------------------
    @classmethod
    def from_args(cls, args: dict[str, str], **overrides: Any) -> BilayerConfig:
        """Build from ``args.txt`` values (strings); keys that are not fields are ignored."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in args:
                continue
            raw = args[f.name].strip()
            if f.type in ("bool", bool):
                if raw not in ("True", "False"):
                    raise ValueError(f"args.txt: {f.name} must be True or False, got {raw!r}")
                values[f.name] = raw == "True"
            elif f.type in ("int", int):
                values[f.name] = int(raw)
            elif f.type in ("float", float):
                values[f.name] = float(raw)
        return dataclasses.replace(cls(), **{**values, **overrides})

    @classmethod
    def from_args_txt(cls, path: Path | str, **overrides: Any) -> BilayerConfig:
        return cls.from_args(read_args_txt(Path(path)), **overrides)


def read_args_txt(path: Path) -> dict[str, str]:
    """Parse the ``key: value`` lines of an original ``args.txt``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise FileNotFoundError(f"{path}: cannot read args.txt ({error})") from error
    args: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            args[key.strip()] = value.strip()
    return args
