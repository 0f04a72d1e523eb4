"""KID, variant ``kid.inception-2015-12-05.2048``: kernel inception distance on FID's Inception features.

Binkowski et al. (ICLR 2018): the unbiased estimate of the squared MMD between generated and real pool3 features
with the polynomial kernel ``k(x, y) = (x . y / d + 1) ** 3``, averaged over ``subsets`` random subsets of
``min(subset_size, n_real, n_fake)`` frames drawn without replacement from each side (torchmetrics'
``poly_mmd`` holds the formula; we draw the subsets). Reported with the standard error of that mean over the
subsets and an approximate 95% interval of +-1.96 standard errors. Unlike FID it is unbiased for small sets, which
is why it sits beside FID when a set has fewer frames than the 2048 feature dimensions.

Features come from the files a run keeps beside its parts (the same extraction FID uses, never a second pass);
each side is a uniform random sample of at most ``limit`` frames, drawn while streaming the files (the frames with
the ``limit`` smallest random keys), so memory is bounded for any number of frames.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["KID_VARIANT", "KidValue", "kid_from_features", "kid_rows", "sample_rows"]

KID_VARIANT = "kid.inception-2015-12-05.2048"
SUBSETS = 100
SUBSET_SIZE = 1000
LIMIT = 10000


@dataclass(frozen=True)
class KidValue:
    value: float
    standard_error: float
    subset_size: int
    subsets: int

    @property
    def interval(self) -> tuple[float, float]:
        return self.value - 1.96 * self.standard_error, self.value + 1.96 * self.standard_error


def sample_rows(arrays: Iterable[np.ndarray], limit: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """A uniform sample of at most ``limit`` rows of the concatenated arrays (float32), and the total row count."""
    kept: np.ndarray | None = None
    keys = np.empty(0)
    total = 0
    for array in arrays:
        rows = np.asarray(array, dtype=np.float32)
        if rows.size == 0:
            continue
        total += len(rows)
        merged = rows if kept is None else np.concatenate([kept, rows])
        merged_keys = np.concatenate([keys, rng.random(len(rows))])
        if len(merged) > limit:
            best = np.argpartition(merged_keys, limit)[:limit]
            merged, merged_keys = merged[best], merged_keys[best]
        kept, keys = merged, merged_keys
    return (np.zeros((0, 0), np.float32) if kept is None else kept), total


def kid_from_features(
    real: np.ndarray, fake: np.ndarray, *, subsets: int = SUBSETS, subset_size: int = SUBSET_SIZE, seed: int = 0
) -> KidValue:
    """KID of two feature sets (n1, D), (n2, D): mean of the unbiased MMD^2 over random subsets."""
    from bench.compat import ensure_torchvision

    ensure_torchvision()  # torchmetrics imports torchvision
    from torchmetrics.image.kid import poly_mmd

    real, fake = np.asarray(real, dtype=np.float64), np.asarray(fake, dtype=np.float64)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"expected two feature sets (n, D) of one D, got {real.shape} and {fake.shape}")
    size = min(subset_size, len(real), len(fake))
    if size < 2:
        raise ValueError(f"KID needs at least 2 frames on each side, got {len(real)} and {len(fake)}")
    rng = np.random.default_rng(seed)
    values = np.empty(subsets)
    for index in range(subsets):
        a = torch.from_numpy(real[rng.choice(len(real), size, replace=False)])
        b = torch.from_numpy(fake[rng.choice(len(fake), size, replace=False)])
        values[index] = float(poly_mmd(a, b))
    error = float(values.std(ddof=1) / np.sqrt(subsets)) if subsets > 1 else float("nan")
    return KidValue(float(values.mean()), error, size, subsets)


def kid_rows(
    parts: list[dict],
    keys: Iterable[tuple[str, str, str, str]],
    features: Callable[[str, str, str], np.ndarray],
    reference: list[str],
    seed: int,
    real_features: np.ndarray | None = None,
) -> list[dict]:
    """KID summary rows for the FID keys ``(fid name, model, weights, protocol)``: the generated frames of each key
    against the run's one reference set (the real frames of the ``reference`` jobs, or ``real_features`` given
    by a reference statistics file)."""
    from bench.aggregate import summary_row

    rows: list[dict] = []
    real_samples: dict[str, tuple[np.ndarray, int]] = {}
    for name, model, weights, protocol in keys:
        if name not in real_samples and real_features is not None:
            real_samples[name] = (real_features, len(real_features))
        if name not in real_samples:
            real_samples[name] = sample_rows((features("_real", job, name) for job in reference), LIMIT,
                                             np.random.default_rng(seed))  # fmt: skip
        real, _ = real_samples[name]
        jobs = list(dict.fromkeys(
            p["job"] for p in parts
            if p["status"] == "ok" and p["model"] == model and p["protocol"] == protocol and p["rows"]
        ))  # fmt: skip
        fake, count = sample_rows((features(model, job, name) for job in jobs), LIMIT, np.random.default_rng(seed + 1))
        if min(len(real), len(fake)) < 2:
            continue
        value = kid_from_features(real, fake, seed=seed)
        rows.append(summary_row(model, weights, protocol, KID_VARIANT, value.value, count, len(jobs),
                                ci95=value.interval))  # fmt: skip
    return rows
