"""``python -m bench.gpu``: the latency matrix and the default run on one device, into one folder.

Usage errors are one line on stderr, ``bilayer-bench: error: ...``, and exit 2, as for ``bilayer-bench``.
Exit 1 when a step that should work failed: any cell on CUDA, a float32 cell on the CPU (under CPU autocast the
bi-layer fails in float16 and bfloat16, recorded), or the default run (not complete, or failed jobs). Otherwise 0.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import math
import re
import shlex
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from bench.errors import BenchError, ConfigError

if TYPE_CHECKING:
    from bench.gpu.default_run import DefaultRun
    from bench.gpu.matrix import CellResult, MatrixSettings
    from bench.gpu.readme import RunInfo
    from bench.gpu.tables import MatrixRow

__all__ = ["build_parser", "main"]

GPU_OUT = Path("reports/gpu")
DEFAULT_BUDGET_S = 285.0  # the 5 minutes, less the writing of tables, figure and README
OWN_FOLDERS = ("records", "tables", "figures", "default")
FILES = {  # relative to OUT
    "table": "tables/latency_matrix.md",
    "csv": "tables/latency_matrix.csv",
    "figure": "figures/latency_by_configuration.png",
}
EXAMPLES = """\
examples:
  python -m bench.gpu                                  # CUDA: writes reports/gpu/ (nox -s gpu)
  python -m bench.gpu --device cuda:1 --out bench-runs/gpu-h100
  python -m bench.gpu --device cpu --quick --out bench-runs/dry  # the dry run of the tests (nox -s gpu -- --device cpu)

