"""Sharded evaluation on torch.distributed: ``torchrun --nproc_per_node N -m bench run --distributed ...``.

Design (the run record is the same contract as a single-process run, see :mod:`bench.records`):

* **Launch.** torchrun sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``; under
  SLURM without torchrun, ``SLURM_PROCID``, ``SLURM_NTASKS`` and ``SLURM_LOCALID`` are used instead (the batch
  script exports ``MASTER_ADDR`` and ``MASTER_PORT``). Backend: gloo for ``--device cpu``, nccl for ``--device
  cuda``, where each rank uses ``cuda:LOCAL_RANK``; object collectives go through a gloo group in both cases.
  Every collective has the process group's timeout (``BILAYER_BENCH_DIST_TIMEOUT`` minutes, default 30).
* **Sharding.** Jobs (one source animated by one sequence of drivers), never frames, are dealt out by a rule
  that does not depend on timing: largest job first (driving frames; ties by job order) to the rank with the
  fewest frames so far (ties: the lowest rank). Every rank builds the same job list, checked by a digest of the
  config and the job ids. Rank 0 creates the run directory and tells the others its path; ``--resume`` works,
  even with another number of processes, because the resume state is one part file per (model, job).
* **Records.** Each rank writes the part files and FID feature arrays of its jobs into the shared run directory
  (on a file system every node sees, for multi-node runs). At the end the per-frame records of every rank are
  gathered on rank 0 (``gather_object``), and the metric states are reduced with ``all_reduce``: per (model,
  protocol, metric) the float64 sum and count of the frame values, and per (set metric, model, protocol) the
  moment matrices of the real and generated features (count, sum, sum of outer products, float64). Rank 0
  writes frames.csv, sequences.csv, timings.csv, failures.csv and results.json and sends the summary to all.
* **Same record as one process.** A single-process run goes through the same steps with a world of one
  (:class:`SingleProcess`): the frame metric summaries come from the same per-frame rows in the same sorted order
  (identical, bit for bit), FID from the same float64 statistics (:func:`bench.metrics.fid.fid_from_statistics`),
  whose sums differ only in the order of additions (agreement to about 1e-12 relative, tested). The reduced frame
  sums and counts are checked against the gathered rows, so a lost or doubled record is an error, not a number.
  Per-frame values and features are bit for bit those of one process with the same threads per process; with
  another thread count, float32 kernels may round differently (FID moved by about 2e-8 relative on the default
  run with 2 threads instead of 1).
* **Failures.** A job whose data or model fails is recorded in its part file, as in one process. Any other
  exception in a rank's job loop is reported to every rank at the next collective, and all stop with a
  :class:`DistributedError` that names the rank. An error outside the loop (say, a weight file missing on one
  node) ends that rank, and torchrun then ends the others (under srun without torchrun: ``--kill-on-bad-exit=1``);
  a rank that hangs is stopped by the timeout.
* **Output.** Progress bars on rank 0 only; log lines are prefixed ``[rank R/N]``.

Modules: :mod:`~bench.distributed.launch` (environment, backend, process group), :mod:`~bench.distributed.comm`
(communicators, sharding), :mod:`~bench.distributed.states` (metric states and their reduction).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bench.distributed.comm import Communicator, DistributedError, SingleProcess, TorchCommunicator, shard_jobs
from bench.distributed.launch import TIMEOUT_ENV, Launch, launch_from_environment, process_group, rank_device

if TYPE_CHECKING:
    from bench.config import RunConfig
    from bench.runner import RunSummary
    from bench.weights import WeightsLocations

__all__ = [
    "TIMEOUT_ENV",
    "Communicator",
    "DistributedError",
    "Launch",
    "SingleProcess",
    "TorchCommunicator",
    "launch_from_environment",
    "process_group",
    "rank_device",
    "run_distributed",
    "shard_jobs",
]


def run_distributed(
    config: RunConfig,
    *,
    out_root: Path = Path("bench-runs"),
    resume: Path | None = None,
    locations: WeightsLocations | None = None,
    progress: bool = True,
) -> tuple[RunSummary, bool]:
    """:func:`bench.runner.run_benchmark` as one rank of the launcher's group: the run's summary (on every rank)
    and whether this process is rank 0 (the one that reports)."""
    from bench.runner import run_benchmark

    with process_group(config.device) as comm:
        result = run_benchmark(
            config, out_root=out_root, resume=resume, locations=locations, progress=progress, comm=comm
        )
        return result, comm.is_main
