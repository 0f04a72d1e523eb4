"""Joining the launcher's process group: torchrun's (or srun's) variables, backend, devices, timeout, log prefix."""

from __future__ import annotations

import datetime as _dt
import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import torch
import torch.distributed as dist

from bench.distributed.comm import TorchCommunicator
from bench.distributed.ranks import Launch, rank_device
from bench.errors import ConfigError

__all__ = [
    "TIMEOUT_ENV",
    "Launch",
    "launch_from_environment",
    "process_group",
    "rank_device",
    "timeout_from_environment",
]

TIMEOUT_ENV = "BILAYER_BENCH_DIST_TIMEOUT"  # minutes every collective may wait for the slowest rank
DEFAULT_TIMEOUT_MINUTES = 30.0


def _int_variable(env: Mapping[str, str], name: str) -> int:
    try:
        return int(env[name])
    except ValueError:
        raise ConfigError(f"environment variable {name}={env[name]!r} is not an integer") from None


def launch_from_environment(env: Mapping[str, str] | None = None) -> Launch:
    """The rank, world size and local rank that torchrun (or srun) gave this process."""
    env = os.environ if env is None else env
    if "RANK" in env and "WORLD_SIZE" in env:
        names, launcher = ("RANK", "WORLD_SIZE", "LOCAL_RANK"), "torchrun"
    elif "SLURM_PROCID" in env and "SLURM_NTASKS" in env:
        names, launcher = ("SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"), "slurm"
    else:
        raise ConfigError(
            "--distributed: no RANK and WORLD_SIZE (torchrun) nor SLURM_PROCID and SLURM_NTASKS (srun) in the "
            "environment; launch with `torchrun --nproc_per_node N -m bench run --distributed ...`"
        )
    missing = [name for name in ("MASTER_ADDR", "MASTER_PORT") if not env.get(name)]
    if missing:
        raise ConfigError(
            f"--distributed under {launcher}: {' and '.join(missing)} not set; export the address and a free port "
            "of the rank-0 node (torchrun sets them; in an sbatch script: "
            "MASTER_ADDR=$(scontrol show hostnames $SLURM_JOB_NODELIST | head -n1), MASTER_PORT=29500)"
        )
    rank, world = _int_variable(env, names[0]), _int_variable(env, names[1])
    local = _int_variable(env, names[2]) if names[2] in env else rank
    if world < 1 or not 0 <= rank < world or local < 0:
        raise ConfigError(f"--distributed: rank {rank} of world size {world} (local rank {local}) is not valid")
    return Launch(rank, world, local, launcher)  # type: ignore[arg-type]


def timeout_from_environment(env: Mapping[str, str]) -> _dt.timedelta:
    """The process group's timeout: ``BILAYER_BENCH_DIST_TIMEOUT`` minutes, default 30."""
    text = env.get(TIMEOUT_ENV, "")
    try:
        minutes = float(text) if text else DEFAULT_TIMEOUT_MINUTES
    except ValueError:
        minutes = -1.0
    if minutes <= 0:
        raise ConfigError(f"{TIMEOUT_ENV}={text!r}: expected a positive number of minutes")
    return _dt.timedelta(minutes=minutes)


class _RankFormatter(logging.Formatter):
    def __init__(self, prefix: str, inner: logging.Formatter | None) -> None:
        super().__init__()
        self.prefix = prefix
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        return self.prefix + self.inner.format(record)


@contextmanager
def _rank_prefixed_logs(launch: Launch) -> Iterator[None]:
    handlers = list(logging.getLogger().handlers)
    saved = [handler.formatter for handler in handlers]
    prefix = f"[rank {launch.rank}/{launch.world_size}] "
    for handler in handlers:
        handler.setFormatter(_RankFormatter(prefix, handler.formatter))
    try:
        yield
    finally:
        for handler, formatter in zip(handlers, saved, strict=True):
            handler.setFormatter(formatter)


@contextmanager
def process_group(device: str) -> Iterator[TorchCommunicator]:
    """Join the group the launcher describes (``env://``: ``MASTER_ADDR``, ``MASTER_PORT``), yield its
    communicator, leave the group at the end."""
    launch = launch_from_environment(os.environ)
    backend = "nccl" if device.startswith("cuda") else "gloo"
    rank_device(device, launch.local_rank)  # reject cuda:N before joining
    timeout = timeout_from_environment(os.environ)
    if backend == "nccl":
        if not torch.cuda.is_available() or torch.cuda.device_count() <= launch.local_rank:
            raise ConfigError(
                f"--distributed --device cuda: local rank {launch.local_rank} has no GPU "
                f"({torch.cuda.device_count()} visible); start at most one process per GPU"
            )
        torch.cuda.set_device(launch.local_rank)
    dist.init_process_group(
        backend, init_method="env://", rank=launch.rank, world_size=launch.world_size, timeout=timeout
    )
    try:
        objects = dist.new_group(backend="gloo", timeout=timeout) if backend == "nccl" else None
        with _rank_prefixed_logs(launch):
            yield TorchCommunicator(launch, backend, objects)
    finally:
        dist.destroy_process_group()
