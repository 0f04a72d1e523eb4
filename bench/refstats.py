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
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.errors import ConfigError

__all__ = ["ReferenceStats", "check_save_target", "read_reference_stats", "write_reference_stats"]


def check_save_target(path: Path, metrics: tuple[str, ...]) -> None:
    """Refuse --save-stats before a run starts when it cannot be honoured: no FID, or a folder it cannot write."""
    if not any(name == "all" or name.startswith("fid.") for name in metrics):
        raise ConfigError(f"--save-stats {path} needs FID among the run's metrics (its features are the statistics)")
    if path.is_dir():
        raise ConfigError(f"--save-stats {path} is a folder; name the .npz file to write")
    parent = path.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise ConfigError(f"--save-stats {path}: the folder {parent} does not exist or is not writable; create it")


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
    if not path.is_file():
        found = "is a folder" if path.is_dir() else "file not found"
        raise ConfigError(f"--ref-stats {path}: {found}; pass an .npz written by --save-stats")
    if not zipfile.is_zipfile(path):
        raise ConfigError(
            f"--ref-stats {path}: not an .npz archive (empty, truncated or another file); write one with --save-stats"
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            stats = ReferenceStats(
                int(data["count"]),
                np.asarray(data["mu"], dtype=np.float64),
                np.asarray(data["sigma"], dtype=np.float64),
                np.asarray(data["kid_features"], dtype=np.float32),
                json.loads(str(data["provenance"])),
            )
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as error:
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
