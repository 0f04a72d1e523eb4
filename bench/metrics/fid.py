"""FID over frames, variant ``fid.inception-2015-12-05.2048``: pytorch-fid's features and Fréchet distance.

* :func:`extract_features`: pool3 features (N, 2048) of float images (N, 3, H, W) in [0, 1], in batches, with no
  autograd, through :class:`bench.metrics.inception.FidInceptionV3` (pytorch-fid's preprocessing: bilinear resize
  to 299x299 with ``align_corners=False``, then ``2x - 1``).
* :func:`frechet_distance`: ``pytorch_fid.fid_score.calculate_frechet_distance`` reimplemented: the same
  ``scipy.linalg.sqrtm`` of ``sigma1 @ sigma2``, the same ``eps`` added to both diagonals when the square root is
  not finite, the same rejection of a large imaginary part.
* ``FrechetInceptionDistance``: a ``torchmetrics.Metric`` holding, for real and for generated frames, the sum of
  the features, the sum of their outer products and their count, all float64 and reduced by sum across
  processes; ``compute()`` turns them into means and unbiased covariances (as ``np.cov``) and returns the FID.

torchmetrics imports torchvision, which needs :func:`bench.compat.ensure_torchvision` first; to keep this module
free of import-time side effects the metric class is created on first access of
``bench.metrics.fid.FrechetInceptionDistance`` (module ``__getattr__``).
"""

from __future__ import annotations

import functools
import logging
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from scipy import linalg
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

logger = logging.getLogger(__name__)


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


