"""The latency matrix of ``python -m bench.gpu``: every (dtype, compile, batch) cell timed by the latency harness.

A cell is one :func:`bench.latency.harness.run_latency` call on both models (the two are loaded, primed and
sampled in interleaved rounds, as ``bilayer-bench latency`` does), written as an ordinary latency record into
``OUT/records/DTYPE-eager|compile-bBATCH/`` (``bilayer-bench latency --agree`` compares two; ``bilayer-bench
report`` reads one beside a run directory). The
order is every eager cell, then every compiled cell; before each compiled cell dynamo's caches are reset, so that
models of an earlier cell neither use up dynamo's recompilation limit (past it, dynamo silently runs eager) nor
stay referenced.

What a CPU dry run leaves out is decided here (:func:`plan`), with the reason written beside the cell.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.latency.config import DTYPES, Dtype, LatencyConfig, StagePolicy
from bench.latency.record import LatencyRecord, StageRow, write_record

__all__ = [
    "BATCHES",
    "CPU_SAMPLING",
    "DRY_RUN_MODELS",
    "GPU_MODELS",
    "GPU_SAMPLING",
    "QUICK_SAMPLING",
    "Budget",
    "Cell",
    "CellResult",
    "MatrixSettings",
    "Planned",
    "Sampling",
    "plan",
    "run_cell",
]

GPU_MODELS: tuple[str, ...] = ("bilayer.paper", "fomm.vox256")
DRY_RUN_MODELS: tuple[str, ...] = ("bilayer.tiny", "fomm.tiny")  # same code, 64x64 networks: seconds on a CPU
BATCHES: tuple[int, ...] = (1, 8)

COMPILE_ON_CPU = (
    "torch.compile skipped on the CPU dry run: inductor's C++ compilation of the tiny models took 131 s on 2 cores "
    "(measured), far over the dry run's minute; the GPU run compiles every cell"
)
HALF_ON_CPU = (
    "{dtype} skipped by --quick on CPU: under CPU autocast bilayer.tiny fails ('expected scalar type ... but found "
    "Float', recorded by the harness) while fomm.tiny runs; a CPU run without --quick runs the cell"
)


@dataclass(frozen=True)
class Cell:
    dtype: Dtype
    compile: bool
    batch: int

    @property
    def key(self) -> str:
        """The record folder's name, e.g. ``float16-compile-b8``."""
        return f"{self.dtype}-{'compile' if self.compile else 'eager'}-b{self.batch}"

    @property
    def kind(self) -> str:
        return "compile" if self.compile else "eager"


@dataclass(frozen=True)
class Planned:
    cell: Cell
    skip: str = ""  # why the cell is not run on this device ("": it runs)


@dataclass(frozen=True)
class Sampling:
    """How long each cell samples (totals over ``rounds``; see :mod:`bench.latency.config`)."""

    prepare: StagePolicy
    frame: StagePolicy
    calibration: StagePolicy
    calibration_size: int
    rounds: int
    resolution: int
    name: str

    def label(self) -> str:
        f, p = self.frame, self.prepare
        return (
            f"{self.name} sampling of `python -m bench.gpu`: per frame stage {f.warmup} warm-up calls, >= {f.min_runs} "
            f"timed calls and >= {f.min_time_s:g} s (at most {f.max_runs}); prepare {p.warmup} warm-up + {p.min_runs} "
            f"timed; {self.rounds} rounds; {self.calibration_size}^2 matmul calibration; `bilayer-bench latency` "
            "samples longer"
        )


# a data-centre GPU: 12 records of both models in well under the 5 minutes, most of it compilation; 3 warm-up
# calls per frame stage, so that a compiled network's recompilations for new inputs happen before the timing
GPU_SAMPLING = Sampling(
    prepare=StagePolicy(warmup=2, min_runs=5, min_time_s=0.0, max_runs=5),
    frame=StagePolicy(warmup=3, min_runs=10, min_time_s=0.5, max_runs=300),
    calibration=StagePolicy(warmup=1, min_runs=10, min_time_s=0.2, max_runs=100),
    calibration_size=4096,
    rounds=2,
    resolution=256,
    name="short GPU",
)
CPU_SAMPLING = Sampling(  # the tiny models at their own 64x64
    prepare=StagePolicy(warmup=1, min_runs=2, min_time_s=0.0, max_runs=2),
    frame=StagePolicy(warmup=1, min_runs=4, min_time_s=0.2, max_runs=50),
    calibration=StagePolicy(warmup=1, min_runs=4, min_time_s=0.1, max_runs=20),
    calibration_size=256,
    rounds=2,
    resolution=64,
    name="CPU dry-run",
)
QUICK_SAMPLING = Sampling(
    prepare=StagePolicy(warmup=0, min_runs=1, min_time_s=0.0, max_runs=1),
    frame=StagePolicy(warmup=1, min_runs=2, min_time_s=0.0, max_runs=2),
    calibration=StagePolicy(warmup=0, min_runs=2, min_time_s=0.0, max_runs=2),
    calibration_size=64,
    rounds=1,
    resolution=64,
    name="--quick",
)


