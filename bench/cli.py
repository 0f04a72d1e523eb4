"""Command line: ``bilayer-bench`` (also ``python -m bench``)."""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from bench.errors import BenchError, ConfigError

if TYPE_CHECKING:
    from bench.config import RunConfig
    from bench.followup import MeasuredLatency
    from bench.runner import RunSummary

__all__ = ["build_parser", "main"]

DEFAULT_OUT = Path("bench-runs")

EXAMPLES = """\
examples:
  bilayer-bench run                                  # the main job: both models and the baselines, latency, report
  bilayer-bench run --no-latency --no-report         # the evaluation only
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
    run.add_argument(
        "--preset",
        help="a shipped configuration: bilayer-paper, fomm-paper, cross (bench/configs/NAME.toml), instead of CONFIG",
    )
    run.add_argument("--sequence-list", help="file of PERSON/VIDEO/SEQUENCE lines: evaluate exactly those")
    run.add_argument("--ref-stats", help="FID/KID reference statistics (.npz from --save-stats) to score against")
    run.add_argument("--save-stats", help="write this run's FID/KID reference statistics to this .npz file")
    run.add_argument(
        "--allow-missing-metrics",
        action="store_true",
        default=None,
        help="skip (and list) named metrics whose weight files are missing instead of refusing the run",
    )
    run.add_argument("--data", help="data root (overrides the config; default: the embedded default data set)")
    run.add_argument("--layout", choices=["bilayer", "fomm"], help="on-disk layout of --data")
    run.add_argument("--split", help="split folder, e.g. test")
    run.add_argument("--models", help="comma-separated model names (see `bilayer-bench models`)")
    run.add_argument(
        "--model-args",
        metavar="KEY=VALUE,...",
        help="keyword arguments for the factory of the run's model of yours (package.module:factory); several models "
        'of yours: [model_args."NAME"] tables in a config',
    )
    run.add_argument("--metrics", help="comma-separated metric names")
    run.add_argument(
        "--space",
        choices=["frame", "crop", "masked-crop"],
        help="where outputs and ground truth are compared, the same for every model (default: crop)",
    )
    run.add_argument(
        "--masks",
        choices=["auto", "data", "segmenter", "none"],
        help="foreground masks: auto = segs/ where present, else the segmenter (default); none = no masks at all",
    )
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
    run.add_argument("--out", type=Path, help=f"parent folder of run directories (default: {DEFAULT_OUT})")
    run.add_argument(
        "--resume",
        type=Path,
        metavar="RUN_DIR",
        help="continue an interrupted run directory with its own config.toml (no other run options)",
    )
    run.add_argument(
        "--latency",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="after the evaluation, time the run's models into RUN/latency.json ([latency] measure; default run: on)",
    )
    run.add_argument(
        "--report",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="end by writing the report folder RUN/report/ (report; default run: on)",
    )
    run.add_argument(
        "--save-outputs",
        action="store_true",
        default=None,
        help="write every generated self-reenactment frame as PNG into RUN/outputs/MODEL/, laid out like the data "
        "set (bilayer-bench score reads them)",
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    run.add_argument(
        "--distributed",
        action="store_true",
        help="one rank of a sharded run: `torchrun --nproc_per_node N -m bench run --distributed ...`",
    )


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are :class:`ConfigError`s, so that ``main`` prints them as every other error."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(f"{message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="bilayer-bench",
        description="Quality and latency benchmark for one-shot talking-head models (bi-layer, FOMM).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_run(sub)
    from bench.weights.cli import add_parser as add_weights_parser  # `weights` and `weights fetch`

    add_weights_parser(sub)
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


# `run` options that do not change what a run computes, so that --resume takes them
_RESUME_OPTIONS = frozenset({"command", "verbose", "resume", "no_progress", "distributed"})


def _split(value: str | None) -> tuple[str, ...] | None:
    return tuple(v.strip() for v in value.split(",") if v.strip()) if value else None


def _check_resume_alone(args: argparse.Namespace) -> None:
    """--resume continues a run with its own config.toml: any other run option would be silently dropped."""
    given = [
        "CONFIG" if name == "config" else "--" + name.replace("_", "-")
        for name, value in vars(args).items()
        if name not in _RESUME_OPTIONS and value is not None
    ]
    if given:
        raise ConfigError(
            f"--resume {args.resume} continues that run with its own config.toml, so {', '.join(given)} would be "
            f"ignored; drop {'it' if len(given) == 1 else 'them'}, or start a new run with them"
        )


def _run_config(args: argparse.Namespace) -> RunConfig:
    """The run's configuration: a resumed run's own, or a file / preset / the default with the flags applied."""
    from bench.config import default_config, full_sampling, load_config, load_preset, with_overrides

    if args.resume is not None:
        from bench.records import RunDirectory

        _check_resume_alone(args)
        return RunDirectory.open(args.resume).config()
    if args.preset and args.config:
        raise ConfigError(f"give a config file ({args.config}) or --preset {args.preset}, not both")
    config = default_config()
    if args.preset or args.config:
        config = load_preset(args.preset) if args.preset else load_config(args.config)
    elif args.data:  # the main job's short sample is of the embedded default data set only
        config = full_sampling(config)
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
        data__sequence_list=args.sequence_list,
        allow_missing_metrics=args.allow_missing_metrics,
        ref_stats=args.ref_stats,
        save_stats=args.save_stats,
        data__masks=args.masks,
        space__name=args.space,
        latency__measure=args.latency,
        report=args.report,
        save_outputs=args.save_outputs,
    )
    return _with_model_args(config, args.model_args)


def _with_model_args(config: RunConfig, text: str | None) -> RunConfig:
    """``--model-args`` for the one model of the user's among the run's models."""
    from dataclasses import replace

    from bench.config import parse_model_args
    from bench.models import MODELS

    if text is None:
        return config
    parsed = parse_model_args(text)
    users = [name for name in config.models if MODELS.get(name).is_users]
    if len(users) != 1:
        found = f"{len(users)} ({', '.join(users)})" if users else "none"
        raise ConfigError(
            f"--model-args goes to the factory of the run's one model of yours (package.module:factory), and the run "
            f"has {found}; for several, write [model_args.\"NAME\"] tables in a config file"
        )
    merged = {**config.model_args, users[0]: {**config.model_args.get(users[0], {}), **parsed}}
    return replace(config, model_args=merged)


def _cmd_run(args: argparse.Namespace) -> int:
    from bench.runner import run_benchmark

    config = _run_config(args)
    if args.distributed:
        from bench.distributed import run_distributed

        result, main = run_distributed(
            config, out_root=args.out or DEFAULT_OUT, resume=args.resume, progress=not args.no_progress
        )
        if not main:  # rank 0 reports
            return 0 if result.failures.empty else 1
    else:
        result = run_benchmark(
            config, out_root=args.out or DEFAULT_OUT, resume=args.resume, progress=not args.no_progress
        )
    latency = None
    if config.latency.measure:  # before the table, whose latency columns it fills
        from bench.followup import measure_latency

        print("measuring latency of the run's models (short settings) ...", file=sys.stderr, flush=True)
        latency = measure_latency(config, result.run_dir, say=lambda text: print(text, file=sys.stderr, flush=True))
    return print_run_result(result, latency, with_report=config.report)


def print_run_result(
    result: RunSummary, latency: MeasuredLatency | None = None, *, with_report: bool = False, again: str = ""
) -> int:
    """What a run prints at its end (also ``score``): tables, warnings, the report's and the run's paths, the
    failed jobs; exit 1 when some job failed."""
    from bench.table import format_differences, format_summary

    print(format_summary(result.summary, result.counts, result.caption, latency.columns if latency else None))
    if result.differences is not None and not result.differences.empty:
        print(format_differences(result.differences))
    if result.costs is not None and not result.costs.empty:
        from bench.costs import format_costs

        print(format_costs(result.costs))
    for warning in result.warnings:
        print(f"warning: {warning}")
    for skipped in result.skipped_metrics:
        print(f"skipped metric {skipped['name']}: {skipped['reason']}")
    _say_random_weights(result.weights_labels)
    if latency is not None:
        print(latency.text)
        print(f"latency record: {result.run_dir / 'latency.json'}")
    if with_report:
        from bench.followup import write_run_report

        print(f"report: {write_run_report(result.run_dir)} (and report.md, tables/, figures/, videos/ beside it)")
    print(f"run directory: {result.run_dir}")
    if not result.failures.empty:
        print(
            f"{len(result.failures)} job(s) failed (details in {result.run_dir / 'failures.csv'}):",
            file=sys.stderr,
        )
        for row in result.failures.itertuples():
            print(f"  {row.model} {row.job}: {row.error}", file=sys.stderr)
        again = again or f"continue with: bilayer-bench run --resume {result.run_dir}"
        print(f"fix them and {again}", file=sys.stderr)
        return 1
    return 0


def _say_random_weights(labels: dict[str, str]) -> None:
    random = [model for model, label in labels.items() if label == "random"]
    if random:
        print(
            f"note: {', '.join(random)} ran with RANDOM WEIGHTS (real files not found, or --random-weights): their "
            "quality numbers say nothing about the methods; real weights: `bilayer-bench weights fetch` downloads "
            "the files that have a public URL, `bilayer-bench weights` lists every file, where it is looked for and "
            "where it comes from (--weights-dir DIR or $BILAYER_BENCH_WEIGHTS)."
        )


def _cmd_weights(args: argparse.Namespace) -> int:
    from bench.weights.cli import run  # the listing and `weights fetch`

    return run(args)


def _cmd_models(args: argparse.Namespace) -> int:
    from bench.models import MODELS
    from bench.plugins import MODEL_GROUP, installed

    plugins = installed(MODEL_GROUP)
    for name in [*MODELS, *(p.name for p in plugins if p.name not in MODELS)]:
        spec = MODELS.get(name)
        needs = "random weights by design" if spec.always_random else ", ".join(spec.weights) or "no weights"
        print(f"{name:26s} {spec.description} ({needs}){f' [{spec.origin}]' if spec.is_users else ''}")
    print("a model of yours: --models package.module:factory (README: Evaluate your own model)")
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
    "score": "bench.score_cli",
}
"""Commands that live in their own package, next to what they drive."""

COMMANDS = {
    "run": _cmd_run,
    "weights": _cmd_weights,
    "models": _cmd_models,
    "data": _cmd_data,
    "conformance": _cmd_conformance,
}


def _error_line(message: str) -> None:
    """The one place a user-facing error is printed: one line on stderr (``main`` then returns 2)."""
    text = " ".join(line.strip() for line in message.splitlines() if line.strip())
    print(f"bilayer-bench: error: {text}", file=sys.stderr)


def _disk_full(error: OSError) -> str:
    written = Path(error.filename) if error.filename else None
    run = next((p for p in (written.parents if written else ()) if (p / "config.toml").is_file()), None)
    again = f"bilayer-bench run --resume {run}" if run is not None else "the same command (or --resume RUN_DIR)"
    where = f" writing {written}" if written else ""
    return f"disk full{where} ({error.strerror}); what finished is kept: free space, then continue with {again}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command; a :class:`~bench.errors.BenchError` (and a full disk) is one line on stderr and exit 2."""
    try:
        args = build_parser().parse_args(argv)
        logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
        if args.command in EXTENSIONS:
            return importlib.import_module(EXTENSIONS[args.command]).run(args)
        return COMMANDS[args.command](args)
    except BenchError as error:
        _error_line(str(error))
        return 2
    except OSError as error:
        if error.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        _error_line(_disk_full(error))
        return 2
    except KeyboardInterrupt:
        print(
            "bilayer-bench: interrupted; finished jobs are kept, continue with --resume RUN_DIR",
            file=sys.stderr,
        )
        return 130