Matrix: bilayer.paper and fomm.vox256 x float32/float16/bfloat16 x eager/torch.compile x batch 1/8, a latency
record per (dtype, compile, batch); then the default evaluation run on the same device. --device cpu is a dry run
with the tiny models (no torch.compile; float16/bfloat16 only without --quick, where bilayer.tiny fails under CPU
autocast, recorded). Writes OUT/README.md, OUT/records/*/latency.json, OUT/tables/latency_matrix.{md,csv},
OUT/figures/latency_by_configuration.png and OUT/default/ (the run directory and summary.txt).
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise ConfigError(f"{message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m bench.gpu",
        description="Latency of bilayer.paper and fomm.vox256 in every dtype, eager and compiled, batch 1 and 8, "
        "plus the default run, on one GPU, into one folder.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--device", default="cuda", help="cuda, cuda:N, or cpu for the dry run (default cuda)")
    p.add_argument(
        "--out", type=Path, help="output folder (default: reports/gpu on CUDA, bench-runs/gpu-dry-run-DATE on the CPU)"
    )
    p.add_argument("--quick", action="store_true", help="minimal sampling (CPU dry run: also no float16/bfloat16)")
    p.add_argument(
        "--budget",
        type=float,
        default=DEFAULT_BUDGET_S,
        metavar="SECONDS",
        help=f"wall-clock budget: a step starts only while its kind's longest step so far fits in what "
        f"is left (default {DEFAULT_BUDGET_S:g}; 0: none)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch CPU threads (default: torch's in the matrix, the config's 2 in the default run)",
    )
    p.add_argument("--data", default="", help="bi-layer layout data root (default: the embedded default data set)")
    p.add_argument("--weights-dir", default="", help="folder with the real weight files")
    p.add_argument("--random-weights", action="store_true", help="random weights even where real files exist")
    return p


def _check(args: argparse.Namespace) -> None:
    import torch

    if not re.fullmatch(r"cpu|cuda(:\d+)?", args.device):
        raise ConfigError(f"--device must be cpu or cuda (cuda:N), got {args.device!r}")
    if not math.isfinite(args.budget) or args.budget < 0:
        raise ConfigError(f"--budget must be >= 0 seconds (0: none), got {args.budget:g}")
    if args.threads < 0:
        raise ConfigError(f"--threads must be >= 0 (0: torch's default), got {args.threads}")
    if args.data and not Path(args.data).is_dir():
        raise ConfigError(f"--data {args.data}: no such folder; pass a bi-layer layout data root")
    if args.weights_dir and not Path(args.weights_dir).expanduser().is_dir():
        raise ConfigError(f"--weights-dir {args.weights_dir}: no such folder; pass the folder holding the weight files")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"--device {args.device}: CUDA is not available in this torch build or machine; run it where CUDA is, "
            "or use --device cpu for the dry run"
        )


def _prepare_out(out: Path, device: str) -> None:
    """A new or empty folder, or one this tool wrote (its own subfolders are cleared; nothing else is touched)."""
    from bench.gpu.readme import DRY_RUN_TITLE, GPU_TITLE

    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: is a file; pass a folder")
    if not out.is_dir() or not any(out.iterdir()):
        out.mkdir(parents=True, exist_ok=True)
        return
    readme = out / "README.md"
    first = readme.read_text(encoding="utf-8").split("\n", 1)[0] if readme.is_file() else ""
    if first not in (GPU_TITLE, DRY_RUN_TITLE):
        raise ConfigError(f"--out {out}: not empty and not a folder of `python -m bench.gpu`; pass a new or empty one")
    if device == "cpu" and first == GPU_TITLE:
        raise ConfigError(f"--out {out}: holds a GPU run; a CPU dry run does not replace it, pass another folder")
    for name in OWN_FOLDERS:
        shutil.rmtree(out / name, ignore_errors=True)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _data(root: str, say: Callable[[str], None]) -> str:
    """What the run's frames come from; the embedded default data set is generated first when it is not cached
    (about 50 s on 2 cores), as a step of its own, so that the first cell's time does not include it."""
    if root:
        return f"{root} (--data)"
    from bench.data.default import default_dataset_root, ensure_default_dataset

    if (default_dataset_root() / "MANIFEST.json").is_file():
        return f"the embedded default data set, found in the cache ({default_dataset_root()})"
    say("generating the embedded default data set (once per machine)")
    start = time.perf_counter()
    path = ensure_default_dataset()
    return f"the embedded default data set, generated in {time.perf_counter() - start:.0f} s ({path})"


def _settings(args: argparse.Namespace) -> MatrixSettings:
    from bench.gpu import matrix

    cpu = args.device == "cpu"
    return matrix.MatrixSettings(
        device=args.device,
        models=matrix.DRY_RUN_MODELS if cpu else matrix.GPU_MODELS,
        sampling=matrix.QUICK_SAMPLING if args.quick else matrix.CPU_SAMPLING if cpu else matrix.GPU_SAMPLING,
        threads=args.threads,
        data_root=args.data,
        weights_dir=args.weights_dir,
        random_weights=args.random_weights,
    )


def _run(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from bench.environment import collect_environment, utc_now
    from bench.gpu import matrix
    from bench.gpu.default_run import default_run_config, run_default
    from bench.gpu.readme import RunInfo, device_facts
    from bench.gpu.tables import matrix_rows

    cpu = args.device == "cpu"
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = (args.out or (Path("bench-runs") / f"gpu-dry-run-{stamp}" if cpu else GPU_OUT)).resolve()
    _prepare_out(out, args.device)
    started, budget, settings = utc_now(), matrix.Budget(args.budget), _settings(args)
    data = _data(args.data, _say)
    planned = matrix.plan(args.device, args.quick)
    eager = [matrix.run_cell(p, settings, out, budget, _say) for p in planned if not p.cell.compile]
    config = default_run_config(
        args.device,
        quick=args.quick,
        data_root=args.data,
        weights_dir=args.weights_dir,
        random_weights=args.random_weights,
    )
    default = run_default(config, out, budget, _say)  # before the compiled cells: their compilation is the long part
    results = eager + [matrix.run_cell(p, settings, out, budget, _say) for p in planned if p.cell.compile]
    rows = matrix_rows(results, settings.models)
    command = shlex.join(["python", "-m", "bench.gpu", *argv])
    info = RunInfo(
        command,
        started,
        budget.elapsed(),
        args.budget,
        data,
        collect_environment(args.device),
        device_facts(args.device),
        FILES,
    )
    print(_write(out, info, settings, results, rows, default))
    print(f"GPU matrix folder: {out} (README.md, {FILES['table']}, {FILES['figure']}, records/, default/)")
    return 1 if _failed(rows, default, cpu) else 0


def _write(
    out: Path,
    info: RunInfo,
    settings: MatrixSettings,
    results: Sequence[CellResult],
    rows: Sequence[MatrixRow],
    default: DefaultRun,
) -> str:
    """The table (Markdown, CSV), the figure and the README into ``out``; returns the Markdown table."""
    from bench.atomic import atomic_write
    from bench.gpu.figure import matrix_figure
    from bench.gpu.readme import readme_text
    from bench.gpu.tables import to_csv, to_markdown

    caption = f"{settings.device}; {settings.sampling.label()}; median over the per-frame samples, IQR in brackets."
    table = to_markdown(rows, caption)
    atomic_write(out / FILES["table"], table)
    atomic_write(out / FILES["csv"], to_csv(rows))
    atomic_write(out / FILES["figure"], matrix_figure(rows, settings.models, caption).png)
    labels = list(dict.fromkeys(r.label for r in rows if r.weights)) or list(settings.models)
    atomic_write(out / "README.md", readme_text(info, settings, results, default, table, labels))
    return table


def _failed(rows: Sequence[MatrixRow], default: DefaultRun, cpu: bool) -> bool:
    """A step that should work failed (float16 and bfloat16 cells fail on the CPU by design)."""
    expected = {"float16", "bfloat16"} if cpu else set()
    broken = [r for r in rows if r.status.startswith("failed") and r.result.planned.cell.dtype not in expected]
    return bool(broken) or default.broken


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; a usage or input error is one line on stderr and exit 2."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(arguments)
        _check(args)
        return _run(args, arguments)
    except BenchError as error:
        text = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
        print(f"bilayer-bench: error: {text}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
