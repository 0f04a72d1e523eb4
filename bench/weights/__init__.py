"""Registry, resolution, verification and fetching of weight files (model checkpoints and metric networks).

``fetch`` (downloads, needs ``requests``) is imported on demand: ``from bench.weights.fetch import fetch_weights``.
"""

from bench.weights.catalog import WEIGHTS, WeightFile
from bench.weights.lock import LOCK_NAME, LockEntry, WeightsLock
from bench.weights.resolve import (
    VERIFIED,
    WEIGHTS_ENV,
    ResolvedWeight,
    WeightsLocations,
    file_sha256,
    how_to_get,
    require,
    resolve,
)

__all__ = [
    "LOCK_NAME",
    "VERIFIED",
    "WEIGHTS",
    "WEIGHTS_ENV",
    "LockEntry",
    "ResolvedWeight",
    "WeightFile",
    "WeightsLocations",
    "WeightsLock",
    "file_sha256",
    "how_to_get",
    "require",
    "resolve",
]
