"""The process group as the runner sees it: a :class:`Communicator`, the world of one, torch.distributed's.

Also the sharding rule (:func:`shard_jobs`), a pure function of the job list so that every rank computes the
same partition.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

import numpy as np
import torch
import torch.distributed as dist

from bench.distributed.ranks import Launch, rank_device
from bench.errors import BenchError

if TYPE_CHECKING:
    from bench.protocols import Job

__all__ = ["Communicator", "DistributedError", "SingleProcess", "TorchCommunicator", "digest", "shard_jobs"]

T = TypeVar("T")
ReduceOp = Literal["sum", "max"]


class DistributedError(BenchError):
    """A sharded run could not go on: another rank failed, or the ranks disagree on what to run."""


def shard_jobs(jobs: Sequence[Job], world_size: int, rank: int) -> list[Job]:
    """The jobs of ``rank``, in their original order: largest first to the least loaded rank (by driving frames).

    A pure function of the job list, so every rank computes the same partition and a job runs exactly once.
    """
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in a world of {world_size}")
    loads = [0] * world_size
    owner = [0] * len(jobs)
    for index in sorted(range(len(jobs)), key=lambda i: (-len(jobs[i].driver_indices), i)):
        target = min(range(world_size), key=lambda r: (loads[r], r))
        owner[index] = target
        loads[target] += len(jobs[index].driver_indices)
    return [job for job, r in zip(jobs, owner, strict=True) if r == rank]


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class Communicator(Protocol):
    """What the runner needs from the process group; :class:`SingleProcess` is the world of one."""

    rank: int
    world_size: int

    @property
    def is_main(self) -> bool: ...

    def device(self, device: str) -> str: ...

    def describe(self) -> dict[str, Any] | None: ...

    def shard(self, jobs: Sequence[Job]) -> list[Job]: ...

    def on_main(self, fn: Callable[[], T]) -> T: ...

    def main_first(self, fn: Callable[[], T]) -> T: ...

    def check_agree(self, what: str, value: str) -> None: ...

    def raise_if_failed(self, error: Exception | None) -> None: ...

    def gather(self, items: list[T]) -> list[T]: ...

    def all_reduce(self, array: np.ndarray, op: ReduceOp = "sum") -> np.ndarray: ...


class SingleProcess:
    """The world of one process: every collective is the identity, so one code path serves both cases."""

    rank = 0
    world_size = 1

    @property
    def is_main(self) -> bool:
        return True

    def device(self, device: str) -> str:
        return device

    def describe(self) -> dict[str, Any] | None:
        return None

    def shard(self, jobs: Sequence[Job]) -> list[Job]:
        return list(jobs)

    def on_main(self, fn: Callable[[], T]) -> T:
        return fn()

    def main_first(self, fn: Callable[[], T]) -> T:
        return fn()

    def check_agree(self, what: str, value: str) -> None:
        return None

    def raise_if_failed(self, error: Exception | None) -> None:
        if error is not None:
            raise error

    def gather(self, items: list[T]) -> list[T]:
        return list(items)

    def all_reduce(self, array: np.ndarray, op: ReduceOp = "sum") -> np.ndarray:
        return np.array(array, copy=True)


def _describe_error(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


class TorchCommunicator:
    """A process group of torch.distributed (initialised by :func:`process_group`).

    Tensors are reduced on the backend's device (CPU for gloo, ``cuda:LOCAL_RANK`` for nccl); picklable objects
    travel through ``objects``, a gloo group (the default group itself under gloo).
    """

    def __init__(self, launch: Launch, backend: str, objects: Any = None) -> None:
        self.launch = launch
        self.rank = launch.rank
        self.world_size = launch.world_size
        self.backend = backend
        self.objects = objects
        self.tensor_device = torch.device(f"cuda:{launch.local_rank}" if backend == "nccl" else "cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self, device: str) -> str:
        return rank_device(device, self.launch.local_rank)

    def describe(self) -> dict[str, Any]:
        return {
            "world_size": self.world_size,
            "backend": self.backend,
            "launcher": self.launch.launcher,
            "sharding": "jobs, largest first to the least loaded rank (driving frames)",
        }

    def shard(self, jobs: Sequence[Job]) -> list[Job]:
        return shard_jobs(jobs, self.world_size, self.rank)

    def _broadcast(self, value: Any) -> Any:
        box = [value]
        dist.broadcast_object_list(box, src=0, group=self.objects)
        return box[0]

    def _run_on_main(self, fn: Callable[[], T], share: bool) -> T | None:
        if self.is_main:
            try:
                value = fn()
            except Exception as error:
                self._broadcast(("error", _describe_error(error)))
                raise
            self._broadcast(("ok", value if share else None))
            return value
        status, value = self._broadcast(None)
        if status == "error":
            raise DistributedError(f"rank 0 failed, so rank {self.rank} stops too: {value}")
        return value

    def on_main(self, fn: Callable[[], T]) -> T:
        """``fn()`` on rank 0, its result on every rank; an exception there stops every rank."""
        return self._run_on_main(fn, share=True)  # type: ignore[return-value]

    def main_first(self, fn: Callable[[], T]) -> T:
        """``fn()`` on rank 0, then on the other ranks (e.g. rank 0 generates the embedded data set once)."""
        value = self._run_on_main(fn, share=False)
        return value if self.is_main else fn()  # type: ignore[return-value]

    def _all_gather(self, value: Any) -> list[Any]:
        values: list[Any] = [None] * self.world_size
        dist.all_gather_object(values, value, group=self.objects)
        return values

    def check_agree(self, what: str, value: str) -> None:
        values = self._all_gather(value)
        differ = [rank for rank, v in enumerate(values) if v != values[0]]
        if differ:
            raise DistributedError(
                f"ranks {differ} see another {what} than rank 0 ({values[differ[0]]} vs {values[0]}); every rank "
                "must read the same config and data (a file system shared by all nodes, the same arguments)"
            )

    def raise_if_failed(self, error: Exception | None) -> None:
        """A collective where every rank learns whether any failed; then all raise, naming the failed ranks."""
        messages = self._all_gather(None if error is None else _describe_error(error))
        failed = {rank: message for rank, message in enumerate(messages) if message is not None}
        if failed:
            text = "; ".join(f"rank {rank}: {message}" for rank, message in failed.items())
            raise DistributedError(f"sharded run stopped on rank {self.rank} because {text}") from error

    def gather(self, items: list[T]) -> list[T]:
        """Every rank's ``items`` concatenated in rank order on rank 0; an empty list on the others."""
        received: list[Any] | None = [None] * self.world_size if self.is_main else None
        dist.gather_object(items, received, dst=0, group=self.objects)
        return [item for chunk in received for item in chunk] if received is not None else []

    def all_reduce(self, array: np.ndarray, op: ReduceOp = "sum") -> np.ndarray:
        tensor = torch.from_numpy(np.array(array, copy=True)).to(self.tensor_device)  # the caller's array stays
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM if op == "sum" else dist.ReduceOp.MAX)
        return tensor.cpu().numpy()
