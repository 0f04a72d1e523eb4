"""How long a full-scale evaluation would take, from a run's measured per-frame costs (``cost.csv``, ``timings.csv``).

The split is the VoxCeleb2 test set of one-shot self-reenactment: per clip, one source frame (an avatar is
prepared once) and every other frame drives it and is scored. Its size (:data:`VOXCELEB2_TEST`): 118 identities
and 36,237 clips (Chung et al., Interspeech 2018, Table 1); 79.9 hours of video (the VoxCeleb summary of
PaddleSpeech's ``examples/voxceleb``, a secondary source) at VoxCeleb2's 25 frames per second: 7,191,000 frames,
of which 7,154,763 drive (all but each clip's source). A protocol that samples frames (``driver_stride``,
``max_drivers``) scales the per-frame part down accordingly: :func:`split_hours` takes the frames that drive.

Sharding (``torchrun``, :mod:`bench.distributed`) splits the clips over ranks; the only collective is the final
reduction of the metric states, so with every rank on its own device the time is that of the rank with the most
clips. Ranks that share one machine's CPU cores share its compute: the estimate assumes a device per rank.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["VOXCELEB2_TEST", "ClipCost", "SplitSize", "split_hours"]


@dataclass(frozen=True)
class SplitSize:
    name: str
    identities: int
    clips: int
    hours: float  # of video
    fps: float
    source: str

    @property
    def frames(self) -> int:
        return round(self.hours * 3600 * self.fps)

    @property
    def driving_frames(self) -> int:
        """Every frame but each clip's source."""
        return self.frames - self.clips


VOXCELEB2_TEST = SplitSize(
    name="VoxCeleb2 test",
    identities=118,
    clips=36_237,
    hours=79.9,
    fps=25.0,
    source=(
        "118 identities, 36,237 clips (Chung et al., Interspeech 2018, Table 1); 79.9 h of video (VoxCeleb summary "
        "in PaddleSpeech's examples/voxceleb, secondary) at 25 fps"
    ),
)


@dataclass(frozen=True)
class ClipCost:
    """A model's measured costs: per clip (the avatar: ``prepare`` and ``begin_sequence``) and per driving frame
    (its ``animate``, the metrics on its frame and on the real frame, waiting for data, the rest of the job)."""

    prepare_ms: float
    frame_ms: float

    def __post_init__(self) -> None:
        values = (self.prepare_ms, self.frame_ms)
        if not all(math.isfinite(v) and v >= 0 for v in values):
            raise ValueError(f"costs must be finite and >= 0, got {self}")


def split_hours(cost: ClipCost, split: SplitSize = VOXCELEB2_TEST, ranks: int = 1, frames: int | None = None) -> float:
    """Hours for ``split`` at ``cost`` with ``ranks`` ranks, each on its own device: the rank with the most clips
    (``ceil(clips / ranks)``) and their share of the driving ``frames`` (default: all of them)."""
    if ranks < 1:
        raise ValueError(f"ranks must be >= 1, got {ranks}")
    driving = split.driving_frames if frames is None else frames
    clips = math.ceil(split.clips / ranks)
    return (clips * cost.prepare_ms + driving * clips / split.clips * cost.frame_ms) / 3.6e6
