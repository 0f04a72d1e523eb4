"""``bilayer-bench report RUN_DIR... --out DIR``: render a report folder from run records (no model is run)."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_parser", "run"]

EXAMPLES = """\
examples:
  bilayer-bench report bench-runs/20261122-101500-default --out reports/default
  bilayer-bench report RUN_A RUN_B --out reports/compare        # merged: every row names its run
  bilayer-bench report RUN_DIR latency-runs/cpu --out DIR       # a latency record given as its own folder
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "report",
        help="render tables, figures and a paper-style report from run directories",
        description="Render a report folder (report.html, report.md, tables/, figures/, videos/, records/) from run "
        "directories of `bilayer-bench run` and latency records of `bilayer-bench latency`. No model is run.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "runs", nargs="+", type=Path, metavar="RUN_DIR", help="run directories, or folders holding a latency.json"
    )
    parser.add_argument("--out", type=Path, required=True, help="report folder to write (created if needed)")
    parser.add_argument("--title", default="", help="report title (default: from the runs' config names)")
    parser.add_argument(
        "--frames", type=int, default=3, help="frames per qualitative grid: best, median, worst (default 3)"
    )
    parser.add_argument(
        "--grid-metric",
        default=None,
        metavar="METRIC",
        help="frame metric that ranks the qualitative grids' rows (default: the first of lpips.vgg.v0.1, "
        "lpips.alex.v0.1, ssim, psnr, l1 that the run computed)",
    )
    parser.add_argument("--no-published", action="store_true", help="leave out the figures reported in the papers")
    parser.add_argument(
        "--portable",
        action="store_true",
        help="write machine paths in pages and tables as $SITE_PACKAGES, bench-runs, ~ (for a committed report)",
    )


def run(args: argparse.Namespace) -> int:
    from bench.errors import ConfigError
    from bench.report import build_report, load_inputs, write_report

    if args.frames < 1:
        raise ConfigError(f"--frames must be >= 1, got {args.frames}")
    if args.grid_metric:
        from bench.metrics import METRICS

        if args.grid_metric not in METRICS:
            raise ConfigError(
                f"--grid-metric {args.grid_metric!r} is not a registered metric; name one of the run's, e.g. ssim"
            )
    inputs = load_inputs(args.runs)
    report = build_report(
        inputs, title=args.title, published=not args.no_published, max_frames=args.frames, metric=args.grid_metric
    )
    written = write_report(report, args.out, portable=args.portable)
    for notice in report.notices:
        print(f"note: {notice}")
    print(f"wrote {len(written)} files; open {args.out / 'report.html'} (or {args.out / 'report.md'})")
    return 0