def plan(device: str, quick: bool) -> tuple[Planned, ...]:
    """Every cell in run order (eager cells first), with its reason when this device leaves it out."""
    cpu = device == "cpu"
    out = []
    for compiled in (False, True):
        for dtype in DTYPES:
            for batch in BATCHES:
                cell = Cell(dtype, compiled, batch)  # type: ignore[arg-type]  # DTYPES holds Dtype values
                skip = ""
                if cpu and compiled:
                    skip = COMPILE_ON_CPU
                elif cpu and quick and dtype != "float32":
                    skip = HALF_ON_CPU.format(dtype=dtype)
                out.append(Planned(cell, skip))
    return tuple(out)


@dataclass(frozen=True)
class MatrixSettings:
    """What every cell shares; the cell adds its dtype, compile and batch."""

    device: str
    models: tuple[str, ...]
    sampling: Sampling
    threads: int = 0
    data_root: str = ""
    weights_dir: str = ""
    random_weights: bool = False

    def latency_config(self, cell: Cell) -> LatencyConfig:
        s = self.sampling
        return LatencyConfig(
            models=self.models,
            device=self.device,
            dtype=cell.dtype,
            threads=self.threads,
            resolution=s.resolution,
            batch=cell.batch,
            compile=cell.compile,
            random_weights=self.random_weights,
            weights_dir=self.weights_dir,
            data_root=self.data_root,
            prepare=s.prepare,
            frame=s.frame,
            calibration=s.calibration,
            calibration_size=s.calibration_size,
            rounds=s.rounds,
            sampling_label=s.label(),
        )


@dataclass(frozen=True)
class CellResult:
    planned: Planned
    record: LatencyRecord | None = None
    folder: str = ""  # the record's folder relative to OUT ("" when none was written)
    seconds: float = 0.0
    not_run: str = ""  # why a cell that was planned did not run (the time budget)

    def row(self, model: str, stage: str) -> StageRow | None:
        if self.record is None:
            return None
        return next((r for r in self.record.stages if (r.model, r.stage) == (model, stage)), None)

    def status(self, model: str) -> str:
        """``ok``, ``failed: ERROR``, ``skipped: WHY`` or ``not run: WHY`` for ``model`` in this cell."""
        if self.planned.skip:
            return f"skipped: {self.planned.skip}"
        if self.not_run:
            return f"not run: {self.not_run}"
        assert self.record is not None  # a cell that ran has its record
        failure = next((f["error"] for f in self.record.failures if f["model"] == model), None)
        if failure is not None:
            return f"failed: {failure}"
        return "ok" if self.row(model, "animate") is not None else "failed: no animate row in the record"


@dataclass
class Budget:
    """Wall-clock budget of a whole run (0: none). A step starts only while the time left exceeds the longest step
    of its kind so far (a first step of a kind starts while any time is left)."""

    seconds: float
    start: float = field(default_factory=time.perf_counter)
    longest: dict[str, float] = field(default_factory=dict)

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def allows(self, kind: str) -> bool:
        return not self.seconds or self.seconds - self.elapsed() > self.longest.get(kind, 0.0)

    def spent(self, kind: str, seconds: float) -> None:
        self.longest[kind] = max(self.longest.get(kind, 0.0), seconds)


def _release(device: str) -> None:
    """Between cells: nothing of the last one stays in memory or in dynamo's caches."""
    import torch

    gc.collect()
    torch._dynamo.reset()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()


def run_cell(
    planned: Planned, settings: MatrixSettings, out: Path, budget: Budget, say: Callable[[str], None]
) -> CellResult:
    """Run one cell into ``out/records/KEY/`` unless the plan skips it or the budget is spent."""
    if planned.skip:
        return CellResult(planned)
    cell = planned.cell
    if not budget.allows(cell.kind):
        spent = f"the time budget (--budget {budget.seconds:g} s) was spent after {budget.elapsed():.0f} s"
        return CellResult(planned, not_run=spent)
    from bench.latency.harness import run_latency

    say(f"cell {cell.key}: {', '.join(settings.models)} on {settings.device}")
    start = time.perf_counter()
    _release(settings.device)
    record = run_latency(settings.latency_config(cell), say=say)
    folder = Path("records") / cell.key
    write_record(record, out / folder)
    seconds = time.perf_counter() - start
    budget.spent(cell.kind, seconds)
    return CellResult(planned, record, folder.as_posix(), seconds)
