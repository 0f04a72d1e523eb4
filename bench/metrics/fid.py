"""FID over frames, variant ``fid.inception-2015-12-05.2048``: pytorch-fid's features and its Fréchet distance.

* :func:`extract_features`: pool3 features (N, 2048) of float images (N, 3, H, W) in [0, 1], in batches, with no
  autograd, through :class:`bench.metrics.inception.FidInceptionV3` (pytorch-fid's preprocessing: bilinear resize
  to 299x299 with ``align_corners=False``, then ``2x - 1``).
* :func:`frechet_distance`: the Fréchet distance of two Gaussians ``||mu1 - mu2||^2 + Tr(sigma1 + sigma2 -
  2 sqrt(sigma1 sigma2))``, the suite's one computation of it: ``Tr sqrt(sigma1 sigma2)`` is the sum of the
  singular values of ``F1' F2`` for factors ``F F' = sigma`` (pivoted Cholesky), so no D x D ``sqrtm`` is formed
  and no square root is taken of rounding noise. It equals pytorch-fid's ``calculate_frechet_distance`` (a
  ``scipy.linalg.sqrtm`` of ``sigma1 @ sigma2``) up to that ``sqrtm``'s rounding (tests/test_fid.py compares them).
* :func:`fid_from_statistics`: the FID from two sets' additive statistics (count, sum of the features, sum of
  their outer products), what a run and a sharded run add up; :func:`fid_from_features`: the FID of two feature
  sets. Both are :func:`frechet_distance` of the means and unbiased covariances (as ``np.cov``, as pytorch-fid).
* ``FrechetInceptionDistance``: a ``torchmetrics.Metric`` holding, for real and for generated frames, the same
  statistics, all float64 and reduced by sum across processes; ``compute()`` is :func:`fid_from_statistics`.

torchmetrics imports torchvision, which needs :func:`bench.compat.ensure_torchvision` first; to keep this module
free of import-time side effects the metric class is created on first access of
``bench.metrics.fid.FrechetInceptionDistance`` (module ``__getattr__``).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from scipy.linalg import lapack

from bench.compat import ensure_torchvision
from bench.metrics.inception import FID_VARIANT, FidNetwork, InceptionProvenance

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "FrechetInceptionDistance",
    "check_images",
    "extract_features",
    "fid_from_features",
    "fid_from_statistics",
    "frechet_distance",
    "gaussian_from_sums",
]


def check_images(images: torch.Tensor, name: str = "images") -> None:
    """Raise ``ValueError`` unless ``images`` is a float (N, 3, H, W) tensor with values in [0, 1]."""
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != 3:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"{name} must be a (N, 3, H, W) tensor, got {shape}")
    if not images.is_floating_point():
        raise ValueError(f"{name} must be float images in [0, 1], got dtype {images.dtype}")
    if images.numel() and (images.min() < 0 or images.max() > 1):
        raise ValueError(
            f"{name} must be in [0, 1], got range [{images.min().item():.4g}, {images.max().item():.4g}] "
            f"(shape {tuple(images.shape)}, dtype {images.dtype})"
        )


def extract_features(model: nn.Module, images: torch.Tensor, batch_size: int = 32) -> torch.Tensor:
    """``model(batch)`` over ``images`` in batches of ``batch_size`` under ``torch.inference_mode``; (N, D).

    Each batch is moved to the device and dtype of the model's parameters (the caller places the model).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else images.device
    dtype = parameter.dtype if parameter is not None else images.dtype
    outputs = []
    with torch.inference_mode():
        for batch in images.split(batch_size):
            outputs.append(model(batch.to(device=device, dtype=dtype)).flatten(1))
    return torch.cat(outputs) if outputs else images.new_zeros((0, 0))


def _as_float64(x: np.ndarray | torch.Tensor) -> np.ndarray:
    return np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x, dtype=np.float64)


