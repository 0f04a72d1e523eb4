"""Intervals a reader can trust: bootstrap over identities, and paired differences against a reference model.

Frames of one sequence, and sequences of one person, are not independent samples: a talking-head data set is a
sample of *identities*. Every interval here resamples identities (the person of the job's source), each carrying
the sum and the count of its frame values, so that the statistic is the frame-weighted mean of the resampled
identities. Intervals are ``scipy.stats.bootstrap`` with the BCa method (bias-corrected and accelerated), seeded by
the run's seed; with fewer than two identities, or when the bootstrap distribution is degenerate (every resample
gives one value), no interval is claimed (NaN), except that identical values give the exact interval [v, v].

Paired differences compare each model with the run's reference model on the same frames (those both scored):
per identity the sum of (model - reference) differences and their count; a model against itself is exactly 0.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["identity_bootstrap", "identity_of", "paired_differences"]

RESAMPLES = 2000
LEVEL = 0.95


def identity_of(sequence_id: pd.Series) -> pd.Series:
    """The person of ``PERSON/VIDEO/SEQUENCE`` ids."""
    return sequence_id.astype(str).str.split("/", n=1).str[0]


def identity_bootstrap(
    sums: np.ndarray, counts: np.ndarray, seed: int, *, level: float = LEVEL, resamples: int = RESAMPLES
) -> tuple[float, float]:
    """BCa interval of ``sum(sums) / sum(counts)`` resampling identities (one entry of each array per identity)."""
    sums, counts = np.asarray(sums, dtype=np.float64), np.asarray(counts, dtype=np.float64)
    if len(sums) < 2:
        return float("nan"), float("nan")
    means = sums / counts
    if not np.isfinite(means).all():  # e.g. PSNR of identical frames: +inf; no interval is meaningful
        return (float(np.min(means)), float(np.max(means))) if np.isinf(means).all() else (float("nan"),) * 2
    if np.ptp(means) == 0.0:
        return float(means[0]), float(means[0])

    def ratio(s: np.ndarray, c: np.ndarray, axis: int = -1) -> np.ndarray:
        return s.sum(axis=axis) / c.sum(axis=axis)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns on degenerate distributions and returns NaN: said above
        result = stats.bootstrap(
            (sums, counts),
            ratio,
            paired=True,
            vectorized=True,
            n_resamples=resamples,
            confidence_level=level,
            method="BCa",
            random_state=np.random.default_rng(seed),
        )
    low, high = result.confidence_interval
    return float(low), float(high)


def paired_differences(
    frames: pd.DataFrame, metrics: Sequence[str], reference: str, seed: int
) -> pd.DataFrame:
    """Per (model, protocol, metric): mean of (model - ``reference``) over the frames both scored, its BCa interval
    over identities, and the counts. Empty when the reference model has no frames."""
    columns = ["model", "reference", "protocol", "metric", "difference", "ci95_low", "ci95_high", "n_frames",
               "n_identities"]  # fmt: skip
    keys = ["protocol", "job", "frame_index"]
    base = frames[frames["model"] == reference]
    rows = []
    if base.empty:
        return pd.DataFrame(rows, columns=columns)
    for (model, protocol), group in frames.groupby(["model", "protocol"], sort=True):
        mine = base[base["protocol"] == protocol]
        joined = group.merge(mine, on=keys, suffixes=("", "_ref"))
        for name in metrics:
            diff = joined[name] - joined[f"{name}_ref"]
            valid = joined.loc[diff.notna() & np.isfinite(diff)]
            if valid.empty:
                continue
            values = (valid[name] - valid[f"{name}_ref"]).to_numpy(dtype=np.float64)
            people = identity_of(valid["source_sequence"]).to_numpy()
            per = pd.DataFrame({"person": people, "value": values}).groupby("person")["value"]
            low, high = identity_bootstrap(per.sum().to_numpy(), per.count().to_numpy(), seed)
            rows.append([model, reference, protocol, name, float(values.mean()), low, high, len(values), per.ngroups])
    return pd.DataFrame(rows, columns=columns)
