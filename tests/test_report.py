"""Reports from run records: tables in a paper's layout, figures, a self-contained HTML page, provenance."""

from __future__ import annotations

import csv
import io
import json
import math
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image
from test_report_records import make_run, write_latency_record

from bench.cli import main
from bench.report import build_report, load_inputs, write_report
from bench.report.formats import format_number, to_latex, to_markdown
from bench.report.plots import pareto_front
from bench.report.published import LATENCY, published_figures
from bench.report.tables import WEIGHT_MARKS, Cell, Column, Row, mark_best


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("report")
    return make_run(base / "data", base / "runs")


@pytest.fixture(scope="module")
def report_dir(run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("out") / "report"
    write_report(build_report(load_inputs([run_dir])), out)
    return out


def _summary(run_dir: Path) -> pd.DataFrame:
    return pd.DataFrame(json.loads((run_dir / "results.json").read_text())["summary"])


def _rows(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if line.startswith("| ")]


def test_report_folder_has_every_output(report_dir: Path) -> None:
    for name in ("report.html", "report.md", "tables/published.csv"):
        assert (report_dir / name).is_file(), name
    for stem in ("quality-self", "latency"):
        for ext in ("md", "tex", "csv"):
            assert (report_dir / "tables" / f"{stem}.{ext}").stat().st_size > 0
    figures = {p.stem for p in (report_dir / "figures").glob("*.png")}
    assert figures == {
        "quality-vs-latency",
        "latency-distributions",
        "total-time",
        "sequences-self",
        "qualitative-self",
        "qualitative-cross",
    }
    for png in (report_dir / "figures").glob("*.png"):
        with Image.open(png) as image:
            assert image.width > 200 and len(image.getcolors(1 << 20) or ()) > 10  # drawn, not blank
    copied = next((report_dir / "records").iterdir())
    assert (copied / "results.json").is_file() and (copied / "frames.csv").is_file()


def test_quality_table_has_arrows_bold_best_intervals_and_marks(report_dir: Path, run_dir: Path) -> None:
    text = (report_dir / "tables" / "quality-self.md").read_text()
    header = _rows(text)[0]
    assert "L1 ↓" in header and "PSNR (dB) ↑" in header and "SSIM ↑" in header  # short names (bench.report.names)
    assert "L1 = `l1.rgb01`" in text and "PSNR (dB) = `psnr.rgb01`" in text  # the variant each one stands for
    rows = {r.split(" | ")[0].removeprefix("| "): r for r in _rows(text)[1:]}
    assert "fomm.tiny [RANDOM WEIGHTS]" in rows and "bilayer.tiny [RANDOM WEIGHTS]" in rows
    assert "**" not in rows["oracle"] and "**" not in rows["copy-source"]  # sanity baselines are not ranked
    summary = _summary(run_dir)
    for model in ("fomm.tiny", "bilayer.tiny"):  # random weights: never ranked (test_mark_best_* for bold)
        assert "**" not in rows[f"{model} [RANDOM WEIGHTS]"]
    copy = summary[(summary.model == "copy-source") & (summary.metric == "l1") & (summary.protocol == "self")].iloc[0]
    interval = f"<sub>[{format_number(copy.ci95_low, 3)}, {format_number(copy.ci95_high, 3)}]</sub>"
    assert interval in rows["copy-source"]
    assert "RANDOM WEIGHTS" in text.split("\n\n", 1)[1]  # said in the notes under the table too


def test_published_rows_come_after_a_labelled_rule_and_are_never_bold(report_dir: Path) -> None:
    rows = _rows((report_dir / "tables" / "quality-self.md").read_text())
    rule = next(i for i, r in enumerate(rows) if "reported in paper" in r and "not ranked" in r)
    published = rows[rule + 1 :]
    assert published and all("(reported in paper)" in r for r in published)
    assert all("**" not in r for r in published)
    assert not any("(reported in paper)" in r for r in rows[:rule])
    bilayer = next(r for r in published if r.startswith("| bilayer, medium"))
    assert "0.508" in bilayer  # SSIM of the bi-layer paper (Papers with Code), in the ssim column
    text = (report_dir / "tables" / "quality-self.md").read_text()
    assert "Papers with Code leaderboard (secondary)" in text and "on their data (VoxCeleb/VoxCeleb2)" in text


def test_latex_is_booktabs_with_escaped_text(report_dir: Path) -> None:
    tex = (report_dir / "tables" / "quality-self.tex").read_text()
    order = [tex.index(k) for k in (r"\begin{tabular}", r"\toprule", r"\midrule", r"\bottomrule")]
    assert order == sorted(order) and tex.rindex(r"\end{tabular}") > order[-1]  # cells nest a one-column tabular
    assert r"\hline" not in tex and tex.count(r"\begin{") == tex.count(r"\end{")
    columns = re.search(r"\\begin\{tabular\}\{(l r*)\}", tex.replace("}{l", "}{l "))
    assert columns is not None
    width = len(columns.group(1).replace(" ", ""))
    body = tex[tex.index(r"\toprule") : tex.index(r"\bottomrule")]
    for line in body.splitlines():
        if line.endswith(r"\\") and r"\multicolumn" not in line:
            assert line.count(" & ") == width - 1, line
    assert r"\multicolumn{" in body and "Reported in paper" in body
    published = body[body.index(r"\multicolumn") :]
    assert r"\textbf" not in published and r"\textbf" not in body  # the tiny models have random weights
    assert r"$\downarrow$" in tex and r"$\uparrow$" in tex and r"\scriptsize [" in tex
    assert re.search(r"(?<!\\)_", tex.replace(r"\_", "")) is None  # every underscore escaped
    assert tex.count("{") == tex.count("}")


def test_csv_is_long_format_with_published_rows_marked(report_dir: Path) -> None:
    table = pd.read_csv(report_dir / "tables" / "quality-self.csv")
    assert {"ranked", "baseline", "published"} == set(table["kind"])
    assert not table.loc[table.kind == "published", "best"].any()
    assert table.loc[table.kind == "published", "source"].str.contains("secondary").all()
    oracle = table[(table.model == "oracle") & (table.column == "psnr")].iloc[0]
    assert math.isinf(oracle.value) and oracle.kind == "baseline"
    assert (table.loc[table.kind == "ranked", "weights"] == "random").all()


def test_html_is_self_contained_and_opens_with_provenance(report_dir: Path) -> None:
    page = (report_dir / "report.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page, re.IGNORECASE)
    assert "<link" not in page and "@import" not in page and "url(" not in page
    images = re.findall(r"<img [^>]*src=\"([^\"]+)\"", page)
    assert len(images) == len(list((report_dir / "figures").glob("*.png")))
    assert all(src.startswith("data:image/png;base64,") for src in images)
    assert "data-figures-ok" in page
    provenance = page.index('id="provenance-block"')
    assert provenance < page.index("<table") and provenance < page.index("<img")
    block = page[provenance : page.index("</section>", provenance)]
    for fact in ("Data set", "Protocol", "Weights of fomm.tiny", "RANDOM WEIGHTS", "Machine", "Threads", "Device",
                 "Versions", "Git revision", "Status"):  # fmt: skip
        assert fact in block, fact


def test_markdown_links_figures_beside_it(report_dir: Path) -> None:
    text = (report_dir / "report.md").read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert links and all((report_dir / link).is_file() for link in links)
    assert text.index("## Provenance") < text.index("## Quality")
    assert "wall-clock inside the evaluation run, not a latency measurement" in text
    assert "base64" not in text


def test_latency_record_replaces_timings(run_dir: Path, tmp_path: Path) -> None:
    record = write_latency_record(tmp_path / "lat", models=("copy-source", "fomm.tiny"))
    report = build_report(load_inputs([run_dir, record]))
    assert report.latency is not None and report.latency_source == "record"
    assert [c.key for c in report.latency.columns] == ["prepare", "animate", "end_to_end"]
    fomm = next(r for r in report.latency.rows if r.model == "fomm.tiny")
    assert fomm.cells["end_to_end"].value == pytest.approx(10.0)  # 0.005 s x 2 (second model), in ms
    assert "[RANDOM WEIGHTS]" in fomm.label
    text = to_markdown(report.latency)
    assert "not a latency measurement" not in text and "latency record" in text
    assert "(reported in paper)" in text and "desktop GPU" in text
    assert {f.key for f in report.figures} >= {"quality-vs-latency", "latency-distributions"}
    inside = Path(shutil.copytree(run_dir, tmp_path / "with-latency"))
    shutil.copyfile(record / "latency.json", inside / "latency.json")
    assert build_report(load_inputs([inside]), draw=False).latency_source == "record"


def test_degrades_without_samples_timings_or_finished_jobs(run_dir: Path, tmp_path: Path) -> None:
    bare = Path(shutil.copytree(run_dir, tmp_path / "bare"))
    shutil.rmtree(bare / "samples")
    (bare / "timings.csv").unlink()
    results = json.loads((bare / "results.json").read_text())
    results["status"], results["jobs"]["ok"], results["jobs"]["failed"] = "partial", results["jobs"]["ok"] - 1, 1
    (bare / "results.json").write_text(json.dumps(results))
    out = tmp_path / "out"
    write_report(build_report(load_inputs([bare])), out)
    text = (out / "report.md").read_text()
    assert "No samples in these runs" in text and "No latency record and no timings" in text
    assert "is PARTIAL" in text and "PARTIAL:" in text
    assert not (out / "figures" / "qualitative-self.png").exists()
    assert not (out / "tables" / "latency.md").exists()


def test_several_runs_are_merged_and_rows_name_their_run(run_dir: Path, tmp_path: Path) -> None:
    other = make_run(tmp_path / "data", tmp_path / "runs", models=("copy-source", "fomm.tiny"), name="other")
    report = build_report(load_inputs([run_dir, other]), draw=False)
    labels = [r.label for r in report.quality[0].rows]
    assert "fomm.tiny [RANDOM WEIGHTS] (R1)" in labels and "fomm.tiny [RANDOM WEIGHTS] (R2)" in labels
    assert any("R1 = " in n and "R2 = " in n for n in report.notices)
    assert [s.title.split(":")[0] for s in report.provenance[:2]] == ["Run R1", "Run R2"]


def test_mark_best_ranks_only_competing_finite_values() -> None:
    up, down = Column("ssim", "ssim", True), Column("l1", "l1", False)
    rows = [
        Row("a", "ranked", "a", cells={"ssim": Cell(0.5), "l1": Cell(0.2)}),
        Row("b", "ranked", "b", cells={"ssim": Cell(0.7), "l1": Cell(math.nan)}),
        Row("c", "ranked", "c", cells={"ssim": Cell(0.7), "l1": Cell(0.3)}),
        Row("oracle", "baseline", "oracle", cells={"ssim": Cell(1.0), "l1": Cell(0.0)}),
    ]
    best = {r.label: {k: c.best for k, c in r.cells.items()} for r in mark_best(rows, [up, down])}
    assert best["b"]["ssim"] and best["c"]["ssim"] and not best["a"]["ssim"]  # ties are all bold
    assert best["a"]["l1"] and not best["b"]["l1"] and not best["c"]["l1"]
    assert not any(best["oracle"].values())
    alone = mark_best([rows[0], rows[3]], [up])
    assert not any(c.best for r in alone for c in r.cells.values())  # nothing to compete with


def test_pareto_front() -> None:
    points = [(1.0, 0.5), (2.0, 0.7), (3.0, 0.6), (0.5, 0.4), (2.0, 0.7)]
    assert pareto_front(points, higher_is_better=True) == [3, 0, 1, 4]
    assert pareto_front([(1.0, 0.3), (2.0, 0.1)], higher_is_better=False) == [0, 1]
    assert pareto_front([(1.0, 0.1), (2.0, 0.3)], higher_is_better=False) == [0]


def test_published_figures_are_mapped_explicitly() -> None:
    figures = published_figures()
    by = {(f.paper, f.method, f.paper_metric): f for f in figures}
    assert by["bilayer-eccv2020", "bilayer", "lpips"].candidates == ("lpips.vgg.v0.1",)
    assert by["bilayer-eccv2020", "bilayer", "csim"].candidates == ("csim.bilayer.irse50",)
    # not the same quantity as any metric of ours: never placed beside one
    assert ("bilayer-eccv2020", "bilayer", "normalized_pose_error") not in by
    assert ("fomm-neurips2019", "fomm", "aed") not in by
    assert by["fomm-neurips2019", "fomm", "akd"].candidates == ("akd.fan68",)
    assert by["bilayer-eccv2020", "fomm", "inference_time"].candidates == (LATENCY,)
    assert all(f.source and f.verified in ("primary", "secondary") for f in figures)
    text = "paper,method,model_size,dataset,protocol,metric,value,unit,device,source,verified\n"
    assert published_figures(text + "x,y,,,,unknown_metric,1,,,s,primary\n") == ()


def test_weight_marks_are_the_model_zoo_marks() -> None:
    from bench.models.zoo import WEIGHT_MARKS as ZOO

    assert WEIGHT_MARKS == ZOO


def test_latex_escapes_special_characters() -> None:
    from bench.report.tables import ComparisonTable

    table = ComparisonTable(
        "t", "50% & more_x", "caption #1", (Column("a_b", "a_b", True),), (Row("m_1 & co", "ranked", "m"),)
    )
    tex = to_latex(table)
    assert r"50\% \& more\_x" in tex and r"m\_1 \& co" in tex and r"caption \#1" in tex


def test_cli_writes_the_report_and_reports_bad_paths(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(run_dir), "--out", str(tmp_path / "cli"), "--no-published"]) == 0
    assert "report.html" in capsys.readouterr().out
    assert "reported in paper" not in (tmp_path / "cli" / "tables" / "quality-self.md").read_text()
    assert main(["report", str(tmp_path / "missing"), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bilayer-bench: error:") and str(tmp_path / "missing") in err


def test_csv_module_reads_published_csv(report_dir: Path) -> None:
    rows = list(csv.DictReader(io.StringIO((report_dir / "tables" / "published.csv").read_text())))
    assert rows and {"source", "verified", "our_metric", "value_in_our_unit"} <= set(rows[0])


def test_mark_best_ranks_rows_with_real_weights_only() -> None:
    from bench.report.tables import Cell, Column, Row, mark_best

    column = Column("l1", "l1", False, False, "l1")
    rows = [
        Row("a", "ranked", "a", weights="verified", cells={"l1": Cell(0.2)}),
        Row("b", "ranked", "b", weights="unverified", cells={"l1": Cell(0.1)}),
        Row("c", "ranked", "c", weights="random", cells={"l1": Cell(0.01)}),
        Row("oracle", "baseline", "oracle", cells={"l1": Cell(0.0)}),
    ]
    marked = {r.model: r.cells["l1"].best for r in mark_best(rows, [column])}
    assert marked == {"a": False, "b": True, "c": False, "oracle": False}
