"""Latency and cost of the models under test: ``bilayer-bench latency``.

Per model, three stages are timed, each with an explicit statement of what it includes:

* ``prepare`` (per avatar): ``model.prepare(source)`` on one decoded source frame already on the device;
* ``animate`` (per frame): ``model.animate(state, driver)``, the per-frame work only (call time / batch);
* ``end_to_end`` (per frame): the driver's landmark extraction plus ``animate`` for models that need landmarks;
  for the others it is ``animate`` itself (the same samples, said so in the record).

Method: ``torch.inference_mode``, discarded warm-up calls, a minimum count and a minimum duration per stage, CUDA
events with synchronisation on CUDA, fixed and recorded CPU threads; median, p90, p99, IQR, min and mean with
every raw sample kept. Cost per stage: FLOPs (``torch.utils.flop_counter``: a multiply-add counts 2 FLOPs),
parameters per network, peak memory. A matmul calibration at the run's dtype makes numbers comparable across
machines as ratios (each stage's achieved fraction of the calibration rate).

Modules: :mod:`.config` (settings), :mod:`.timing` (timers, sampling, statistics), :mod:`.cost` (FLOPs,
parameters, memory), :mod:`.calibrate`, :mod:`.inputs` (real frames of the data set), :mod:`.landmarks` (driver
landmark extraction), :mod:`.stages` (what each stage runs and includes), :mod:`.harness` (the run),
:mod:`.record` (``latency.json`` and ``latency_samples.csv``), :mod:`.table` (console table),
:mod:`.published` (figures the papers report), :mod:`.cli` (the command). Importing this package does not import
torch.
"""

from __future__ import annotations

from bench.latency.config import DEFAULT_MODELS, LatencyConfig, StagePolicy

__all__ = ["DEFAULT_MODELS", "LatencyConfig", "StagePolicy"]