def frechet_distance(
    mu1: np.ndarray | torch.Tensor,
    sigma1: np.ndarray | torch.Tensor,
    mu2: np.ndarray | torch.Tensor,
    sigma2: np.ndarray | torch.Tensor,
    eps: float = 1e-6,
) -> float:
    """``||mu1 - mu2||^2 + Tr(sigma1 + sigma2 - 2 sqrt(sigma1 sigma2))``, computed as pytorch-fid computes it."""
    m1, m2 = (np.atleast_1d(_as_float64(m)) for m in (mu1, mu2))
    s1, s2 = (np.atleast_2d(_as_float64(s)) for s in (sigma1, sigma2))
    if m1.shape != m2.shape or s1.shape != s2.shape or s1.shape != (m1.size, m1.size):
        raise ValueError(
            f"expected means (D,) and covariances (D, D) of one D, got {m1.shape}, {s1.shape}, {m2.shape}, {s2.shape}"
        )
    diff = m1 - m2
    covmean = _sqrtm(s1.dot(s2))
    if not np.isfinite(covmean).all():
        logger.warning("FID: singular product of covariances; adding %g to the diagonal of both", eps)
        offset = np.eye(s1.shape[0]) * eps
        covmean = _sqrtm((s1 + offset).dot(s2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            largest = np.max(np.abs(covmean.imag))
            raise ValueError(f"FID: sqrtm(sigma1 @ sigma2) has an imaginary component of {largest:.4g}")
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def _as_float64(x: np.ndarray | torch.Tensor) -> np.ndarray:
    return np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x, dtype=np.float64)


def _sqrtm(matrix: np.ndarray) -> np.ndarray:
    """``scipy.linalg.sqrtm``; its warning about (near-)singular input is the normal case for few frames."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        return np.asarray(linalg.sqrtm(matrix))


def gaussian_from_sums(total: torch.Tensor, outer: torch.Tensor, count: torch.Tensor | int) -> tuple[Any, Any]:
    """Mean and unbiased covariance (as ``np.cov(x, rowvar=False)``) from sum, sum of outer products and count."""
    n = int(count)
    if n < 2:
        raise ValueError(f"FID needs at least 2 frames on each side to estimate a covariance, got {n}")
    mu = total.double() / n
    sigma = (outer.double() - n * torch.outer(mu, mu)) / (n - 1)
    return mu.cpu().numpy(), sigma.cpu().numpy()


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
        mu_real, sigma_real = gaussian_from_sums(self.real_sum, self.real_outer, self.real_count)
        mu_fake, sigma_fake = gaussian_from_sums(self.fake_sum, self.fake_outer, self.fake_count)
        value = frechet_distance(mu_real, sigma_real, mu_fake, sigma_fake)
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


def fid_from_features(real: np.ndarray, fake: np.ndarray) -> float:
    """FID of two feature sets (n1, D) and (n2, D), without forming a D x D square root.

    With centred features A, B and covariances A'A / (n1 - 1), B'B / (n2 - 1), the non-zero eigenvalues of
    sigma1 sigma2 are those of (A B')(A B')' / ((n1 - 1)(n2 - 1)), so Tr sqrt(sigma1 sigma2) is the sum of the
    singular values of A B' over sqrt((n1 - 1)(n2 - 1)): an n1 x n2 SVD instead of a 2048 x 2048 ``sqrtm``. The
    result equals :func:`frechet_distance` (pytorch-fid's computation) up to its ``sqrtm`` rounding (tested).
    """
    a, b = np.asarray(real, dtype=np.float64), np.asarray(fake, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ValueError(f"expected two feature sets (n >= 2, D) of one D, got {a.shape} and {b.shape}")
    mean_a, mean_b = a.mean(0), b.mean(0)
    a, b = a - mean_a, b - mean_b
    scale = (len(a) - 1) * (len(b) - 1)
    cross = np.linalg.svd(a @ b.T, compute_uv=False).sum() / np.sqrt(scale)
    diff = mean_a - mean_b
    trace_a, trace_b = (a * a).sum() / (len(a) - 1), (b * b).sum() / (len(b) - 1)
    return float(diff @ diff + trace_a + trace_b - 2 * cross)


def _covariance_factor(count: int, total: np.ndarray, outer: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, unbiased covariance and a factor ``F`` (D, r) with ``F F' = sigma`` of numerical rank r.

    The factor is LAPACK's pivoted Cholesky (``?pstrf``) stopped at its default tolerance ``D * eps * max diag``:
    the covariance of n frames has rank at most n - 1, and the directions it leaves empty come out of the sums
    as rounding noise, which the factorisation drops instead of taking its square root.
    """
    mu = total / count
    sigma = (outer - count * np.outer(mu, mu)) / (count - 1)
    sigma = (sigma + sigma.T) / 2
    if not np.any(np.diagonal(sigma) > 0):
        return mu, sigma, np.zeros((len(mu), 0))
    packed, pivots, rank, info = lapack.dpstrf(sigma, lower=1, tol=-1.0)
    if info < 0:
        raise ValueError(f"FID: pivoted Cholesky of the covariance failed (LAPACK info {info})")
    factor = np.zeros((len(mu), rank))
    factor[pivots - 1] = np.tril(packed)[:, :rank]
    return mu, sigma, factor


def fid_from_statistics(
    n1: int, sum1: np.ndarray, outer1: np.ndarray, n2: int, sum2: np.ndarray, outer2: np.ndarray
) -> float:
    """FID from two sets' sufficient statistics: count, sum of features (D,) and sum of outer products (D, D).

    These statistics add up across jobs and processes (what a sharded run reduces). Means and unbiased
    covariances are those of ``np.cov`` (as pytorch-fid); the trace of ``sqrt(sigma1 sigma2)`` is the sum of the
    singular values of ``F1' F2`` for factors ``F F' = sigma`` (:func:`_covariance_factor`), so no D x D ``sqrtm``
    is formed and no square root is taken of rounding noise. Equals :func:`fid_from_features` on the same features
    and pytorch-fid's ``sqrtm`` computation up to its rounding (tested).
    """
    n1, n2 = int(n1), int(n2)
    if min(n1, n2) < 2:
        raise ValueError(f"FID needs at least 2 frames on each side to estimate a covariance, got {n1} and {n2}")
    s1, o1, s2, o2 = (np.asarray(a, dtype=np.float64) for a in (sum1, outer1, sum2, outer2))
    dim = s1.shape[0] if s1.ndim == 1 else -1
    if s1.shape != s2.shape or s1.shape != (dim,) or o1.shape != o2.shape or o1.shape != (dim, dim):
        raise ValueError(
            f"expected sums (D,) and outer products (D, D) of one D, got {s1.shape}, {o1.shape}, {s2.shape}, {o2.shape}"
        )
    mu1, sigma1, factor1 = _covariance_factor(n1, s1, o1)
    mu2, sigma2, factor2 = _covariance_factor(n2, s2, o2)
    product = factor1.T @ factor2
    cross = np.linalg.svd(product, compute_uv=False).sum() if product.size else 0.0
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * cross)
