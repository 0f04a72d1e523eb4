"""The default evaluation run of ``python -m bench.gpu``, on the matrix's device, into ``OUT/default/``.

On CUDA it is the main job as ``bilayer-bench run --device cuda`` runs it: ``bench/configs/default.toml`` (copy-source,
oracle, bilayer.paper, fomm.vox256, every metric whose weights are present or shipped) with its follow-ups, the
latency of its models (short settings, float32, batch 1) into ``RUN/latency.json`` and its report into
``RUN/report/``. On the CPU dry run the tiny models stand in for the two mission models. ``--quick`` shortens it to
what a test needs: metrics l1, psnr and ssim, 2 sequences with 2 driving frames each, one saved frame per protocol,
and neither follow-up (the matrix has measured latency already; the report takes seconds), which ``OUT/README.md``
says.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.config import RunConfig, default_config, with_overrides
from bench.gpu.matrix import Budget

__all__ = ["DefaultRun", "default_run_config", "run_default"]

DRY_RUN_SWAP = {"bilayer.paper": "bilayer.tiny", "fomm.vox256": "fomm.tiny"}
QUICK_METRICS = ("l1", "psnr", "ssim")
QUICK_SAMPLE = {  # --quick: 2 sequences, 2 driving frames each, one saved frame of the first job of each protocol
    "data__max_sequences": 2,
    "protocol__max_drivers": 2,
    "sample_jobs": "first",
    "samples_per_job": 1,
}
SUMMARY_FILE = "summary.txt"


@dataclass(frozen=True)
class DefaultRun:
    config: RunConfig
    run_dir: str = ""  # relative to OUT ("" when it did not run)
    status: str = ""  # the run's status (complete, ...), or why it did not run
    seconds: float = 0.0
    failed_jobs: int = 0

    @property
    def ran(self) -> bool:
        return bool(self.run_dir)

    @property
    def broken(self) -> bool:
        """It ran, or tried to, and did not complete every job."""
        return not self.status.startswith("not run") and (self.status != "complete" or self.failed_jobs > 0)

    def followups(self) -> str:
        done = [
            *(["latency of its models (RUN/latency.json)"] if self.config.latency.measure else []),
            *(["its report (RUN/report/)"] if self.config.report else []),
        ]
        if done:
            return " and ".join(done)
        return "--quick: 2 sequences x 2 driving frames, l1/psnr/ssim, no follow-ups (no latency, no report)"


def default_run_config(
    device: str,
    *,
    quick: bool,
    threads: int = 0,
    data_root: str = "",
    weights_dir: str = "",
    random_weights: bool = False,
) -> RunConfig:
    """The embedded default configuration on ``device`` (see the module docstring for the dry run's changes);
    ``threads`` 0 keeps the configuration's."""
    config = default_config()
    changes: dict[str, object] = {"device": device, "weights_dir": weights_dir or None, "threads": threads or None}
    if random_weights:
        changes["random_weights"] = True
    if data_root:
        changes["data__root"] = data_root
    if device == "cpu":
        changes["models"] = tuple(DRY_RUN_SWAP.get(name, name) for name in config.models)
    if quick:
        changes |= {"metrics": QUICK_METRICS, "latency__measure": False, "report": False, **QUICK_SAMPLE}
    return with_overrides(config, **changes)


def run_default(config: RunConfig, out: Path, budget: Budget, say: Callable[[str], None]) -> DefaultRun:
    """Run ``config`` under ``out/default/`` (then its follow-ups), unless the budget is spent."""
    if not budget.allows("default"):
        return DefaultRun(config, status=f"not run: the time budget (--budget {budget.seconds:g} s) was spent")
    import torch

    from bench.followup import measure_latency, write_run_report
    from bench.runner import run_benchmark
    from bench.table import format_summary

    say(f"default run: {', '.join(config.models)} on {config.device}")
    start, threads = time.perf_counter(), torch.get_num_threads()
    try:
        result = run_benchmark(config, out_root=out / "default", progress=False)
    except Exception as error:  # said in the folder's README; the matrix's records, table and figure are still written
        say(f"default run: FAILED ({type(error).__name__}: {error})")
        return DefaultRun(
            config, status=f"failed: {type(error).__name__}: {error}", seconds=time.perf_counter() - start
        )
    finally:
        torch.set_num_threads(threads)  # the run sets its config's threads; the compiled cells keep the matrix's
    latency = None
    if config.latency.measure:
        say("default run: latency of its models (short settings)")
        latency = measure_latency(config, result.run_dir, say=say)
    text = format_summary(result.summary, result.counts, result.caption, latency.columns if latency else None)
    if latency is not None:
        text += "\n" + latency.text
    (out / "default" / SUMMARY_FILE).write_text(text + "\n", encoding="utf-8")
    if config.report:
        say("default run: its report")
        write_run_report(result.run_dir)
    seconds = time.perf_counter() - start
    budget.spent("default", seconds)
    return DefaultRun(config, result.run_dir.relative_to(out).as_posix(), result.status, seconds, len(result.failures))
