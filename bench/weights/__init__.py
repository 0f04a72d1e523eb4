"""Registry, resolution and verification of weight files (model checkpoints and metric networks)."""

from bench.weights.catalog import WEIGHTS, WeightFile
from bench.weights.resolve import WEIGHTS_ENV, ResolvedWeight, WeightsLocations, file_sha256, require, resolve

__all__ = [
    "WEIGHTS",
    "WEIGHTS_ENV",
    "ResolvedWeight",
    "WeightFile",
    "WeightsLocations",
    "file_sha256",
    "require",
    "resolve",
]
