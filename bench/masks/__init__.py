"""Foreground (person) masks: MediaPipe's selfie segmentation model run offline by a TFLite interpreter."""

from __future__ import annotations

from bench.masks.selfie import (
    SEGMENTER_VARIANT,
    SegmenterInfo,
    SelfieSegmenter,
    load_segmenter,
    segmenter_info,
)

__all__ = ["SEGMENTER_VARIANT", "SegmenterInfo", "SelfieSegmenter", "load_segmenter", "segmenter_info"]
