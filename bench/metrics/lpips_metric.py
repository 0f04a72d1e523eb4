"""LPIPS (Zhang et al., CVPR 2018) through the ``lpips`` package, variants ``lpips.alex.v0.1`` and ``lpips.vgg.v0.1``.

The calibrated linear layers (v0.1) ship inside the package. The ImageNet trunks (torchvision's
``alexnet-owt-7be5be79.pth``, ``vgg16-397923af.pth``) are not downloaded: they are resolved from the weights
registry (``lpips.alex.trunk``, ``lpips.vgg.trunk``) and copied into the package's network, whose layers are
torchvision's ``features`` split into five slices with the original layer indices. The bi-layer authors report
LPIPS with VGG, later papers with AlexNet: always name the variant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch

from bench.compat import ensure_torchvision
from bench.errors import WeightsError
from bench.weights import ResolvedWeight, WeightsLocations, require
from bench.weights.load import load_state_dict

__all__ = ["LPIPS_TRUNKS", "LpipsNetwork", "load_lpips", "lpips_distance", "lpips_features", "lpips_from_features"]

Trunk = Literal["alex", "vgg"]
LPIPS_TRUNKS: dict[str, str] = {"alex": "lpips.alex.trunk", "vgg": "lpips.vgg.trunk"}


@dataclass(frozen=True)
class LpipsNetwork:
    model: Any  # lpips.LPIPS
    variant: str  # e.g. "lpips.alex.v0.1"
    trunk: ResolvedWeight

    @property
    def verified(self) -> bool:
        return self.trunk.verification in ("verified", "verified-prefix")


def _copy_trunk(model: Any, state: dict[str, torch.Tensor], source: str) -> None:
    """torchvision ``features.{i}.{weight,bias}`` -> lpips ``net.slice{k}.{i}.{weight,bias}``, strictly."""
    targets = dict(model.net.named_parameters())
    missing = []
    for name, parameter in targets.items():
        _, index, leaf = name.split(".")  # slice{k}.{i}.{leaf}
        value = state.get(f"features.{index}.{leaf}")
        if value is None or value.shape != parameter.shape:
            missing.append(f"features.{index}.{leaf}")
            continue
        with torch.no_grad():
            parameter.copy_(value)
    if missing:
        raise WeightsError(
            f"{source}: not a torchvision trunk for this LPIPS network (missing or mis-shaped: "
            f"{', '.join(missing[:5])}); download the file the weights registry names"
        )


def load_lpips(trunk: Trunk, locations: WeightsLocations, device: torch.device | str = "cpu") -> LpipsNetwork:
    """The LPIPS v0.1 network with the given trunk, its weights resolved offline."""
    resolved = require(LPIPS_TRUNKS[trunk], locations)
    ensure_torchvision()
    import lpips  # deferred: imports torchvision

    model = lpips.LPIPS(net=trunk, version="0.1", pretrained=True, pnet_rand=True, verbose=False)
    state = load_state_dict(resolved.path, "the LPIPS trunk", f"download it again from {resolved.entry.url}")
    _copy_trunk(model, state, str(resolved.path))
    # channels-last: the trunks' convolutions run faster on CPU in that layout (the "lpips layout" groups of
    # tests/benchmarks/test_metric_speed.py) with the same numbers to float32 rounding (tests/test_lpips.py
    # compares with the package's own contiguous forward)
    model = model.to(device, memory_format=torch.channels_last).eval().requires_grad_(False)
    return LpipsNetwork(model, f"lpips.{trunk}.v0.1", resolved)


def lpips_features(network: LpipsNetwork, images: torch.Tensor) -> list[torch.Tensor]:
    """The unit-normalised trunk features of images (N, 3, H, W) in [0, 1], one tensor per LPIPS layer: what the
    package's forward computes for each of its two inputs ([0, 1] -> [-1, 1], its scaling layer, the trunk,
    normalisation over channels), in channels-last layout."""
    import lpips

    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected (N, 3, H, W) images, got {tuple(images.shape)}")
    with torch.inference_mode():
        scaled = network.model.scaling_layer(2 * images - 1).contiguous(memory_format=torch.channels_last)
        outputs = network.model.net(scaled)
        return [lpips.normalize_tensor(layer) for layer in outputs]


def lpips_from_features(network: LpipsNetwork, pred: list[torch.Tensor], target: list[torch.Tensor]) -> torch.Tensor:
    """Per-frame LPIPS (N,) from the two sides' :func:`lpips_features`: the calibrated linear layers (v0.1) on
    the squared feature differences, averaged over space, summed over layers."""
    with torch.inference_mode():
        total = None
        for lin, a, b in zip(network.model.lins, pred, target, strict=True):
            layer = lin((a - b) ** 2).mean(dim=(2, 3), keepdim=True)
            total = layer if total is None else total + layer  # in layer order, as the package adds them
        assert total is not None
        return total.flatten()


def lpips_distance(network: LpipsNetwork, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-frame LPIPS (N,) of images (N, 3, H, W) in [0, 1]."""
    if pred.shape != target.shape or pred.ndim != 4 or pred.shape[1] != 3:
        raise ValueError(
            f"expected two (N, 3, H, W) tensors of one shape, got {tuple(pred.shape)}, {tuple(target.shape)}"
        )
    return lpips_from_features(network, lpips_features(network, pred), lpips_features(network, target))
