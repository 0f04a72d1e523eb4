"""Foreground masks for a run's frames, by the run's rule (``data.masks``), and where each one came from.

* ``auto``: the data set's ``segs/`` mask where a frame has one, else the segmenter's;
* ``data``: ``segs/`` only; a frame without one is a data error of its job (named, with the fix);
* ``segmenter``: the segmenter's for every frame, even where ``segs/`` has one;
* ``none``: no masks: the bi-layer source is not masked (every record says "no source mask").

Segmenter masks are cached on disk, addressed by the sha256 of the decoded frame (its pixels and shape), as 8-bit
PNGs under ``$BILAYER_BENCH_CACHE/masks/VARIANT/``; a mask computed now is quantised to 8 bits exactly as a cached
one, so a run's numbers do not depend on whether the cache was warm.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from bench.atomic import atomic_write
from bench.config import MaskSource
from bench.data.types import FrameData
from bench.errors import DataError

__all__ = ["MASK_ORIGINS", "MaskProvider", "describe_masks", "mask_cache_dir"]

logger = logging.getLogger(__name__)

MASK_ORIGINS = ("data", "segmenter", "none")


def mask_cache_dir() -> Path:
    from bench.data.default import cache_dir

    return cache_dir() / "masks"


def _digest(image: np.ndarray) -> str:
    hasher = hashlib.sha256(str(image.shape).encode())
    hasher.update(np.ascontiguousarray(image).tobytes())
    return hasher.hexdigest()


class MaskProvider:
    """Fills in the ``segmentation`` of decoded frames by ``mode``; the segmenter is loaded on first need."""

    def __init__(self, mode: MaskSource, cache: Path | None = None) -> None:
        self.mode = mode
        self._cache = cache
        self._segmenter = None

    @property
    def cache(self) -> Path:
        from bench.masks.selfie import SEGMENTER_VARIANT

        return (self._cache or mask_cache_dir()) / SEGMENTER_VARIANT

    def origin(self, frame: FrameData) -> str:
        """Where ``frame``'s mask comes from: by the run's rule and whether the data set has a mask file for it."""
        if self.mode == "none":
            return "none"
        if self.mode == "segmenter" or (self.mode == "auto" and frame.ref.segmentation is None):
            return "segmenter"
        return "data"

    def origins(self, frames: Sequence[FrameData]) -> dict[str, int]:
        """How many of ``frames`` get their mask from each origin."""
        counts = dict.fromkeys(MASK_ORIGINS, 0)
        for frame in frames:
            counts[self.origin(frame)] += 1
        return counts

    def fill(self, frames: Sequence[FrameData]) -> list[FrameData]:
        if self.mode == "none":
            return [replace(f, segmentation=None) for f in frames]
        if self.mode == "data":
            for frame in frames:
                if frame.segmentation is None:
                    raise DataError(
                        frame.ref.image,
                        "no foreground mask in segs/ for this frame (data.masks = 'data')",
                        "add the mask, or use masks = 'auto' to compute missing ones with the segmenter",
                    )
            return list(frames)
        wanted = [i for i, f in enumerate(frames) if self.origin(f) == "segmenter"]
        if not wanted:
            return list(frames)
        masks = self._masks([frames[i].image for i in wanted])
        out = list(frames)
        for i, mask in zip(wanted, masks, strict=True):
            out[i] = replace(out[i], segmentation=mask)
        return out

    def _masks(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        paths = [self.cache / (digest := _digest(image))[:2] / f"{digest}.png" for image in images]
        found: dict[int, np.ndarray] = {}
        for i, path in enumerate(paths):
            if path.is_file():
                try:
                    with Image.open(path) as stored:
                        array = np.asarray(stored.convert("L"), dtype=np.float32) / 255.0
                    if array.shape == images[i].shape[:2]:
                        found[i] = array
                except OSError:
                    logger.warning("unreadable cached mask %s; computing it again", path)
        missing = [i for i in range(len(images)) if i not in found]
        if missing:
            for i, mask in zip(missing, self._segment([images[i] for i in missing]), strict=True):
                quantised = np.clip(np.rint(mask * 255.0), 0, 255).astype(np.uint8)
                self._store(paths[i], quantised)
                found[i] = quantised.astype(np.float32) / 255.0
        return [found[i] for i in range(len(images))]

    def _segment(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        if self._segmenter is None:
            from bench.masks.selfie import load_segmenter

            self._segmenter = load_segmenter()
        by_size: dict[tuple[int, ...], list[int]] = {}
        for i, image in enumerate(images):
            by_size.setdefault(image.shape, []).append(i)
        out: list[np.ndarray | None] = [None] * len(images)
        for indices in by_size.values():
            masks = self._segmenter(np.stack([images[i] for i in indices]))
            for i, mask in zip(indices, masks, strict=True):
                out[i] = mask
        return out  # type: ignore[return-value]

    @staticmethod
    def _store(path: Path, mask: np.ndarray) -> None:
        """Best effort (a read-only cache only costs recomputation), written atomically."""
        png = io.BytesIO()
        Image.fromarray(mask).save(png, format="PNG")
        try:
            atomic_write(path, png.getvalue())
        except OSError as error:
            logger.warning("cannot cache the mask %s (%s); it will be computed again next time", path, error)


def describe_masks(rule: MaskSource, counts: dict[str, int]) -> dict[str, object]:
    """The masks of a run as records and captions state them: the rule, frames per origin, the segmenter."""
    segmenter = None
    if counts.get("segmenter"):
        from bench.masks.selfie import segmenter_info

        segmenter = segmenter_info().provenance()
    if rule == "none":
        text = "no masks (no source mask: the bi-layer source is not masked)"
    else:
        parts = []
        if counts.get("data"):
            parts.append(f"the data set's segs/ ({counts['data']} frames)")
        if segmenter is not None:
            parts.append(f"{segmenter['variant']} ({counts['segmenter']} frames)")
        text = "masks from " + (" and ".join(parts) or "nowhere (no frames)")
    return {"rule": rule, "frames": dict(counts), "segmenter": segmenter, "description": text}
