"""``bilayer-bench prepare``: raw VoxCeleb2-style clips to the bi-layer (and FOMM) data layouts.

VoxCeleb2 arrives as ``ROOT/idPERSON/VIDEO_ID/00001.mp4``; the bench reads the bi-layer authors' layout
(``imgs/``, ``keypoints/``, optional ``segs/``) or FOMM's (a folder of frames or an .mp4 per clip). This package
reads the clips with PyAV (:mod:`.video`), finds the face and its 68 landmarks per frame with face-alignment when
its weights are present, else dlib (:mod:`.faces`), crops head-centred 256x256 squares (:mod:`.crop`, which
documents the rule) and writes the layouts atomically per clip with a provenance manifest (:mod:`.writer`),
resuming where an interrupted run stopped (:mod:`.pipeline`). The CLI is :mod:`.cli`.

Names are imported lazily, so that the CLI's parser does not load numpy, PIL or PyAV.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["CropConfig", "DetectConfig", "PrepareConfig", "PrepareSummary", "prepare_clips"]

_HOME = {
    "CropConfig": "bench.prepare.config",
    "DetectConfig": "bench.prepare.config",
    "PrepareConfig": "bench.prepare.config",
    "PrepareSummary": "bench.prepare.pipeline",
    "prepare_clips": "bench.prepare.pipeline",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'bench.prepare' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOME[name]), name)
