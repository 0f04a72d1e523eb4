"""Scoring frames generated elsewhere: ``bilayer-bench score GENERATED_ROOT --data ROOT``.

Another code base's outputs of the self-reenactment protocol (each driving frame reconstructed from its sequence's
source frame) are laid out like the data set's ground truth: each generated frame at the relative path of the
ground-truth frame it reconstructs, under ``GENERATED_ROOT`` instead of the data root, with any image suffix
(``imgs/test/PERSON/VIDEO/SEQUENCE/00012.png`` for the bi-layer layout; the ``imgs/`` level may be left out); a
ground-truth video (FOMM layout ``test/CLIP.mp4``) has its generated frames as a video of the same name, or as a
folder ``test/CLIP/`` of frames named like the data set's frame names. ``run --save-outputs`` writes a run's
outputs so (``RUN/outputs/MODEL/``, :func:`bench.data.layouts.mirror_path`).

The frames are scored by a run (:func:`bench.runner.run_benchmark`) whose one model replays them: the same jobs,
evaluation space, metrics, record and report as a run of a model. A generated frame that is missing or has another
size than its ground truth (crops: not square) is named (``RUN/missing_outputs.csv`` and the console) and left
out; the rest of its job is scored. Model outputs are 8-bit images in a run too (:func:`bench.space.as_8bit`), so
scoring the outputs a run saved gives exactly that run's numbers.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from PIL import Image

from bench.config import RunConfig
from bench.data import Dataset, open_dataset
from bench.data.io import read_image, read_video_frames
from bench.data.layouts import IMAGE_SUFFIXES, VIDEO_SUFFIXES, mirror_path, relative_to_root
from bench.data.types import FrameRef
from bench.errors import ConfigError, DataError
from bench.models import LoadedModel, ModelSpec
from bench.protocols import Job
from bench.records import RunDirectory
from bench.runner import RunSummary, run_benchmark
from bench.space import Crops

__all__ = ["GeneratedFrames", "MissingOutput", "score_outputs"]

logger = logging.getLogger(__name__)
MISSING_CSV = "missing_outputs.csv"


@dataclass(frozen=True)
class MissingOutput:
    ground_truth: str
    expected: str
    problem: str


class GeneratedFrames:
    """The generated frame of each ground-truth frame, found by the layout rule of the module docstring."""

    def __init__(self, generated: Path, dataset: Dataset, geometry: Literal["frame", "crop"]) -> None:
        self.generated = generated
        self.root = dataset.root
        self.geometry = geometry
        self._videos: dict[Path, list[np.ndarray]] = {}

    def _candidates(self, ref: FrameRef) -> list[tuple[Path, int | None]]:
        relative = relative_to_root(ref, self.root)
        if ref.video_index is not None:
            folder = self.generated / relative.with_suffix("")
            found = [(folder / f"{ref.name}{suffix}", None) for suffix in IMAGE_SUFFIXES]
            return found + [(self.generated / relative.with_suffix(s), ref.video_index) for s in VIDEO_SUFFIXES]
        stems = [relative.with_suffix("")]
        if relative.parts[0] == "imgs":  # the bi-layer layout's imgs/ level may be left out
            stems.append(Path(*relative.parts[1:]).with_suffix(""))
        return [(self.generated / f"{stem}{suffix}", None) for stem in stems for suffix in IMAGE_SUFFIXES]

    def locate(self, ref: FrameRef, size: tuple[int, int]) -> tuple[Path, int | None] | MissingOutput:
        """The file (and video index) of ``ref``'s generated frame, or why it cannot be scored."""
        candidates = self._candidates(ref)
        found = next(((path, index) for path, index in candidates if path.is_file()), None)
        if found is None:
            looked = sorted({str(path.with_suffix("")) for path, _ in candidates})
            problem = f"generated frame not found (looked for {' and '.join(looked)} with .png, .jpg or .jpeg)"
            return MissingOutput(str(ref.image), str(mirror_path(ref, self.root, self.generated)), problem)
        path, index = found
        try:
            shape = self.size(path, index)
        except DataError as error:
            return MissingOutput(str(ref.image), str(path), error.problem)
        if self.geometry == "frame" and shape != size:
            problem = f"generated frame is {shape[1]}x{shape[0]}, its ground truth {size[1]}x{size[0]}"
            return MissingOutput(str(ref.image), str(path), problem)
        if self.geometry == "crop" and shape[0] != shape[1]:
            return MissingOutput(str(ref.image), str(path), f"generated crop is {shape[1]}x{shape[0]}, not square")
        return path, index

    def size(self, path: Path, index: int | None) -> tuple[int, int]:
        """(height, width) of an image file (its header only) or of a video's frame ``index``."""
        if index is None:
            try:
                with Image.open(path) as image:
                    return int(image.height), int(image.width)
            except (OSError, ValueError, Image.DecompressionBombError) as error:
                raise DataError(path, f"cannot read the generated frame ({error})") from error
        frames = self._video(path)
        if index >= len(frames):
            raise DataError(path, f"generated video has {len(frames)} frames, frame {index} is needed")
        return int(frames[index].shape[0]), int(frames[index].shape[1])

    def _video(self, path: Path) -> list[np.ndarray]:
        if path not in self._videos:  # a job's frames are one clip's: its ground truth and its generated video
            self._videos = {**dict(list(self._videos.items())[-1:]), path: read_video_frames(path)}
        return self._videos[path]

    def read(self, path: Path, index: int | None) -> np.ndarray:
        return read_image(path) if index is None else self._video(path)[index]