def _factor(sigma: np.ndarray) -> np.ndarray:
    """A factor ``F`` (D, r) with ``F F' = sigma`` of numerical rank r.

    The factor is LAPACK's pivoted Cholesky (``?pstrf``) stopped at its default tolerance ``D * eps * max diag``:
    the covariance of n frames has rank at most n - 1, and the directions it leaves empty come out of the sums
    as rounding noise, which the factorisation drops instead of taking its square root.
    """
    if not np.any(np.diagonal(sigma) > 0):
        return np.zeros((len(sigma), 0))
    packed, pivots, rank, info = lapack.dpstrf(sigma, lower=1, tol=-1.0)
    if info < 0:
        raise ValueError(f"FID: pivoted Cholesky of the covariance failed (LAPACK info {info})")
    factor = np.zeros((len(sigma), rank))
    factor[pivots - 1] = np.tril(packed)[:, :rank]
    return factor


def frechet_distance(
    mu1: np.ndarray | torch.Tensor,
    sigma1: np.ndarray | torch.Tensor,
    mu2: np.ndarray | torch.Tensor,
    sigma2: np.ndarray | torch.Tensor,
) -> float:
    """``||mu1 - mu2||^2 + Tr(sigma1 + sigma2 - 2 sqrt(sigma1 sigma2))`` of means (D,) and covariances (D, D).

    The non-zero eigenvalues of ``sigma1 sigma2 = F1 F1' F2 F2'`` are the squared singular values of ``F1' F2``, so
    ``Tr sqrt(sigma1 sigma2)`` is their sum (an r1 x r2 SVD for covariances of ranks r1, r2, instead of
    pytorch-fid's 2048 x 2048 ``sqrtm``); the factors are :func:`_factor`'s, of the symmetrised covariances.
    """
    m1, m2 = (np.atleast_1d(_as_float64(m)) for m in (mu1, mu2))
    s1, s2 = (np.atleast_2d(_as_float64(s)) for s in (sigma1, sigma2))
    if m1.shape != m2.shape or m1.ndim != 1 or s1.shape != s2.shape or s1.shape != (m1.size, m1.size):
        raise ValueError(
            f"expected means (D,) and covariances (D, D) of one D, got {m1.shape}, {s1.shape}, {m2.shape}, {s2.shape}"
        )
    s1, s2 = (s1 + s1.T) / 2, (s2 + s2.T) / 2
    product = _factor(s1).T @ _factor(s2)
    cross = np.linalg.svd(product, compute_uv=False).sum() if product.size else 0.0
    diff = m1 - m2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * cross)


