"""The report's figures, video and paper tables: what each one shows, checked on known inputs.

Samples are written here in the per-job layout of bench.records (:func:`write_job_samples`), so these tests do
not depend on which jobs a run saves.
"""

from __future__ import annotations

import io
import json
import math
import re
import shutil
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from test_report_records import latency_payload, make_run, write_job_samples

from bench.metrics import METRICS
from bench.report import build_report, load_inputs, write_report
from bench.report.formats import LINE_WIDTH_CHARS, latex_width_chars, to_html, to_latex
from bench.report.grids import error_map, qualitative_figure
from bench.report.latency import LatencyView, latency_view
from bench.report.latency_plots import crossing_frames, latency_figure, total_time_curves, total_time_figure
from bench.report.load import ReportInputs, RunRecord, read_latency, read_run
from bench.report.names import METRIC_NAMES, axis_label, header
from bench.report.plots import pareto_figure, pareto_points, sequence_figure
from bench.report.samples import choose_frames, chosen_frames, sample_models
from bench.report.tables import Cell, Column, ComparisonTable, Row, quality_tables, quartiles
from bench.report.video import side_by_side_video

MODELS = ("copy-source", "oracle", "bilayer.tiny", "fomm.tiny")
RANKED = ("bilayer.tiny", "fomm.tiny")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("figures")
    run = make_run(base / "data", base / "runs", models=MODELS)
    write_job_samples(run)
    return run


@pytest.fixture(scope="module")
def run(run_dir: Path) -> RunRecord:
    return read_run(run_dir)


def _latency_folder(folder: Path, medians_ms: dict[tuple[str, str], float]) -> Path:
    """A latency record whose (model, stage) medians are ``medians_ms`` (samples spread +-10% around them)."""
    payload = latency_payload(tuple(dict.fromkeys(m for m, _ in medians_ms)))
    for stage in payload["stages"]:  # type: ignore[union-attr]
        median = medians_ms[(stage["model"], stage["stage"])] / 1e3
        stage.update(median_s=median, samples_s=[median * f for f in (0.9, 0.95, 1.0, 1.05, 1.1)])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "latency.json").write_text(json.dumps(payload), encoding="utf-8")
    return folder


TRADE = {  # bi-layer: a large prepare, a cheap frame; FOMM the opposite; copy-source next to nothing
    ("copy-source", "prepare"): 0.01,
    ("copy-source", "animate"): 0.002,
    ("copy-source", "end_to_end"): 0.002,
    ("bilayer.tiny", "prepare"): 500.0,
    ("bilayer.tiny", "animate"): 1.5,
    ("bilayer.tiny", "end_to_end"): 2.0,
    ("fomm.tiny", "prepare"): 20.0,
    ("fomm.tiny", "animate"): 12.0,
    ("fomm.tiny", "end_to_end"): 12.0,
}


@pytest.fixture(scope="module")
def trade_view(tmp_path_factory: pytest.TempPathFactory) -> LatencyView:
    folder = _latency_folder(tmp_path_factory.mktemp("latency"), TRADE)
    view = latency_view(ReportInputs(runs=(), latency=(read_latency(folder),)))
    assert view is not None
    return view


# rows of the qualitative grids ----------------------------------------------------------------------------------


