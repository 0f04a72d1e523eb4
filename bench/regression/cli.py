"""``bilayer-bench regression``: rerun the regression configuration and compare with the committed reference.

Exit 0 when every value is within tolerance, 1 with a table of what moved (metric, model, protocol, reference,
now, difference, tolerance), 2 on a usage error. ``--update`` rewrites the reference from a fresh run (commit it
with the change that moved the numbers, and say why).
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_parser", "run"]

EXAMPLES = """\
examples:
  bilayer-bench regression                                   # quality: rerun and compare (deterministic on CPU)
  bilayer-bench regression --latency latency-runs/now        # also latency, in calibrated work units
  bilayer-bench regression --update --latency latency-runs/now   # record a new reference (then commit it)
  bilayer-bench regression --update --skip-quality --latency DIR  # rewrite only its latency part
  bilayer-bench regression --models bilayer.tiny             # check one model's rows only
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "regression",
        help="compare a fresh run of the regression config with the committed reference",
        description="Rerun bench/configs/regression.toml and compare its summary values (and, with --latency, a "
        "latency record) with reports/regression/reference.json; exit 1 with a table of what moved.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", type=Path, help="run config (default: bench/configs/regression.toml)")
    parser.add_argument("--reference", type=Path, help="reference record (default: reports/regression/reference.json)")
    parser.add_argument("--out", type=Path, default=Path("bench-runs"), help="parent folder of the fresh run")
    parser.add_argument("--models", help="comma-separated: compare only these models (not with --update)")
    parser.add_argument("--latency", type=Path, metavar="LATENCY_DIR", help="a latency record to compare too")
    parser.add_argument(
        "--skip-quality",
        action="store_true",
        help="do not rerun the config: latency only (with --update: keep quality)",
    )
    parser.add_argument("--update", action="store_true", help="rewrite the reference from fresh values")
    parser.add_argument("--atol", type=float, default=1e-6, help="quality: absolute tolerance (default 1e-6)")
    parser.add_argument("--rtol", type=float, default=1e-5, help="quality: relative tolerance (default 1e-5)")
    parser.add_argument(
        "--latency-factor", type=float, default=2.0, help="latency: allowed ratio now/reference (default 2: 0.5x-2x)"
    )
    parser.add_argument(
        "--latency-floor-ms",
        type=float,
        default=1.0,
        help="latency: stages under this median on both sides only have to stay under it (default 1 ms)",
    )


def _check_args(args: argparse.Namespace) -> tuple[str, ...] | None:
    from bench.errors import ConfigError

    models = tuple(m.strip() for m in args.models.split(",") if m.strip()) if args.models else None
    if args.update and models:
        raise ConfigError("--update records every model of the config: drop --models")
    if args.skip_quality and args.latency is None:
        raise ConfigError("--skip-quality leaves nothing to compare: add --latency LATENCY_DIR")
    if args.latency_factor <= 1.0 or min(args.atol, args.rtol, args.latency_floor_ms) < 0:
        raise ConfigError("tolerances: --latency-factor must be > 1; --atol, --rtol and --latency-floor-ms >= 0")
    return models


def _update(args: argparse.Namespace, reference_path: Path) -> int:
    from bench.environment import collect_environment, utc_now
    from bench.errors import BenchError
    from bench.regression.measure import find_latency_record, latency_values, measure_quality, regression_config
    from bench.regression.reference import ReferenceRecord, read_reference, write_reference

    config = regression_config(args.config)
    old = read_reference(reference_path) if reference_path.is_file() else None
    if args.skip_quality:  # only the latency part is rewritten
        if old is None:
            raise BenchError(f"{reference_path} does not exist yet: run --update without --skip-quality first")
        quality, manifest, where = old.quality, old.data_manifest_sha256, "kept from the previous reference"
    else:
        fresh = measure_quality(config, args.out)
        if fresh.status != "complete":
            raise BenchError(f"the regression run {fresh.run_dir} is {fresh.status}; fix its failures before --update")
        quality, manifest, where = fresh.values, fresh.data_manifest_sha256, f"run {fresh.run_dir}"
    latency, calibration, settings = (), {}, {}
    if args.latency is not None:
        record = find_latency_record(args.latency)
        latency, calibration, settings = tuple(latency_values(record)), record.calibration, record.settings
    elif old is not None:  # keep the latency part of the previous reference
        latency, calibration, settings = old.latency, old.calibration, old.latency_settings
    environment = collect_environment(config.device)
    write_reference(
        reference_path,
        ReferenceRecord(
            config_name=config.name,
            quality=tuple(quality),
            latency=tuple(latency),
            calibration=calibration,
            latency_settings=settings,
            data_manifest_sha256=manifest,
            environment={k: environment[k] for k in ("cpu", "torch_threads", "versions", "git")},
            created=utc_now(),
        ),
    )
    print(
        f"wrote {reference_path}: {len(quality)} quality values ({where}), {len(latency)} latency values; "
        "commit it with the change that moved the numbers"
    )
    return 0


def run(args: argparse.Namespace) -> int:
    from bench.regression.compare import (
        Drift,
        LatencyTolerance,
        QualityTolerance,
        compare_latency,
        compare_quality,
        compare_settings,
        format_drifts,
    )
    from bench.regression.measure import find_latency_record, latency_values, measure_quality, regression_config
    from bench.regression.reference import default_reference_path, read_reference

    models = _check_args(args)
    reference_path = args.reference or default_reference_path()
    if args.update:
        return _update(args, reference_path)
    reference = read_reference(reference_path)
    drifts: list[Drift] = []
    compared = 0
    if not args.skip_quality:
        fresh = measure_quality(regression_config(args.config), args.out, models=models)
        print(f"regression run: {fresh.run_dir} ({fresh.status})")
        if reference.data_manifest_sha256 and fresh.data_manifest_sha256 != reference.data_manifest_sha256:
            drifts.append(
                Drift(
                    "data manifest sha256",
                    "-",
                    "-",
                    str(reference.data_manifest_sha256)[:12],
                    str(fresh.data_manifest_sha256)[:12],
                    "changed",
                    "same data",
                )
            )
        tolerance = QualityTolerance(atol=args.atol, rtol=args.rtol)
        drifts += compare_quality(reference.quality, fresh.values, tolerance, models=models)
        compared += len(fresh.values)
    if args.latency is not None:
        if not reference.latency:
            print(
                f"note: {reference_path} has no latency entries; record them with "
                f"`bilayer-bench regression --update --skip-quality --latency {args.latency}`"
            )
        else:
            record = find_latency_record(args.latency)
            now = latency_values(record)
            drifts += compare_settings(reference.latency_settings, record.settings)
            drifts += compare_latency(
                reference.latency,
                now,
                LatencyTolerance(args.latency_factor, args.latency_floor_ms / 1e3),
                models=models,
            )
            compared += len(now)
    if drifts:
        print(f"REGRESSION: {len(drifts)} value(s) moved against {reference_path}:")
        print(format_drifts(drifts))
        print("if the change is intended, rerun with --update and commit the new reference")
        return 1
    print(f"regression check passed: {compared} value(s) within tolerance of {reference_path}")
    return 0