def gaussian_from_sums(
    total: np.ndarray | torch.Tensor, outer: np.ndarray | torch.Tensor, count: np.ndarray | torch.Tensor | int
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance (as ``np.cov(x, rowvar=False)``, symmetrised) from the sum of features x, the
    sum of their outer products and their count; float64 arrays."""
    n = int(count)
    if n < 2:
        raise ValueError(f"FID needs at least 2 frames on each side to estimate a covariance, got {n}")
    mu = _as_float64(total) / n
    sigma = (_as_float64(outer) - n * np.outer(mu, mu)) / (n - 1)
    return mu, (sigma + sigma.T) / 2


def fid_from_statistics(
    n1: int | torch.Tensor,
    sum1: np.ndarray | torch.Tensor,
    outer1: np.ndarray | torch.Tensor,
    n2: int | torch.Tensor,
    sum2: np.ndarray | torch.Tensor,
    outer2: np.ndarray | torch.Tensor,
) -> float:
    """FID from two sets' sufficient statistics: count, sum of features (D,) and sum of outer products (D, D).

    These statistics add up across jobs and processes (what a run and a sharded run reduce); the FID is
    :func:`frechet_distance` of the means and unbiased covariances they give (:func:`gaussian_from_sums`).
    """
    n1, n2 = int(n1), int(n2)
    if min(n1, n2) < 2:
        raise ValueError(f"FID needs at least 2 frames on each side to estimate a covariance, got {n1} and {n2}")
    s1, o1, s2, o2 = (_as_float64(a) for a in (sum1, outer1, sum2, outer2))
    dim = s1.shape[0] if s1.ndim == 1 else -1
    if s1.shape != s2.shape or s1.shape != (dim,) or o1.shape != o2.shape or o1.shape != (dim, dim):
        raise ValueError(
            f"expected sums (D,) and outer products (D, D) of one D, got {s1.shape}, {o1.shape}, {s2.shape}, {o2.shape}"
        )
    return frechet_distance(*gaussian_from_sums(s1, o1, n1), *gaussian_from_sums(s2, o2, n2))


def fid_from_features(real: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor) -> float:
    """FID of two feature sets (n1, D) and (n2, D), n >= 2: :func:`fid_from_statistics` of their statistics, so
    the same number a run reports for the same features."""
    a, b = _as_float64(real), _as_float64(fake)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ValueError(f"expected two feature sets (n >= 2, D) of one D, got {a.shape} and {b.shape}")
    return fid_from_statistics(len(a), a.sum(0), a.T @ a, len(b), b.sum(0), b.T @ b)


class _FidAccumulator:
    """FID between real and generated frames (``update(images, real=...)``, ``compute()``), as a Metric.

    ``network`` is a :class:`~bench.metrics.inception.FidNetwork` (the variant ``fid.inception-2015-12-05.2048``)
    or any module mapping (N, 3, H, W) in [0, 1] to (N, ``num_features``) (tests, custom extractors).
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False

    def __init__(
        self, network: FidNetwork | nn.Module, *, num_features: int = 2048, batch_size: int = 32, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[call-arg]
        self.variant = FID_VARIANT if isinstance(network, FidNetwork) else f"fid.custom.{num_features}"
        self.weights: InceptionProvenance | None = network.weights if isinstance(network, FidNetwork) else None
        self.network = network.model if isinstance(network, FidNetwork) else network
        self.num_features = num_features
        self.batch_size = batch_size
        for side in ("real", "fake"):
            self.add_state(f"{side}_sum", torch.zeros(num_features, dtype=torch.float64), dist_reduce_fx="sum")
            self.add_state(
                f"{side}_outer", torch.zeros(num_features, num_features, dtype=torch.float64), dist_reduce_fx="sum"
            )
            self.add_state(f"{side}_count", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, images: torch.Tensor, real: bool) -> None:
        """Add frames (N, 3, H, W), float in [0, 1], to the real (``real=True``) or generated side."""
        check_images(images)
        features = extract_features(self.network, images, self.batch_size).to(torch.float64)
        if features.shape[1:] != (self.num_features,):
            raise ValueError(f"the network gave features {tuple(features.shape)}, expected (N, {self.num_features})")
        side = "real" if real else "fake"
        features = features.to(getattr(self, f"{side}_sum").device)
        for state, value in (("sum", features.sum(0)), ("outer", features.T @ features), ("count", len(features))):
            name = f"{side}_{state}"
            setattr(self, name, getattr(self, name) + value)

    def compute(self) -> torch.Tensor:
        """The FID (float64 scalar tensor) between the real and generated frames added so far."""
        real = (self.real_count, self.real_sum, self.real_outer)
        value = fid_from_statistics(*real, self.fake_count, self.fake_sum, self.fake_outer)
        return torch.tensor(value, dtype=torch.float64, device=self.real_sum.device)


@functools.cache
def _metric_class() -> type:
    ensure_torchvision()
    from torchmetrics import Metric  # deferred: imports torchvision

    cls = type("FrechetInceptionDistance", (_FidAccumulator, Metric), {"__module__": __name__})
    cls.__doc__ = _FidAccumulator.__doc__
    return cls


if TYPE_CHECKING:
    FrechetInceptionDistance: type[_FidAccumulator]  # created by __getattr__ below


def __getattr__(name: str) -> Any:
    if name == "FrechetInceptionDistance":
        return _metric_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
