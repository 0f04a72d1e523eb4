"""Specification of a synthetic data set and the seeding helpers derived from it."""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

import numpy as np

GENERATOR_VERSION = "1"
"""Version of the generator output; bump whenever the written bytes change."""

REAL_PERSONS: tuple[str, ...] = ("astronaut", "grace_hopper")
"""Identities backed by real public-domain portraits shipped with installed packages."""

PROCEDURAL_PATTERN = re.compile(r"^procedural_(\d+)$")
"""Names of procedurally drawn identities: ``procedural_NN``."""

# Independent random streams, so that adding draws to one never changes another.
STREAM_MOTION = 1
STREAM_PHOTOMETRIC = 2
STREAM_IDENTITY = 3


@dataclass(frozen=True)
class SynthSpec:
    """What to generate.

    Parameters
    ----------
    persons
        Identity names: ``astronaut``, ``grace_hopper`` or ``procedural_NN``.
    videos_per_person, sequences_per_video, frames_per_sequence
        Counts; the sequences of a video are consecutive segments of one motion timeline.
    size
        Side of the square frames in pixels.
    seed
        Non-negative master seed.
    split
        Split directory name of the layout (``imgs/<split>/...``).
    """

    persons: tuple[str, ...] = ("astronaut", "grace_hopper", "procedural_00", "procedural_01")
    videos_per_person: int = 2
    sequences_per_video: int = 2
    frames_per_sequence: int = 8
    size: int = 256
    seed: int = 0
    split: str = "test"

    def __post_init__(self) -> None:
        if isinstance(self.persons, str) or not self.persons:
            raise ValueError("persons must be a non-empty tuple of names")
        object.__setattr__(self, "persons", tuple(self.persons))
        for name in self.persons:
            check_person(name)
        if len(set(self.persons)) != len(self.persons):
            raise ValueError("persons must be unique")
        for field in ("videos_per_person", "sequences_per_video", "frames_per_sequence"):
            if int(getattr(self, field)) < 1:
                raise ValueError(f"{field} must be >= 1")
        if self.size < 64:
            raise ValueError("size must be >= 64")
        if self.seed < 0:
            raise ValueError("seed must be >= 0")
        if not self.split or "/" in self.split or self.split in (".", ".."):
            raise ValueError("split must be a plain directory name")

    @property
    def frames_per_video(self) -> int:
        """Length of the motion timeline of one video."""
        return self.sequences_per_video * self.frames_per_sequence

    @property
    def margin(self) -> int:
        """Padding (pixels) kept around base portraits so that warps rarely sample outside them."""
        return round(self.size * 0.1875)


def check_person(name: str) -> str:
    """Return ``name`` if it is a known identity, else raise ``ValueError``."""
    if name in REAL_PERSONS or PROCEDURAL_PATTERN.match(name):
        return name
    raise ValueError(f"unknown synthetic person {name!r}; use {REAL_PERSONS} or 'procedural_NN'")


def name_key(name: str) -> int:
    """Stable (process independent) integer key of a name."""
    return zlib.crc32(name.encode("utf-8"))


def make_rng(seed: int, person: str, stream: int, video: int = 0) -> np.random.Generator:
    """Seeded generator for one (seed, person, stream, video) combination."""
    return np.random.default_rng([int(seed), name_key(person), int(stream), int(video)])
