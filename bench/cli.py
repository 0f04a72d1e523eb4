"""Command line: ``bilayer-bench`` (also ``python -m bench``)."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from bench.errors import BenchError

__all__ = ["build_parser", "main"]

EXAMPLES = """\
examples:
  bilayer-bench run                                  # embedded default data set, sanity baselines
  bilayer-bench run my.toml --weights-dir ~/weights  # a config of yours, real weights
  bilayer-bench run --data /data/vox2 --split test --models copy-source,oracle
  bilayer-bench run --resume bench-runs/20261122-101500-default   # continue an interrupted run
  bilayer-bench weights --weights-dir ~/weights      # what is known, present and verified
  bilayer-bench data                                 # generate the embedded default data set, print its path
"""


def _add_run(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser(
        "run",
        help="evaluate models on a data set (default: the embedded default run)",
        description="Evaluate models under the configured protocols and write a run directory.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("config", nargs="?", type=Path, help="TOML run config (default: bench/configs/default.toml)")
    run.add_argument("--data", help="data root (overrides the config; default: the embedded default data set)")
    run.add_argument("--layout", choices=["bilayer", "fomm"], help="on-disk layout of --data")
    run.add_argument("--split", help="split folder, e.g. test")
    run.add_argument("--models", help="comma-separated model names (see `bilayer-bench models`)")
    run.add_argument("--metrics", help="comma-separated metric names")
    run.add_argument("--max-sequences", type=int, help="evaluate only the first N sequences")
    run.add_argument("--weights-dir", help="folder with the real weight files")
    run.add_argument(
        "--random-weights",
        action="store_true",
        default=None,
        help="build models with random weights (results are labelled RANDOM WEIGHTS)",
    )
    run.add_argument(
        "--accept-hash-mismatch",
        action="store_true",
        default=None,
        help="use weight files whose sha256 differs from the release (fine-tuned); labelled unverified",
    )
    run.add_argument("--threads", type=int, help="torch CPU threads")
    run.add_argument("--device", help="cpu or cuda")
    run.add_argument("--batch-size", type=int, help="frames per animate call")
    run.add_argument("--out", type=Path, default=Path("bench-runs"), help="parent folder of run directories")
    run.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue an interrupted run directory")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    run.add_argument(
        "--distributed",
        action="store_true",
        help="one rank of a sharded run: `torchrun --nproc_per_node N -m bench run --distributed ...`",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bilayer-bench",
        description="Quality and latency benchmark for one-shot talking-head models (bi-layer, FOMM).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_run(sub)
    weights = sub.add_parser("weights", help="list known weight files: where looked for, present, verified")
    weights.add_argument("--weights-dir", help="folder with the real weight files")
    weights.add_argument("--no-verify", action="store_true", help="do not hash the files found")
    sub.add_parser("models", help="list registered models")
    conformance = sub.add_parser(
        "conformance",
        help="check a model against golden data of the original code",
        description="Load CASE_DIR's checkpoint through the public loading API, run its inputs, compare every "
        "array of the case we produce, print the max error per array; exit 1 if any is over tolerance.",
    )
    conformance.add_argument("model", choices=["bilayer", "fomm"], help="which model family")
    conformance.add_argument("case_dir", type=Path, help="a case folder in the format of shared/conformance/*/")
    sub.add_parser("data", help="generate the embedded default data set if needed and print its root")
    for module in EXTENSIONS.values():
        importlib.import_module(module).add_parser(sub)
    return parser


def _split(value: str | None) -> tuple[str, ...] | None:
    return tuple(v.strip() for v in value.split(",") if v.strip()) if value else None


def _cmd_run(args: argparse.Namespace) -> int:
    from bench.config import default_config, load_config, with_overrides
    from bench.runner import run_benchmark
    from bench.table import format_summary

    if args.resume is not None:
        from bench.records import RunDirectory

        config = RunDirectory.open(args.resume).config()
    else:
        config = load_config(args.config) if args.config else default_config()
        config = with_overrides(
            config,
            models=_split(args.models),
            metrics=_split(args.metrics),
            weights_dir=args.weights_dir,
            random_weights=args.random_weights,
            accept_hash_mismatch=args.accept_hash_mismatch,
            threads=args.threads,
            device=args.device,
            batch_size=args.batch_size,
            data__root=args.data,
            data__layout=args.layout,
            data__split=args.split,
            data__max_sequences=args.max_sequences,
        )
    if args.distributed:
        from bench.distributed import run_distributed

        result, main = run_distributed(config, out_root=args.out, resume=args.resume, progress=not args.no_progress)
        if not main:  # rank 0 reports
            return 0 if result.failures.empty else 1
    else:
        result = run_benchmark(config, out_root=args.out, resume=args.resume, progress=not args.no_progress)
    print(format_summary(result.summary, result.counts))
    if result.costs is not None and not result.costs.empty:
        from bench.costs import format_costs

        print(format_costs(result.costs))
    for skipped in result.skipped_metrics:
        print(f"skipped metric {skipped['name']}: {skipped['reason']}")
    if config.random_weights:
        print("note: RANDOM WEIGHTS were used where a model needs weights; those numbers are uncalibrated.")
    print(f"run directory: {result.run_dir}")
    if not result.failures.empty:
        print(
            f"{len(result.failures)} job(s) failed (details in {result.run_dir / 'failures.csv'}):",
            file=sys.stderr,
        )
        for row in result.failures.itertuples():
            print(f"  {row.model} {row.job}: {row.error}", file=sys.stderr)
        print(f"fix them and continue with: bilayer-bench run --resume {result.run_dir}", file=sys.stderr)
        return 1
    return 0


def _cmd_weights(args: argparse.Namespace) -> int:
    from bench.weights import WEIGHTS, WeightsLocations, resolve

    where = WeightsLocations.from_environment(args.weights_dir)
    print(f"searched: explicit paths, {where.describe()}, packages that ship files")
    status_text = {
        "verified": "verified (sha256)",
        "verified-prefix": "verified (sha256 prefix)",
        "unpinned": "present, hash not pinned",
        "mismatch": "HASH MISMATCH",
        "missing": "missing",
    }
    for name in WEIGHTS:
        r = resolve(name, where, verify=not args.no_verify)
        status = status_text[r.verification] if r.present else "missing"
        if r.present and args.no_verify:
            status = "present (not hashed)"
        where_text = f"{r.path} [{r.source}]" if r.present else f"put at WEIGHTS_DIR/{r.entry.layout_path}"
        print(f"{name:28s} {status:26s} {where_text}")
        print(f"{'':28s} {r.entry.purpose}; from {r.entry.url}")
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from bench.models import MODELS

    for name in MODELS:
        spec = MODELS.get(name)
        needs = "random weights by design" if spec.always_random else ", ".join(spec.weights) or "no weights"
        print(f"{name:26s} {spec.description} ({needs})")
    return 0


def _cmd_data(args: argparse.Namespace) -> int:
    from bench.data.default import ensure_default_dataset

    print(ensure_default_dataset(progress=True))
    return 0


def _cmd_conformance(args: argparse.Namespace) -> int:
    from bench.conformance import CHECKS, format_comparisons
    from bench.errors import DataError
    from bench.registry import import_object

    if not args.case_dir.is_dir():
        raise DataError(
            args.case_dir, "conformance case folder not found", "pass a folder like shared/conformance/fomm"
        )
    rows = import_object(CHECKS.get(args.model))(args.case_dir)
    print(format_comparisons(rows))
    return 0 if all(r.passed for r in rows) else 1


EXTENSIONS: dict[str, str] = {
    # command -> module with ``add_parser(sub)`` and ``run(args) -> int`` (light imports at module level)
    "report": "bench.report.cli",
    "regression": "bench.regression.cli",
    "latency": "bench.latency.cli",
    "prepare": "bench.prepare.cli",
}
"""Commands that live in their own package, next to what they drive."""

COMMANDS = {
    "run": _cmd_run,
    "weights": _cmd_weights,
    "models": _cmd_models,
    "data": _cmd_data,
    "conformance": _cmd_conformance,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        if args.command in EXTENSIONS:
            return importlib.import_module(EXTENSIONS[args.command]).run(args)
        return COMMANDS[args.command](args)
    except BenchError as error:
        print(f"bilayer-bench: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "bilayer-bench: interrupted; finished jobs are kept, continue with --resume RUN_DIR",
            file=sys.stderr,
        )
        return 130