class ReplayModel:
    """The "model" of a score run: the generated frames of each job, read from their files."""

    def __init__(self, frames: GeneratedFrames, files: dict[str, list[tuple[Path, int | None]]]) -> None:
        self.frames = frames
        self.files = files  # job id -> the generated files of its driving frames, in order
        self.output_geometry = frames.geometry

    def prepare(self, source: Any) -> None:  # outputs made elsewhere: nothing is computed here
        return None

    def animate(self, state: Any, driver: Any) -> torch.Tensor:
        raise RuntimeError("a score run replays files by job (outputs_for_job), it animates nothing")

    def outputs_for_job(self, job: Job, boxes: np.ndarray) -> torch.Tensor | Crops:
        """The job's generated frames as a model would return them: (N, 3, H, W) in [0, 1], or crops with the
        space's boxes of the driving frames (the bi-layer crop rule on the data set's landmarks)."""
        arrays = [self.frames.read(path, index) for path, index in self.files[job.id]]
        sizes = {a.shape for a in arrays}
        if len(sizes) != 1:
            raise DataError(self.files[job.id][0][0].parent, f"generated crops of one job differ in size: {sizes}")
        images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float().div_(255.0).contiguous()
        if self.geometry_is_crop:
            return Crops(images, torch.as_tensor(boxes, dtype=torch.float64))
        return images

    @property
    def geometry_is_crop(self) -> bool:
        return self.output_geometry == "crop"


def _plan(
    jobs: Sequence[Job], frames: GeneratedFrames
) -> tuple[dict[str, tuple[int, ...]], dict[str, list[tuple[Path, int | None]]], list[MissingOutput]]:
    """Per job: the driving frames whose generated frame can be scored, their files; and the others, named."""
    keep: dict[str, tuple[int, ...]] = {}
    files: dict[str, list[tuple[Path, int | None]]] = {}
    missing: list[MissingOutput] = []
    for job in jobs:
        kept, found = [], []
        for index in job.driver_indices:  # sizes from the files' headers: the run decodes the frames once, later
            ref = job.driver.frames[index]
            located = frames.locate(ref, frames.size(ref.image, ref.video_index))
            if isinstance(located, MissingOutput):
                missing.append(located)
            else:
                kept.append(index)
                found.append(located)
        keep[job.id], files[job.id] = tuple(kept), found
    return keep, files, missing


def score_config(config: RunConfig, name: str) -> RunConfig:
    """``config`` scoring one replayed model in self-reenactment (the layout has no place for cross outputs)."""
    if "self" not in config.protocol.kinds:
        raise ConfigError("score evaluates self-reenactment outputs; the config's protocol kinds have no 'self'")
    return replace(
        config,
        name=f"score-{config.name}",
        models=(name,),
        protocol=replace(config.protocol, kinds=("self",)),
        model_args={},
        reference_model="",
        save_outputs=False,
        latency=replace(config.latency, measure=False),
    )


def score_outputs(
    generated: Path,
    config: RunConfig,
    *,
    name: str = "",
    geometry: Literal["frame", "crop"] = "frame",
    out_root: Path = Path("bench-runs"),
    progress: bool = False,
) -> tuple[RunSummary, list[MissingOutput]]:
    """Score the frames under ``generated`` against ``config``'s data set; the run's summary and what was left
    out."""
    generated = Path(generated).expanduser()
    if not generated.is_dir():
        raise DataError(generated, "generated frames folder not found", "pass the folder that mirrors the data set")
    name = name or f"generated:{generated.name}"
    config = score_config(config, name)
    dataset = open_dataset(config.data, progress=progress)
    frames = GeneratedFrames(generated, dataset, geometry)
    from bench.plan import plan_jobs
    from bench.protocols import build_jobs

    jobs, skipped = build_jobs(dataset.sequences, config.protocol)
    jobs = plan_jobs(dataset, config.protocol, jobs, skipped)
    keep, files, missing = _plan([j for j in jobs if j.source.problem is None], frames)
    if not any(keep.values()):
        first = missing[0] if missing else None
        example = f" (e.g. {first.expected}: {first.problem})" if first else ""
        raise DataError(
            generated,
            f"none of the {len(missing)} generated frames the data set's self-reenactment jobs need can be "
            f"scored{example}",
            "lay the frames out like the data set's ground truth (bilayer-bench score --help)",
        )
    spec = ModelSpec(
        name,
        "",
        f"frames generated elsewhere, read from {generated}",
        output_geometry=geometry,
        origin=f"outputs in {generated}",
    )
    loaded = LoadedModel(spec, ReplayModel(frames, files), "unverified", ())
    summary = run_benchmark(config, out_root=out_root, progress=progress, instances={name: loaded}, driver_subsets=keep)
    table = pd.DataFrame([vars(m) for m in missing], columns=["ground_truth", "expected", "problem"])
    RunDirectory(summary.run_dir).write_table(MISSING_CSV, table)
    return summary, missing
