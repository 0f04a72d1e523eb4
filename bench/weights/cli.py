"""``bilayer-bench weights`` (what is known, where looked for, present and verified) and ``weights fetch``.

Wired into ``bench/cli.py`` (``build_parser`` calls :func:`add_parser`, ``_cmd_weights`` calls :func:`run`);
imports stay light until a command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.errors import WeightsError
from bench.weights.catalog import WEIGHTS
from bench.weights.resolve import WeightsLocations

__all__ = ["add_parser", "run"]

EXAMPLES = """\
examples:
  bilayer-bench weights --weights-dir ~/weights            # what is known, present, verified, where from
  bilayer-bench weights fetch --weights-dir ~/weights      # every file with a direct download
  bilayer-bench weights fetch fomm.vox-cpk lpips.vgg.trunk # just these (catalogue names)

fetch writes into --weights-dir, else $BILAYER_BENCH_WEIGHTS, else the torch hub cache; it resumes partial
downloads (NAME.part), tries each file's mirrors in order and verifies the sha256 where one is published. Files
without a published hash are pinned on first use: their sha256 goes into WEIGHTS_DIR/bilayer-bench.lock.json
and every later load checks it.
"""

STATUS = {
    "verified": "verified (sha256)",
    "verified-prefix": "verified (sha256 prefix)",
    "pinned-on-first-use": "pinned on first use",
    "unpinned": "present, unverified",
    "mismatch": "HASH MISMATCH",
    "missing": "missing",
}


def add_parser(sub: argparse._SubParsersAction) -> None:
    weights = sub.add_parser(
        "weights",
        help="list known weight files (present, verified, where from); `weights fetch` downloads them",
        description="List every weight file the suite knows: where it is looked for, whether it is present and "
        "verified, and where it comes from. `weights fetch` downloads them.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    weights.add_argument("--weights-dir", help="folder with the real weight files")
    weights.add_argument("--no-verify", action="store_true", help="do not hash the files found")
    actions = weights.add_subparsers(dest="weights_action", metavar="ACTION")
    fetch = actions.add_parser(
        "fetch",
        help="download catalogued files that have a direct URL, verified",
        description="Download catalogued weight files (resumable, mirrors in order) and verify them.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fetch.add_argument("names", nargs="*", metavar="NAME", help="catalogue names (default: all with a direct URL)")
    fetch.add_argument("--weights-dir", default=argparse.SUPPRESS, help="folder to download into (default: see below)")
    fetch.add_argument("--no-progress", action="store_true", help="no progress bars (off anyway when not a terminal)")


def run(args: argparse.Namespace) -> int:
    where = WeightsLocations.from_environment(args.weights_dir)
    if args.weights_action == "fetch":
        return _fetch(args, where)
    return _list(args, where)


def _list(args: argparse.Namespace, where: WeightsLocations) -> int:
    from bench.weights.load import html_page
    from bench.weights.lock import WeightsLock
    from bench.weights.resolve import resolve

    if args.weights_dir and not Path(args.weights_dir).expanduser().is_dir():  # a typo must not list all missing
        from bench.errors import ConfigError

        raise ConfigError(
            f"--weights-dir {args.weights_dir}: no such folder; pass the folder holding the weight files "
            "(`bilayer-bench weights fetch --weights-dir DIR` creates and fills one)"
        )
    print(f"searched: explicit paths, {where.describe()}, packages that ship files")
    label, folder = where.download_folder()
    print(f"`weights fetch` downloads into: {folder} [{label}]")
    for name in WEIGHTS.in_order():
        r = resolve(WEIGHTS.get(name), where, verify=not args.no_verify)
        status = STATUS[r.verification] if r.present else "missing"
        if r.present and args.no_verify:
            status = "present (not hashed)"
        if r.path is not None and html_page(r.path) is not None:
            status = "HTML PAGE, not the file"
        where_text = f"{r.path} [{r.source}]" if r.present else f"put at WEIGHTS_DIR/{r.entry.layout_path}"
        print(f"{name:28s} {status:26s} {where_text}")
        mirrors = len(r.entry.urls)
        fetchable = f"fetch: {mirrors} mirror{'s' if mirrors > 1 else ''}" if mirrors else "fetch: no direct download"
        if not mirrors and r.entry.package_path:
            fetchable = f"ships in the package {r.entry.package_path.split(':')[0]}"
        print(f"{'':28s} {r.entry.purpose}; from {r.entry.url} ({fetchable})")
    for _, folder_path in where.folders():
        lock = WeightsLock.read(folder_path)
        if lock.entries:
            print(f"lock file (pinned on first use): {lock.path}: {', '.join(sorted(lock.entries))}")
    return 0


def _fetch(args: argparse.Namespace, where: WeightsLocations) -> int:
    from bench.weights.fetch import fetch_weights

    chosen = args.names or [n for n in WEIGHTS.in_order() if WEIGHTS.get(n).urls]
    entries = [WEIGHTS.get(name) for name in dict.fromkeys(chosen)]  # unknown names: "did you mean" errors
    label, folder = where.download_folder()
    if folder.exists() and not folder.is_dir():
        from bench.errors import ConfigError

        raise ConfigError(f"{folder} [{label}] is a file, not a folder; pass the folder the weight files go into")
    print(f"downloading into {folder} [{label}]")
    results = fetch_weights(entries, where, progress=not args.no_progress)
    for result in results:
        status = {"downloaded": "downloaded", "present": "present", "failed": "FAILED"}[result.status]
        check = STATUS.get(result.verification, result.verification)
        text = "(error below)" if result.status == "failed" else f"{check}: {result.path} ({result.detail})"
        print(f"{result.entry.name:28s} {status:11s} {text}")
    if not args.names:
        manual = [n for n in WEIGHTS.in_order() if not WEIGHTS.get(n).urls and not WEIGHTS.get(n).package_path]
        if manual:
            print(
                f"no direct download for {', '.join(manual)}: `bilayer-bench weights` says where each comes from "
                "and where to put it"
            )
    failed = [r.detail for r in results if r.status == "failed"]
    if len(failed) == 1:
        raise WeightsError(failed[0])
    if failed:
        raise WeightsError(f"{len(failed)} of {len(results)} files could not be fetched: {' | '.join(failed)}")
    return 0
