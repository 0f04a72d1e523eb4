"""What each timed stage runs, and the sentence that says what its number includes.

A :class:`StageCall` is one stage of one model: the callable that is timed, the call whose FLOPs are counted
(the same work on the first input), the unit (per avatar or per frame), the frames per call and the
``includes`` text that goes into every table and record. The pytest-benchmark suite times the same callables.

The state ``animate`` uses is that of the first source frame (``prepare`` keeps it when it runs on that frame,
otherwise it is computed once, untimed); models with ``begin_sequence`` (FOMM's relative modes) get it called once
over the pool of driver frames, untimed: per-sequence work is not per-frame cost.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import torch

from bench.latency.inputs import LatencyInputs
from bench.latency.landmarks import DriverLandmarks
from bench.models import Frames, LoadedModel

__all__ = ["LandmarkMisses", "StageCall", "model_work", "stage_calls"]

Stage = Literal["prepare", "animate", "end_to_end"]

# What prepare/animate do, by the registered factory's module (longest matching prefix wins).
PREPARE_WORK = {
    "bilayer.": "source crop from its landmarks, pose and stickman, identity embedding, texture generation, "
    "source-side inference, the texture enhancer's unrolled steps, folding of the inference generator",
    "baselines.fomm.": "source keypoints and jacobians, generator encoder features, dense-motion source and heatmaps",
    "baselines.sanity:create_copy_source": "keeps the source frame (no computation)",
    "baselines.sanity:create_oracle": "nothing",
}
ANIMATE_WORK = {
    "bilayer.": "crop boxes and normalised poses from the driver's landmarks, keypoints embedder, per-avatar folded "
    "inference generator, texture sampling, paste of the output crop into the frame",
    "baselines.fomm.": "driver keypoints, keypoint normalisation, dense motion, warping of the cached source "
    "features, decoder (frames resized to and from the model's size when they differ)",
    "baselines.sanity:create_copy_source": "expands the source frame to the batch (resized if sizes differ)",
    "baselines.sanity:create_oracle": "returns the driving frame",
}


def model_work(table: dict[str, str], factory: str) -> str:
    matches = [prefix for prefix in table if factory.startswith(prefix)]
    return table[max(matches, key=len)] if matches else "whatever the model's method does"


@dataclass
class LandmarkMisses:
    """Frames whose driver landmarks were not found (animated with the data set's landmarks instead)."""

    frames: int = 0
    missed: int = 0


@dataclass(frozen=True)
class StageCall:
    model: str
    stage: Stage
    per: Literal["avatar", "frame"]
    includes: str
    batch: int
    run: Callable[[], object]
    count: Callable[[], object]
    same_as: Stage | None = None
    flops_note: str = ""
    landmarks: str | None = None
    misses: LandmarkMisses | None = None
    setup: Callable[[], object] = lambda: None  # untimed, uncounted work before the first call (the state)


class _AnimateState:
    """The state of the first source, kept from ``prepare`` or computed once; ``begin_sequence`` applied once."""

    def __init__(self, model: Any, inputs: LatencyInputs) -> None:
        self.model, self.inputs = model, inputs
        self.prepared: Any = None
        self.ready: Any = None

    def remember(self, index: int, state: Any) -> None:
        if index == 0 and self.prepared is None:
            self.prepared = state

    def get(self) -> Any:
        if self.ready is None:
            prepared = self.prepared if self.prepared is not None else self.model.prepare(self.inputs.sources[0])
            begin = getattr(self.model, "begin_sequence", None)
            self.ready = begin(prepared, self.inputs.sequence) if callable(begin) else prepared
        return self.ready


def _cycle(count: int) -> Callable[[], int]:
    indices = itertools.cycle(range(count))
    return lambda: next(indices)


def _prepare_call(loaded: LoadedModel, inputs: LatencyInputs, state: _AnimateState) -> StageCall:
    model, sources = loaded.model, inputs.sources
    following = _cycle(len(sources))

    def run() -> object:
        index = following()
        prepared = model.prepare(sources[index])
        state.remember(index, prepared)
        return prepared

    has_mask = sources[0].segmentation is not None
    includes = (
        f"model.prepare(source): everything per avatar ({model_work(PREPARE_WORK, loaded.spec.factory)}); input: "
        f"one decoded source frame already on the device with its 68 landmarks{' and mask' if has_mask else ''}; "
        "excludes decoding and the host-to-device copy"
    )
    return StageCall(loaded.spec.name, "prepare", "avatar", includes, 1, run, run)


def stage_calls(loaded: LoadedModel, inputs: LatencyInputs, landmarks: DriverLandmarks | None) -> list[StageCall]:
    """prepare, animate and end_to_end of ``loaded`` (``landmarks``: the driver landmark extractor, if any)."""
    model, name = loaded.model, loaded.spec.name
    state = _AnimateState(model, inputs)
    batch = len(inputs.drivers[0])
    following = _cycle(len(inputs.drivers))
    sequence_note = (
        "; its state comes from prepare and begin_sequence over the driver frames, both outside the timing"
        if callable(getattr(model, "begin_sequence", None))
        else ""
    )
    animate_call = StageCall(
        name,
        "animate",
        "frame",
        f"model.animate(state, driver): per-frame network work only ({model_work(ANIMATE_WORK, loaded.spec.factory)});"
        " excludes decoding, driver landmark extraction (the data set's landmarks are given) and host<->device copies "
        f"of the driver image; per frame = call time / batch ({batch}){sequence_note}",
        batch,
        lambda: model.animate(state.get(), inputs.drivers[following()]),
        lambda: model.animate(state.get(), inputs.drivers[0]),
        setup=state.get,
    )
    calls = [_prepare_call(loaded, inputs, state), animate_call]
    if not loaded.spec.needs_landmarks or landmarks is None:
        why = f"{name} needs no driver landmarks" if not loaded.spec.needs_landmarks else "no landmark extractor given"
        includes = (
            f"same as animate: {why}, so the end-to-end frame adds nothing to animate; these are animate's samples, "
            "not measured again"
        )
        calls.append(replace(animate_call, stage="end_to_end", includes=includes, same_as="animate"))
        return calls
    misses = LandmarkMisses()
    e2e_following = _cycle(len(inputs.drivers))

    def end_to_end(index: int | None = None) -> object:
        k = e2e_following() if index is None else index
        driver = inputs.drivers[k]
        points = landmarks(inputs.driver_images[k], driver.image)
        missing = np.isnan(points).any(axis=(1, 2))
        misses.frames, misses.missed = misses.frames + len(points), misses.missed + int(missing.sum())
        if missing.any() and driver.landmarks is not None:
            points[missing] = driver.landmarks.cpu().numpy()[missing]
        found = torch.from_numpy(points).to(driver.image.device)
        return model.animate(state.get(), Frames(driver.image, found, driver.segmentation))

    includes = (
        f"driver landmark extraction ({landmarks.description}) on the decoded frames on the host, landmarks copied "
        f"to the device, then model.animate(state, driver) with those landmarks; excludes decoding and the copy "
        f"of the driver image to the device; per frame = call time / batch ({batch})"
    )
    calls.append(
        StageCall(
            name,
            "end_to_end",
            "frame",
            includes,
            batch,
            end_to_end,
            lambda: end_to_end(0),
            flops_note="" if landmarks.name == "fan68" else "dlib landmark extraction is not counted (not torch)",
            landmarks=landmarks.name,
            misses=misses,
            setup=state.get,
        )
    )
    return calls
