"""The HTML report renders in headless Chromium with every figure and no table cut (at a laptop's width and at a
narrow one), links its videos; a screenshot goes into the report folder.

Opt-in (marker ``browser``) and skipped where ``/usr/bin/chromium`` is missing. With ``BILAYER_BENCH_REPORT`` set
to a report folder (the nox ``report`` session does), that report is checked; otherwise a small one is rendered.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from pathlib import Path

import pytest
from PIL import Image, ImageStat
from test_report_records import make_run, write_job_samples

from bench.report import build_report, load_inputs, write_report

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)

IN_CI = os.environ.get("CI", "").lower() == "true"  # CI installs Chromium (.ci/run): there the test never skips
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.is_file() and not IN_CI, reason="needs /usr/bin/chromium (apt-get install chromium)"
    ),
]


def _chromium(*args: str) -> subprocess.CompletedProcess[str]:
    if not CHROMIUM.is_file():
        pytest.fail(f"CI=true but {CHROMIUM} is missing: .ci/run installs Debian's chromium before the tests")
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        return subprocess.run(
            [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
            stdin=subprocess.DEVNULL,
        )


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("BILAYER_BENCH_REPORT")
    if given:
        return Path(given).resolve()
    base = tmp_path_factory.mktemp("browser")
    run = make_run(base / "data", base / "runs", models=("copy-source", "oracle", "fomm.tiny"))
    write_job_samples(run, size=32, first_job_only=True)  # the per-job layout, as the runner saves it
    write_report(build_report(load_inputs([run])), base / "report")
    return base / "report"


def test_every_figure_renders(report_dir: Path) -> None:
    page = report_dir / "report.html"
    expected = len(re.findall(r"<img\s", page.read_text(encoding="utf-8")))
    assert expected > 0
    result = _chromium("--virtual-time-budget=5000", "--dump-dom", page.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    found = re.search(r'data-figures-ok="(\d+)/(\d+)"', result.stdout)
    assert found is not None, "the page's load script did not run: " + result.stdout[:500]
    assert (int(found.group(1)), int(found.group(2))) == (expected, expected)
    assert 'id="provenance-block"' in result.stdout


@pytest.mark.parametrize("width", [1280, 560])
def test_no_table_is_cut(report_dir: Path, width: int) -> None:
    page = report_dir / "report.html"
    tables = len(re.findall(r"<table\s", page.read_text(encoding="utf-8")))
    assert tables > 0
    result = _chromium(f"--window-size={width},1200", "--virtual-time-budget=5000", "--dump-dom", page.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    found = re.search(r'data-tables-ok="(\d+)/(\d+)"', result.stdout)
    assert found is not None, "the page's load script did not run: " + result.stdout[:500]
    assert (int(found.group(1)), int(found.group(2))) == (tables, tables), f"tables cut at {width} px"


def test_videos_are_linked_and_present(report_dir: Path) -> None:
    links = re.findall(r'href="(videos/[^"]+\.mp4)"', (report_dir / "report.html").read_text(encoding="utf-8"))
    if not os.environ.get("BILAYER_BENCH_REPORT"):
        assert links, "the fixture's run saved every model's frames of its first self job: a video is expected"
    for link in links:
        assert (report_dir / link).is_file() and (report_dir / link).stat().st_size > 0, link
        assert link in (report_dir / "report.md").read_text(encoding="utf-8")


def test_screenshot_is_saved_and_not_blank(report_dir: Path) -> None:
    shot = report_dir / "screenshot.png"
    shot.unlink(missing_ok=True)
    result = _chromium(f"--screenshot={shot}", "--window-size=1280,2000", (report_dir / "report.html").as_uri())
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
    with Image.open(shot) as image:
        assert image.size == (1280, 2000)
        gray = image.convert("L")
        assert ImageStat.Stat(gray).stddev[0] > 10  # text, tables and figures, not an empty page
        assert len(gray.getcolors(256) or ()) > 20