def test_chosen_rows_are_the_best_median_and_worst_mean_of_the_ranked_models() -> None:
    values = pd.DataFrame(
        {
            "copy-source": [0.9, 0.1, 0.5, 0.2, 0.3],  # a sanity baseline: never in the mean
            "a": [0.40, 0.80, 0.10, 0.60, np.nan],  # the last frame has no value: not ranked
            "b": [0.20, 0.60, 0.30, 0.40, 0.90],
        }
    )
    means = values[["a", "b"]].mean(axis=1, skipna=False)  # 0.3, 0.7, 0.2, 0.5, NaN
    picks = choose_frames(values, ["a", "b"], higher_is_better=True)
    assert [(p, rank) for p, rank, _ in picks] == [(1, "best"), (3, "median"), (2, "worst")]
    assert picks[0][0] == means.idxmax() and picks[-1][0] == means.idxmin()
    assert picks[1][2] == pytest.approx(sorted(means.dropna(), reverse=True)[1])  # median of four: the 2nd best
    lower = choose_frames(values, ["a", "b"], higher_is_better=False)
    assert [(p, rank) for p, rank, _ in lower] == [(2, "best"), (0, "median"), (1, "worst")]
    assert [p for p, _, _ in choose_frames(values, ["a", "b"], higher_is_better=True, count=1)] == [1]
    alone = choose_frames(values[["copy-source"]], ["a"], higher_is_better=True)  # no ranked column: all columns
    assert [p for p, _, _ in alone] == [0, 4, 1]  # 0.9, 0.5, 0.3 (median of five), 0.2, 0.1
    assert choose_frames(values.iloc[[4]][["a"]], ["a"], higher_is_better=True) == []


