"""Reference statistics of FID and KID that outlive a run (``--save-stats FILE`` / ``--ref-stats FILE``).

An ``.npz`` in pytorch-fid's convention (``mu``, ``sigma``: the mean and the unbiased covariance of the real
frames' pool3 features) plus ``count``, ``kid_features`` (a uniform sample of at most 10,000 feature rows, for KID)
and ``provenance`` (JSON: the metric variant, the evaluation space, the data root and its frames, the network's
weights record, when it was made). A run given ``--ref-stats`` scores every model against the file's set instead
of its own real frames; the file's variant and evaluation space must be the run's, or the run is refused before
anything is written.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.errors import ConfigError

__all__ = ["ReferenceStats", "read_reference_stats", "write_reference_stats"]


@dataclass(frozen=True)
class ReferenceStats:
    count: int
    mu: np.ndarray
    sigma: np.ndarray
    kid_features: np.ndarray
    provenance: dict[str, Any]

    @classmethod
    def from_moments(cls, moments: np.ndarray, kid_features: np.ndarray, provenance: dict[str, Any]) -> ReferenceStats:
        count = round(float(moments[0, 0]))
        mu = moments[0, 1:] / count
        sigma = (moments[1:, 1:] - count * np.outer(mu, mu)) / (count - 1)
        return cls(count, mu, (sigma + sigma.T) / 2, kid_features, provenance)

    def moments(self) -> np.ndarray:
        """The moment matrix ``sum [1, x][1, x]'`` these statistics stand for (what the run's FID adds up)."""
        total = self.count * self.mu
        outer = (self.count - 1) * self.sigma + self.count * np.outer(self.mu, self.mu)
        top = np.concatenate([[float(self.count)], total])
        return np.concatenate([top[None], np.concatenate([total[:, None], outer], axis=1)], axis=0)


def write_reference_stats(path: Path, stats: ReferenceStats) -> None:
    buffer = io.BytesIO()
    np.savez(
        buffer,
        mu=stats.mu,
        sigma=stats.sigma,
        count=np.int64(stats.count),
        kid_features=stats.kid_features.astype(np.float32),
        provenance=np.array(json.dumps(stats.provenance, sort_keys=True)),
    )
    from bench.records import atomic_write

    atomic_write(path, buffer.getvalue())


def read_reference_stats(path: Path, variant: str, space: dict[str, Any]) -> ReferenceStats:
    """The file's statistics, checked against the run's FID variant and evaluation space."""
    try:
        with np.load(path, allow_pickle=False) as data:
            stats = ReferenceStats(
                int(data["count"]),
                np.asarray(data["mu"], dtype=np.float64),
                np.asarray(data["sigma"], dtype=np.float64),
                np.asarray(data["kid_features"], dtype=np.float32),
                json.loads(str(data["provenance"])),
            )
    except FileNotFoundError:
        raise ConfigError(f"--ref-stats {path}: file not found; write one with --save-stats") from None
    except (OSError, KeyError, ValueError) as error:
        raise ConfigError(f"--ref-stats {path}: not a reference statistics file of this suite ({error})") from error
    if stats.mu.ndim != 1 or stats.sigma.shape != (len(stats.mu), len(stats.mu)) or stats.count < 2:
        raise ConfigError(f"--ref-stats {path}: mu {stats.mu.shape} and sigma {stats.sigma.shape} do not match")
    found, wanted = stats.provenance.get("variant"), variant
    if found != wanted:
        raise ConfigError(f"--ref-stats {path} holds {found} statistics, this run computes {wanted}")
    made_in = stats.provenance.get("space", {})
    if (made_in.get("name"), made_in.get("size")) != (space.get("name"), space.get("size")):
        raise ConfigError(
            f"--ref-stats {path} was made in the {made_in.get('name')} space at {made_in.get('size')}, this run scores "
            f"in {space.get('name')} at {space.get('size')}: FID across spaces is not one quantity"
        )
    return stats
