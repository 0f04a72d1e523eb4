"""Where one process stands in a process group, and its device: what both the launcher (:mod:`launch`) and the
communicator (:mod:`comm`) need, in a module of its own so that they import it and not each other
(launch -> comm -> ranks)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bench.errors import ConfigError

__all__ = ["Launch", "rank_device"]


@dataclass(frozen=True)
class Launch:
    """Where this process stands in the group, read from the launcher's environment variables."""

    rank: int
    world_size: int
    local_rank: int
    launcher: Literal["torchrun", "slurm"]


def rank_device(device: str, local_rank: int) -> str:
    """The device of one rank: ``cuda`` becomes ``cuda:LOCAL_RANK``; ``cpu`` stays."""
    if device == "cuda":
        return f"cuda:{local_rank}"
    if device.startswith("cuda:"):
        raise ConfigError(
            f"--distributed with --device {device}: pass --device cuda, and each rank uses cuda:LOCAL_RANK"
        )
    return device