def test_grid_rows_follow_the_frames_table(run: RunRecord) -> None:
    models = sample_models(run, "self")
    assert models == list(MODELS)
    chosen, metric = chosen_frames(run, "self", models, "ssim", 3)
    assert metric == "ssim"
    frames = run.frames[run.frames["protocol"] == "self"]
    mean = frames[frames["model"].isin(RANKED)].groupby(["job", "frame_index"])["ssim"].mean().sort_values()
    assert [c.rank for c in chosen] == ["best", "median", "worst"]
    assert (chosen[0].frame.job, chosen[0].frame.frame_index) == mean.index[-1]
    assert (chosen[-1].frame.job, chosen[-1].frame.frame_index) == mean.index[0]
    assert (chosen[1].frame.job, chosen[1].frame.frame_index) == mean.index[::-1][(len(mean) - 1) // 2]
    assert chosen[0].value == pytest.approx(mean.iloc[-1])
    figure = qualitative_figure(run, "self", metric="ssim")
    assert figure is not None
    assert f"best by SSIM\n= {mean.iloc[-1]:.3g}" in "\n".join(figure.texts)
    assert any("worst by SSIM" in t for t in figure.texts) and any("median by SSIM" in t for t in figure.texts)
    assert "bilayer.tiny\n[RANDOM WEIGHTS]" in figure.texts and "ground truth\n(= driver)" in figure.texts
    assert any("intensity in [0, 1]" in t for t in figure.texts)  # the error maps' colour bar
    assert "SSIM" in figure.caption and "[RANDOM WEIGHTS]" in figure.caption


def test_default_metric_of_the_grid_is_the_primary_one(run: RunRecord) -> None:
    _, metric = chosen_frames(run, "self", sample_models(run, "self"), None, 3)
    assert metric == "ssim"  # no LPIPS in this run: SSIM comes next
    _, fallback = chosen_frames(run, "self", sample_models(run, "self"), "lpips.vgg.v0.1", 3)
    assert fallback == "ssim"  # a metric the run did not compute: the next one that it did


def test_cross_grid_has_no_error_map_and_takes_the_first_frames_without_a_metric(run: RunRecord) -> None:
    chosen, metric = chosen_frames(run, "cross", sample_models(run, "cross"), None, 3)
    assert metric is None and {c.rank for c in chosen} == {"first"}
    first = run.frames[run.frames["protocol"] == "cross"].sort_values(["job", "frame_index"]).iloc[0]
    assert (chosen[0].frame.job, chosen[0].frame.frame_index) == (first["job"], first["frame_index"])
    figure = qualitative_figure(run, "cross")
    assert figure is not None
    assert not any("intensity in [0, 1]" in t for t in figure.texts) and "ground truth\n(= driver)" not in figure.texts
    assert "first saved frames" in figure.caption


def test_error_map_is_the_channel_mean_of_the_absolute_difference() -> None:
    truth = np.zeros((2, 2, 3))
    output = np.zeros((2, 2, 3))
    output[..., 0] = 0.9
    output[0, 0, :] = 0.3
    expected = np.array([[0.3, 0.3], [0.3, 0.3]])
    assert error_map(output, truth) == pytest.approx(expected)
    assert error_map(1.0 - truth, truth) == pytest.approx(np.ones((2, 2)))
    assert error_map(output[:1], truth) is None


def test_old_flat_samples_say_no_samples(run_dir: Path, tmp_path: Path) -> None:
    old = Path(shutil.copytree(run_dir, tmp_path / "old"))
    shutil.rmtree(old / "samples")
    for owner in ("_inputs", "fomm.tiny"):  # samples/MODEL/PROTOCOL/NN_FRAME.png, before per-job folders
        (old / "samples" / owner / "self").mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(old / "samples" / owner / "self" / "00_00001.png")
    Image.new("RGB", (8, 8)).save(old / "samples" / "_inputs" / "self" / "source.png")
    report = build_report(load_inputs([old]), published=False)
    assert not report.figure("qualitative-") and not report.videos
    out = tmp_path / "out"
    write_report(report, out)
    assert "No samples in these runs" in (out / "report.md").read_text()


# the video --------------------------------------------------------------------------------------------------------


def test_video_decodes_to_the_first_self_job_side_by_side(run: RunRecord, run_dir: Path, tmp_path: Path) -> None:
    video = side_by_side_video(run)
    assert video is not None
    frames = run.frames[run.frames["protocol"] == "self"]
    first_job = sorted(frames["job"])[0]
    expected = frames.loc[frames["job"] == first_job, "frame_index"].nunique()
    with av.open(io.BytesIO(video.mp4)) as container:
        decoded = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
        codec = container.streams.video[0].codec_context.name
    assert len(decoded) == video.frames == expected
    assert decoded[0].shape == (video.height, video.width, 3)
    assert video.width >= 160 * (len(MODELS) + 3) and video.width % 2 == 0 and video.height % 2 == 0
    assert codec in ("h264", "mpeg4") and first_job in video.caption
    out = tmp_path / "report"
    write_report(build_report(load_inputs([run_dir]), published=False), out)
    assert (out / video.path).read_bytes()[4:8] == b"ftyp"
    assert video.path in (out / "report.md").read_text()
    assert f'href="{video.path}"' in (out / "report.html").read_text()


def test_video_needs_a_job_with_every_model(run_dir: Path, tmp_path: Path) -> None:
    bare = Path(shutil.copytree(run_dir, tmp_path / "bare"))
    for job in (bare / "samples" / "fomm.tiny" / "self").iterdir():  # fomm.tiny saved nothing: only some models
        shutil.rmtree(job)
    video = side_by_side_video(read_run(bare))
    assert video is not None and "fomm.tiny" not in video.caption
    shutil.rmtree(bare / "samples")
    assert side_by_side_video(read_run(bare)) is None


# latency figures --------------------------------------------------------------------------------------------------


def test_crossing_is_the_prepare_difference_over_the_per_frame_difference() -> None:
    assert crossing_frames(500.0, 2.0, 20.0, 12.0) == pytest.approx((500.0 - 20.0) / (12.0 - 2.0))
    assert crossing_frames(20.0, 12.0, 500.0, 2.0) == pytest.approx(48.0)  # symmetric
    assert crossing_frames(10.0, 1.0, 20.0, 2.0) is None  # one is faster at both stages
    assert crossing_frames(10.0, 1.0, 20.0, 1.0) is None  # parallel


def test_total_time_marks_where_bilayer_and_fomm_cross(trade_view: LatencyView) -> None:
    curves = {c.model: c for c in total_time_curves(trade_view)}
    assert set(curves) == set(RANKED)  # sanity baselines left out
    assert curves["bilayer.tiny"].frame_stage == "end_to_end" and curves["bilayer.tiny"].frame_ms == pytest.approx(2)
    n = (TRADE["bilayer.tiny", "prepare"] - TRADE["fomm.tiny", "prepare"]) / (
        TRADE["fomm.tiny", "end_to_end"] - TRADE["bilayer.tiny", "end_to_end"]
    )
    figure = total_time_figure(trade_view)
    assert figure is not None
    assert f"n = {n:.3g} [RANDOM WEIGHTS]" in figure.texts  # the crossing, marked on the figure
    assert f"cross at n = {n:.3g} frames" in figure.caption and "sanity baselines left out" in figure.caption
    assert "below it fomm.tiny [RANDOM WEIGHTS] animates an avatar sooner" in figure.caption
    assert "bilayer.tiny [RANDOM WEIGHTS]" in figure.texts and not any("copy-source" in t for t in figure.texts)
    assert any("(s, log scale)" in t for t in figure.texts)
    curve = curves["bilayer.tiny"]
    assert curve.total_s(np.asarray([n]))[0] == pytest.approx(curves["fomm.tiny"].total_s(np.asarray([n]))[0])


def test_latency_distributions_leave_sanity_baselines_out_and_give_units(trade_view: LatencyView) -> None:
    figure = latency_figure(trade_view)
    assert figure is not None
    assert not any("copy-source" in t for t in figure.texts)
    assert "Sanity baselines are left out" in figure.caption and "copy-source" in figure.caption
    assert {"prepare", "animate", "end-to-end"} <= set(figure.texts)
    assert sum("ms per frame" in t for t in figure.texts) == 4 and sum("ms per avatar" in t for t in figure.texts) == 2
    assert "bilayer.tiny\n[RANDOM WEIGHTS]" in figure.texts


# quality figures --------------------------------------------------------------------------------------------------


def test_pareto_has_intervals_latency_iqr_and_random_marks(run: RunRecord, trade_view: LatencyView) -> None:
    _, points = pareto_points([run], trade_view, "ssim")
    summary = run.summary.set_index(["model", "protocol", "metric"])
    for row in points.itertuples():
        assert row.ci95_low == summary.loc[(row.model, "self", "ssim"), "ci95_low"]
        samples = trade_view.stages.set_index(["model", "stage"]).loc[(row.model, row.stage), "samples_ms"]
        _, low, high = quartiles(samples)
        assert (row.lat_low, row.lat_high) == pytest.approx((low, high))
        assert row.lat_low < row.median_ms < row.lat_high
    figure = pareto_figure([run], trade_view, "ssim")
    assert figure is not None
    assert figure.texts.count("[RANDOM WEIGHTS]") == 2  # one annotation per random-weight point
    assert any("ms per frame" in t and "log scale" in t for t in figure.texts)
    assert axis_label("ssim", arrow="↑") in figure.texts
    assert "95% BCa" in figure.caption and "interquartile range" in figure.caption


def test_sequence_figure_axes_carry_units(run: RunRecord) -> None:
    figure = sequence_figure([run], "self")
    assert figure is not None
    for metric in ("l1", "psnr", "ssim"):
        assert axis_label(metric, arrow="↑" if METRICS.get(metric).higher_is_better else "↓") in figure.texts
    assert any("dB" in t for t in figure.texts)


# tables -----------------------------------------------------------------------------------------------------------


def test_every_metric_has_a_short_name_and_a_unit() -> None:
    assert set(METRICS.names()) <= set(METRIC_NAMES)
    headers = [header(m) for m in METRICS.names()]
    assert len(set(headers)) == len(headers)  # no two columns look alike
    assert header("lpips.vgg.v0.1") == "LPIPS (VGG)" and header("psnr") == "PSNR (dB)"
    assert header("some.new.metric") == "some.new.metric" and axis_label("some.new.metric") == "some.new.metric"


def _wide_table() -> ComparisonTable:
    metrics = ("lpips.vgg.v0.1", "ssim", "psnr", "csim.dlib-resnet", "akd.fan68", "fid.inception-2015-12-05.2048")
    columns = tuple(
        Column(m, header(m), METRICS.get(m).higher_is_better, variant=METRICS.get(m).variant) for m in metrics
    )
    cells = {m: Cell(0.123456, 0.1, 0.15, frames=10) for m in metrics}
    rows = (
        Row("bilayer.tiny [RANDOM WEIGHTS]", "ranked", "bilayer.tiny", "random", cells=cells),
        Row("fomm.tiny [RANDOM WEIGHTS]", "ranked", "fomm.tiny", "random", cells=cells),
    )
    return ComparisonTable("quality-self", "Quality", "Caption", columns, rows)


def test_latex_of_a_wide_table_fits_the_line_and_names_every_variant() -> None:
    table = _wide_table()
    tex = to_latex(table)
    assert latex_width_chars(table) > LINE_WIDTH_CHARS
    assert tex.index(r"\resizebox{\linewidth}{!}{%") < tex.index(r"\begin{tabular}{l") < tex.index(r"\toprule")
    assert r"LPIPS (VGG) $\downarrow$" in tex and r"CSIM (dlib) $\uparrow$" in tex
    footnote = tex[tex.index(r"{\footnotesize") :]
    assert "Metrics: LPIPS (VGG) = lpips.vgg.v0.1;" in footnote and "CSIM (dlib) = csim.dlib-resnet" in footnote
    assert "FID = fid.inception-2015-12-05.2048" in footnote
    assert r"0.123\\{\scriptsize [0.100, 0.150]}" in tex  # the interval on a second line, smaller
    assert tex.count("{") == tex.count("}") and tex.count(r"\begin{") == tex.count(r"\end{")
    rows = tuple(Row(r.model, "ranked", r.model) for r in table.rows)
    narrow = ComparisonTable("t", "T", "C", table.columns[:1], rows)
    assert latex_width_chars(narrow) <= LINE_WIDTH_CHARS and r"\resizebox" not in to_latex(narrow)


def test_quality_caption_names_the_space_and_the_masks(run: RunRecord) -> None:
    table = quality_tables([run], published=False)[0]
    assert run.space is not None and f"evaluation space {run.space['name']}" in table.caption
    assert run.masks is not None and run.masks["description"] in table.caption
    tex = to_latex(table)
    assert "evaluation space" in tex[tex.index(r"\caption") : tex.index(r"\label")]
    assert re.search(r"\\caption\[\{Quality, self-reenactment\}\]", tex)


def test_html_tables_scroll_instead_of_being_cut(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    write_report(build_report(load_inputs([run_dir]), published=False, draw=False), out)
    page = (out / "report.html").read_text()
    assert page.count('<div class="table-wrap">') == page.count('<table class="comparison"')
    assert ".table-wrap { overflow-x: auto;" in page and "thead th { white-space: normal;" in page
    assert "data-tables-ok" in page
    html = to_html(_wide_table(), 1)
    assert "<li>Metrics: LPIPS (VGG) = lpips.vgg.v0.1;" in html


def test_provenance_gives_each_models_notes(run: RunRecord) -> None:
    report = build_report(load_inputs([run.path]), draw=False)
    facts = dict(report.provenance[0].facts)
    notes = json.loads((run.path / "weights.json").read_text())["fomm.tiny"]["notes"]
    assert notes and all(str(value) in facts["Model notes: fomm.tiny"] for value in notes.values())
    assert "output geometry" in facts["Model notes: bilayer.tiny"]


def test_random_weights_say_so_on_every_figure(run_dir: Path, trade_view: LatencyView, tmp_path: Path) -> None:
    latency = tmp_path / "with-latency"
    shutil.copytree(run_dir, latency)
    _latency_folder(tmp_path / "lat", TRADE)
    shutil.copyfile(tmp_path / "lat" / "latency.json", latency / "latency.json")
    report = build_report(load_inputs([latency]), published=False)
    keys = {f.key for f in report.figures}
    assert keys >= {"quality-vs-latency", "latency-distributions", "total-time", "sequences-self", "qualitative-self"}
    for figure in report.figures:
        assert any("[RANDOM WEIGHTS]" in t for t in figure.texts), figure.key
        assert "RANDOM WEIGHTS" in figure.caption, figure.key
        with Image.open(io.BytesIO(figure.png)) as image:
            assert image.width >= 600 and not math.isnan(image.width)
    assert report.videos and "[RANDOM WEIGHTS]" in report.videos[0].caption
