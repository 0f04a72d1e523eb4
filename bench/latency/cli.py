"""``bilayer-bench latency``: per-stage latency, FLOPs, memory and parameters of models, with a calibration.

Wired into ``bench/cli.py`` through its ``EXTENSIONS`` table; imports stay light until the command runs.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import sys
from pathlib import Path

from bench.errors import DataError
from bench.latency.config import (
    CALIBRATION_POLICY,
    DEFAULT_MODELS,
    DTYPES,
    FRAME_POLICY,
    PREPARE_POLICY,
    ROUNDS,
    LatencyConfig,
    StagePolicy,
)

__all__ = ["add_parser", "config_from_args", "output_folder", "run"]

EXAMPLES = f"""\
examples:
  bilayer-bench latency                       # {", ".join(DEFAULT_MODELS)} on the CPU, float32
  bilayer-bench latency bilayer.paper --threads 2 --batch 4
  bilayer-bench latency fomm.vox256 --device cuda --dtype float16 --compile
  bilayer-bench latency --run-dir bench-runs/20261122-101500-default   # join an evaluation run's record
  bilayer-bench latency --agree bench-runs/latency-A bench-runs/latency-B   # do two runs agree? (no measuring)

Stages: prepare (per avatar), animate (per frame: call time / batch), end_to_end (per frame: driver landmark
extraction + animate for models that need landmarks; for the others the same samples as animate, said so).
Writes DIR/latency.json and DIR/latency_samples.csv (default DIR: bench-runs/latency-DATE-TIME).
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "latency",
        help="time prepare/animate/end-to-end of models, with FLOPs, memory and a matmul calibration",
        description="Per-stage latency and cost of models on real frames of the data set, with explicit accounting.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    default = " ".join(DEFAULT_MODELS)
    p.add_argument("models", nargs="*", metavar="MODEL", help=f"registered models (default: {default})")
    p.add_argument("--device", default="cpu", help="cpu or cuda (cuda:N)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's default; recorded)")
    p.add_argument("--resolution", type=int, default=256, help="frame size in pixels (frames resized; default 256)")
    p.add_argument("--dtype", choices=DTYPES, default="float32", help="float32, or autocast to float16/bfloat16")
    p.add_argument("--batch", type=int, default=1, help="driver frames per animate call (per-frame = call / batch)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model's animate callable")
    p.add_argument("--random-weights", action="store_true", help="random weights even where real files exist")
    p.add_argument("--weights-dir", default="", help="folder with the real weight files")
    p.add_argument("--accept-hash-mismatch", action="store_true", help="use weight files whose sha256 differs")
    p.add_argument(
        "--landmarks",
        choices=["auto", "dlib", "fan"],
        default="auto",
        help="driver landmark extractor of end_to_end (auto: FAN if its weights resolve, else dlib)",
    )
    p.add_argument("--data", default="", help="bi-layer layout data root (default: the embedded default data set)")
    p.add_argument("--split", default="test", help="split folder of --data")
    p.add_argument("--seed", type=int, default=0, help="seed of random weights")
    frame = p.add_argument_group("sampling of the per-frame stages (animate, end_to_end)")
    frame.add_argument("--warmup", type=int, default=FRAME_POLICY.warmup, help="discarded calls")
    frame.add_argument("--min-runs", type=int, default=FRAME_POLICY.min_runs, help="minimum timed calls")
    frame.add_argument("--min-time", type=float, default=FRAME_POLICY.min_time_s, help="minimum timed seconds")
    frame.add_argument("--max-runs", type=int, default=FRAME_POLICY.max_runs, help="cap on timed calls")
    prep = p.add_argument_group("sampling of prepare (per avatar)")
    prep.add_argument("--prepare-warmup", type=int, default=PREPARE_POLICY.warmup, help="discarded calls")
    prep.add_argument("--prepare-min-runs", type=int, default=PREPARE_POLICY.min_runs, help="minimum timed calls")
    prep.add_argument("--prepare-min-time", type=float, default=PREPARE_POLICY.min_time_s, help="minimum seconds")
    prep.add_argument("--prepare-max-runs", type=int, default=PREPARE_POLICY.max_runs, help="cap on timed calls")
    p.add_argument(
        "--rounds",
        type=int,
        default=ROUNDS,
        help=f"interleaved rounds the samples of every stage and the calibration are spread over (default {ROUNDS})",
    )
    cal = p.add_argument_group("calibration (square matmul at the run's dtype, a chunk per round and one at the end)")
    cal.add_argument("--calibration-size", type=int, default=2048, help="matrix side (default 2048)")
    cal.add_argument("--calibration-runs", type=int, default=CALIBRATION_POLICY.min_runs, help="minimum samples, total")
    cal.add_argument(
        "--calibration-min-time", type=float, default=CALIBRATION_POLICY.min_time_s, help="minimum seconds, total"
    )
    p.add_argument(
        "--agree",
        nargs=2,
        type=Path,
        metavar=("FIRST", "SECOND"),
        help="measure nothing: compare two latency records (|median diff| <= max IQR per stage); exit 1 if any differ",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument("--out", type=Path, help="output folder (default: bench-runs/latency-DATE-TIME)")
    where.add_argument("--run-dir", type=Path, help="an existing `bilayer-bench run` directory to add latency.json to")


def config_from_args(args: argparse.Namespace) -> LatencyConfig:
    return LatencyConfig(
        models=tuple(args.models) or DEFAULT_MODELS,
        device=args.device,
        dtype=args.dtype,
        threads=args.threads,
        resolution=args.resolution,
        batch=args.batch,
        compile=args.compile,
        random_weights=args.random_weights,
        weights_dir=args.weights_dir,
        accept_hash_mismatch=args.accept_hash_mismatch,
        landmarks=args.landmarks,
        data_root=args.data,
        split=args.split,
        seed=args.seed,
        frame=StagePolicy(args.warmup, args.min_runs, args.min_time, args.max_runs),
        prepare=StagePolicy(args.prepare_warmup, args.prepare_min_runs, args.prepare_min_time, args.prepare_max_runs),
        calibration=StagePolicy(
            CALIBRATION_POLICY.warmup, args.calibration_runs, args.calibration_min_time, CALIBRATION_POLICY.max_runs
        ),
        calibration_size=args.calibration_size,
        rounds=args.rounds,
    )


def output_folder(out: Path | None, run_dir: Path | None) -> Path:
    """Where the record goes: ``run_dir`` (must be a run directory), ``out``, or a new dated folder."""
    if run_dir is not None:
        if not run_dir.is_dir() or not any((run_dir / name).is_file() for name in ("config.toml", "environment.json")):
            raise DataError(
                run_dir,
                "not a run directory of `bilayer-bench run` (no config.toml or environment.json)",
                "pass a folder made by `bilayer-bench run`, or use --out DIR for a folder of its own",
            )
        return run_dir
    if out is not None:
        return out
    return Path("bench-runs") / f"latency-{_dt.datetime.now().strftime('%Y%m%d-%H%M%S')}"


def agree(first: Path, second: Path) -> int:
    from bench.latency.agree import agreement, format_agreement
    from bench.latency.record import read_record

    rows, only = agreement(read_record(first), read_record(second))
    print(format_agreement(rows, only))
    return 0 if rows and all(r.agrees for r in rows) and not only else 1


def run(args: argparse.Namespace) -> int:
    if args.agree:
        if args.models:
            raise DataError(args.agree[0], "--agree compares two records and measures nothing", "drop the model names")
        return agree(*args.agree)
    from bench.latency.harness import run_latency
    from bench.latency.record import write_record
    from bench.latency.table import format_latency

    config = config_from_args(args)
    folder = output_folder(args.out, args.run_dir)
    record = run_latency(config, say=lambda text: print(text, file=sys.stderr, flush=True))
    path = write_record(record, folder)
    print(format_latency(record))
    print(f"latency record: {path} (raw samples: {folder / 'latency_samples.csv'})")
    return 1 if record.failures else 0
