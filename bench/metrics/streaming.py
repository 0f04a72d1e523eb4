"""The per-frame metrics as ``torchmetrics.Metric`` classes, for a training loop or any code outside the runner.

Each class accumulates, across ``update`` calls and across processes, two states: the float64 sum of the per-frame
values and the number of frames (``dist_reduce_fx="sum"`` for both), so ``compute()`` is the mean over every frame
seen, the same number a run reports as the metric's mean (the run's ``summary`` row over the same frames). The math
is the functions the runner calls; these classes hold none of it:

* ``L1``, ``PSNR``, ``SSIM``: :mod:`bench.metrics.functional`. ``PSNR`` is the mean of per-frame dB values, as
  the run reports it (not the PSNR of the pooled MSE that ``torchmetrics.image.PeakSignalNoiseRatio`` computes);
  identical frames give +inf, so a mean including one is +inf.
* ``LPIPS(trunk="vgg" | "alex")``: :mod:`bench.metrics.lpips_metric`, the trunk resolved by the weights registry.
* ``CSIM(alignment="arcface" | "bilayer")``: :mod:`bench.metrics.csim` with ArcFace IR-SE-50
  (:mod:`bench.metrics.arcface`); ``update`` takes the 68 landmarks of the driving frame.
* ``FrechetInceptionDistance``: :mod:`bench.metrics.fid`'s class, re-exported (a set metric, not a frame mean).

Images are float (N, 3, H, W) in [0, 1]; inputs are checked and detached (no metric here is differentiable). Frames
whose value is NaN are not counted, as a run counts only the frames a metric scored. Every instance names its
variant (``variant``, e.g. ``"lpips.vgg.v0.1"``, from :data:`bench.metrics.METRICS`) and, where it has weights, their
provenance (``weights``, a :class:`~bench.weights.ResolvedWeight`).

torchmetrics imports torchvision, which needs :func:`bench.compat.ensure_torchvision` first. As in
:mod:`bench.metrics.fid`, importing this module has no side effect: each class is created on first access
(``from bench.metrics.streaming import LPIPS`` or ``streaming.LPIPS``, module ``__getattr__``), which calls it.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Literal

import torch

from bench.compat import ensure_torchvision
from bench.metrics import METRICS, functional

if TYPE_CHECKING:
    from bench.weights import ResolvedWeight, WeightsLocations

__all__ = ["CSIM", "L1", "LPIPS", "PSNR", "SSIM", "FrechetInceptionDistance", "check_images"]

CSIM_VARIANTS: dict[str, str] = {"arcface": "csim.arcface-irse50", "bilayer": "csim.bilayer.irse50"}


def _received(images: object) -> str:
    if not isinstance(images, torch.Tensor):
        return f"a {type(images).__name__}"
    text = f"shape {tuple(images.shape)}, dtype {images.dtype}"
    if images.numel() and (images.is_floating_point() or images.dtype == torch.uint8):
        values = images.detach().float()
        text += f", range [{values.min().item():.4g}, {values.max().item():.4g}]"
    return text


def check_images(images: object, name: str = "images") -> torch.Tensor:
    """``images`` if it is a float (N, 3, H, W) tensor of finite values in [0, 1]; else ``ValueError`` naming
    ``name``, what is allowed and what was received (shape, dtype, range)."""
    ok = isinstance(images, torch.Tensor) and images.ndim == 4 and images.shape[1] == 3 and images.is_floating_point()
    if ok:
        assert isinstance(images, torch.Tensor)
        finite = bool(torch.isfinite(images).all())
        ok = finite and (not images.numel() or (images.min() >= 0 and images.max() <= 1))
    if not ok:
        raise ValueError(
            f"{name} must be float images (N, 3, H, W) with finite values in [0, 1]; got {_received(images)}"
        )
    assert isinstance(images, torch.Tensor)
    return images.detach()


def _check_pair(preds: object, target: object, *, same_size: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    p, t = check_images(preds, "preds"), check_images(target, "target")
    if (p.shape if same_size else p.shape[:1]) != (t.shape if same_size else t.shape[:1]):
        wanted = "of one shape" if same_size else "with as many frames"
        raise ValueError(f"preds and target must be {wanted}; got shapes {tuple(p.shape)} and {tuple(t.shape)}")
    return p, t


def _check_landmarks(landmarks: object, name: str, frames: int) -> torch.Tensor:
    shape_ok = isinstance(landmarks, torch.Tensor) and tuple(landmarks.shape) == (frames, 68, 2)
    if not (shape_ok and landmarks.is_floating_point() and bool(torch.isfinite(landmarks).all())):  # type: ignore[union-attr]
        raise ValueError(
            f"{name} must be finite float (x, y) pixel coordinates of 68 landmarks per frame, shape "
            f"({frames}, 68, 2); got {_received(landmarks)}"
        )
    assert isinstance(landmarks, torch.Tensor)
    return landmarks.detach()


class _FrameMean:
    """Mean over frames of a per-frame metric: states ``total`` (float64 sum) and ``count`` (int64), both summed
    across processes. Mixed into ``torchmetrics.Metric`` by :func:`_metric_class`."""

    is_differentiable = False
    full_state_update = False
    higher_is_better: bool
    name: str  # the registry's name (configs, tables); ``variant`` says everything

    total: torch.Tensor
    count: torch.Tensor

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)  # type: ignore[call-arg]  # torchmetrics.Metric
        self.add_state("total", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")  # type: ignore[attr-defined]
        self.add_state("count", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")  # type: ignore[attr-defined]

    @property
    def variant(self) -> str:
        return METRICS.get(self.name).variant

    def _add(self, values: torch.Tensor) -> None:
        values = values.detach().to(device=self.total.device, dtype=torch.float64)
        scored = values[~values.isnan()]
        self.total = self.total + scored.sum()
        self.count = self.count + scored.numel()

    def compute(self) -> torch.Tensor:
        """The mean (float64 scalar) of the per-frame values of every frame added so far; NaN before any."""
        return self.total / self.count


class _L1(_FrameMean):
    """Mean over frames of :func:`bench.metrics.functional.l1` (``l1.rgb01``): ``update(preds, target)``."""

    name = "l1"
    higher_is_better = METRICS.get("l1").higher_is_better

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        """Add frames: generated ``preds`` and real ``target``, float (N, 3, H, W) in [0, 1]."""
        self._add(functional.l1(*_check_pair(preds, target)))


class _PSNR(_FrameMean):
    """Mean over frames of :func:`bench.metrics.functional.psnr` in dB (``psnr.rgb01``; +inf for identical frames):
    ``update(preds, target)``."""

    name = "psnr"
    higher_is_better = METRICS.get("psnr").higher_is_better

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        """Add frames: generated ``preds`` and real ``target``, float (N, 3, H, W) in [0, 1]."""
        self._add(functional.psnr(*_check_pair(preds, target)))


class _SSIM(_FrameMean):
    """Mean over frames of :func:`bench.metrics.functional.ssim` (``ssim.gauss11-1.5.valid``; frames of at least
    11x11 pixels): ``update(preds, target)``."""

    name = "ssim"
    higher_is_better = METRICS.get("ssim").higher_is_better
    window = 11

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        """Add frames: generated ``preds`` and real ``target``, float (N, 3, H, W) in [0, 1], H and W >= 11."""
        p, t = _check_pair(preds, target)
        if min(p.shape[2:]) < self.window:
            raise ValueError(
                f"preds and target must be at least {self.window}x{self.window} pixels for SSIM's valid "
                f"{self.window}x{self.window} window; got shape {tuple(p.shape)}"
            )
        self._add(functional.ssim(p, t, window=self.window))


def _locations(locations: WeightsLocations | None) -> WeightsLocations:
    from bench.weights import WeightsLocations

    return locations if locations is not None else WeightsLocations.from_environment()


def _device_of(module: torch.nn.Module) -> torch.device:
    parameter = next(module.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


class _LPIPS(_FrameMean):
    """Mean over frames of LPIPS v0.1 (:func:`bench.metrics.lpips_metric.lpips_distance`), ``lpips.vgg.v0.1`` or
    ``lpips.alex.v0.1``: ``update(preds, target)``.

    The trunk's file is resolved by the weights registry from ``locations`` (default: ``$BILAYER_BENCH_WEIGHTS``
    and the torch hub cache); its provenance is ``weights``. The network and the states are placed on ``device``
    (``metric.to(...)`` moves both); inputs are moved to the network's device.
    """

    higher_is_better = METRICS.get("lpips.vgg.v0.1").higher_is_better

    def __init__(
        self,
        trunk: Literal["vgg", "alex"] = "vgg",
        locations: WeightsLocations | None = None,
        device: torch.device | str = "cpu",
        **kwargs: Any,
    ) -> None:
        from bench.metrics.lpips_metric import LPIPS_TRUNKS, load_lpips

        if trunk not in LPIPS_TRUNKS:
            raise ValueError(f"trunk must be one of {', '.join(map(repr, LPIPS_TRUNKS))}; got {trunk!r}")
        super().__init__(**kwargs)
        self._network = load_lpips(trunk, _locations(locations), device)
        self.lpips = self._network.model  # a submodule, so that Metric.to moves it with the states
        self.name = self._network.variant
        self.weights: ResolvedWeight = self._network.trunk
        self.to(device)  # type: ignore[attr-defined]

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        """Add frames: generated ``preds`` and real ``target``, float (N, 3, H, W) in [0, 1]."""
        from bench.metrics.lpips_metric import lpips_distance

        device = _device_of(self.lpips)
        p, t = (x.to(device) for x in _check_pair(preds, target))
        self._add(lpips_distance(self._network, p, t))


class _CSIM(_FrameMean):
    """Mean over frames of CSIM (:func:`bench.metrics.csim.csim`, ArcFace IR-SE-50), ``csim.arcface-irse50``
    (``alignment="arcface"``) or ``csim.bilayer.irse50`` (``"bilayer"``, the bi-layer code's alignment):
    ``update(preds, target, landmarks, target_landmarks=None)``.

    ``landmarks`` (N, 68, 2) are the driving frame's, in pixels of ``preds``, and align both sides unless
    ``target_landmarks`` are given (see :mod:`bench.metrics.csim` for why the generated frame is aligned with the
    driver's landmarks). Weights (``model_ir_se50.pth``) are resolved as for :class:`LPIPS`; provenance ``weights``.
    """

    higher_is_better = METRICS.get("csim.arcface-irse50").higher_is_better

    def __init__(
        self,
        alignment: Literal["arcface", "bilayer"] = "arcface",
        locations: WeightsLocations | None = None,
        device: torch.device | str = "cpu",
        **kwargs: Any,
    ) -> None:
        from bench.metrics.arcface import load_arcface

        if alignment not in CSIM_VARIANTS:
            raise ValueError(f"alignment must be one of {', '.join(map(repr, CSIM_VARIANTS))}; got {alignment!r}")
        super().__init__(**kwargs)
        self.alignment = alignment
        self.name = CSIM_VARIANTS[alignment]
        self.arcface, self.weights = load_arcface(_locations(locations), device)
        self.to(device)  # type: ignore[attr-defined]

    def update(
        self,
        preds: torch.Tensor,
        target: torch.Tensor,
        landmarks: torch.Tensor,
        target_landmarks: torch.Tensor | None = None,
    ) -> None:
        """Add frames: ``preds`` and ``target`` float (N, 3, H, W) in [0, 1] (sizes may differ), the driver's
        ``landmarks`` (N, 68, 2) and optionally the target's own."""
        from bench.metrics.csim import csim

        p, t = _check_pair(preds, target, same_size=False)
        lm = _check_landmarks(landmarks, "landmarks", len(p))
        target_lm = lm if target_landmarks is None else _check_landmarks(target_landmarks, "target_landmarks", len(t))
        device = _device_of(self.arcface)
        self._add(csim(self.arcface, p.to(device), lm, t.to(device), target_lm, self.alignment))


_MIXINS: dict[str, type[_FrameMean]] = {"L1": _L1, "PSNR": _PSNR, "SSIM": _SSIM, "LPIPS": _LPIPS, "CSIM": _CSIM}


@functools.cache
def _metric_class(name: str) -> type:
    ensure_torchvision()
    from torchmetrics import Metric  # deferred: imports torchvision

    mixin = _MIXINS[name]
    return type(name, (mixin, Metric), {"__module__": __name__, "__qualname__": name, "__doc__": mixin.__doc__})


if TYPE_CHECKING:  # created by __getattr__ below
    from bench.metrics.fid import FrechetInceptionDistance

    L1: type[_L1]
    PSNR: type[_PSNR]
    SSIM: type[_SSIM]
    LPIPS: type[_LPIPS]
    CSIM: type[_CSIM]


def __getattr__(name: str) -> Any:
    if name in _MIXINS:
        return _metric_class(name)
    if name == "FrechetInceptionDistance":
        from bench.metrics import fid

        return fid.FrechetInceptionDistance
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
