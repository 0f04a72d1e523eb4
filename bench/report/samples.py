"""The frames a run saved for qualitative figures and videos, and which of them a grid shows.

Layout (bench.records): ``samples/MODEL/PROTOCOL/JOB/NN_FRAME.png`` (a model's output in the evaluation space)
and ``samples/_inputs/PROTOCOL/JOB/`` (``source.png`` and ``NN_FRAME.png``, the reference each output is compared
with), NN being frames.csv's ``frame_index`` and FRAME its ``driver_frame``. Frames are found from frames.csv's
rows, so a run in the older flat layout (``samples/MODEL/PROTOCOL/NN_FRAME.png``) simply has none.

Rows of a grid are chosen by a metric: per saved frame, the mean of the metric over the ranked models (not the
sanity baselines) on frames where every model has a saved sample; the best, median and worst of them are shown
(:func:`choose_frames`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bench.metrics import METRICS
from bench.records import INPUTS, sample_folder, sample_frame_name
from bench.report.load import RunRecord
from bench.report.names import PRIMARY_METRICS
from bench.report.tables import SANITY_BASELINES

__all__ = [
    "ChosenFrame",
    "SavedFrame",
    "choose_frames",
    "chosen_frames",
    "ranking_metric",
    "sample_models",
    "saved_frames",
]


@dataclass(frozen=True)
class SavedFrame:
    """One driving frame of a job whose reference was saved, with every model's saved output."""

    job: str
    frame_index: int
    driver_frame: str
    source: Path
    reference: Path
    outputs: Mapping[str, Path] = field(default_factory=dict)  # model -> its saved output (only those present)


@dataclass(frozen=True)
class ChosenFrame:
    frame: SavedFrame
    rank: str  # "best", "median", "worst", "rank K of N", or "first" (no metric to rank by)
    value: float  # the metric's mean over the ranked models on this frame (NaN when unranked)
    values: Mapping[str, float] = field(default_factory=dict)  # model -> its metric value on this frame


def _job_frames(run: RunRecord, protocol: str) -> pd.DataFrame:
    """(job, frame_index, driver_frame) of the protocol's frames, in job order then frame order."""
    frames = run.frames
    if frames.empty or not {"protocol", "job", "frame_index", "driver_frame"} <= set(frames.columns):
        return pd.DataFrame(columns=["job", "frame_index", "driver_frame"])
    part = frames.loc[frames["protocol"] == protocol, ["job", "frame_index", "driver_frame"]].drop_duplicates()
    return part.sort_values(["job", "frame_index"], kind="stable").reset_index(drop=True)


def sample_models(run: RunRecord, protocol: str) -> list[str]:
    """The run's models (in its config's order) that saved an output for some job of ``protocol``."""
    jobs = list(dict.fromkeys(_job_frames(run, protocol)["job"]))
    models = list(run.config.get("models") or run.weights)
    return [m for m in models if any(sample_folder(run.path, m, protocol, job).is_dir() for job in jobs)]


def saved_frames(run: RunRecord, protocol: str, models: Sequence[str]) -> list[SavedFrame]:
    """Every frame of ``protocol`` whose source and reference were saved, with the outputs of ``models``."""
    out = []
    for row in _job_frames(run, protocol).itertuples():
        inputs = sample_folder(run.path, INPUTS, protocol, row.job)
        name = sample_frame_name(int(row.frame_index), str(row.driver_frame))
        if not ((inputs / "source.png").is_file() and (inputs / name).is_file()):
            continue
        outputs = {m: path for m in models if (path := sample_folder(run.path, m, protocol, row.job) / name).is_file()}
        out.append(SavedFrame(row.job, int(row.frame_index), str(row.driver_frame), inputs / "source.png",
                              inputs / name, outputs))  # fmt: skip
    return out


def ranking_metric(run: RunRecord, protocol: str, preferred: str | None = None) -> str | None:
    """The frame metric to rank ``protocol``'s frames by: ``preferred`` when it has values there, else the first
    of LPIPS (VGG, AlexNet), SSIM, PSNR, L1 that has, else any registered frame metric that has; None if none."""
    frames = run.frames
    if frames.empty or "protocol" not in frames:
        return None
    part = frames[frames["protocol"] == protocol]
    names = [m for m in METRICS.in_order() if METRICS.get(m).kind == "frame"]
    candidates = [*([preferred] if preferred else []), *PRIMARY_METRICS, *names]
    return next((m for m in candidates if m in part and np.isfinite(part[m].to_numpy(float)).any()), None)


def _spread(count: int, n: int) -> list[int]:
    """``count`` positions spread from the first (0) to the last (n - 1); of three, the middle one is at
    (n - 1) // 2 (of an even number of frames, the better of the two middle ones)."""
    if count <= 1 or n <= 1:
        return [0][: min(count, n)]
    return list(dict.fromkeys((k * (n - 1)) // (count - 1) for k in range(count)))


def _rank_name(position: int, n: int, count: int) -> str:
    if position == 0:
        return "best"
    if position == n - 1:
        return "worst"
    if count == 3 and position == (n - 1) // 2:
        return "median"
    return f"rank {position + 1} of {n}"


def choose_frames(
    values: pd.DataFrame, ranked: Sequence[str], *, higher_is_better: bool, count: int = 3
) -> list[tuple[int, str, float]]:
    """Rows to show, from a table of one row per candidate frame and one column per model (a metric's values):
    ``count`` rows spread from the best to the worst mean over the ``ranked`` models' columns (all columns when
    no ranked model is there), the middle of three being the median (the better middle one of an even number);
    frames whose mean is NaN are not ranked. Returns (row position in ``values``, rank name, mean), best first."""
    columns = [m for m in ranked if m in values.columns] or list(values.columns)
    means = values[columns].astype(float).mean(axis=1, skipna=False).to_numpy()
    order = [i for i in np.argsort(-means if higher_is_better else means, kind="stable") if not np.isnan(means[i])]
    positions = _spread(count, len(order))
    return [(int(order[p]), _rank_name(p, len(order), count), float(means[order[p]])) for p in positions]


def chosen_frames(
    run: RunRecord, protocol: str, models: Sequence[str], metric: str | None, count: int
) -> tuple[list[ChosenFrame], str | None]:
    """The frames a grid shows and the metric they were ranked by (None: the first saved frames, unranked).
    Candidates are the frames every model saved (all saved frames when no frame has every model)."""
    frames = saved_frames(run, protocol, models)
    complete = [f for f in frames if len(f.outputs) == len(models)] or frames
    if not complete:
        return [], None
    metric = ranking_metric(run, protocol, metric)
    if metric is None:
        return [ChosenFrame(f, "first", float("nan")) for f in complete[:count]], None
    part = run.frames[run.frames["protocol"] == protocol]
    table = part.pivot_table(index=["job", "frame_index"], columns="model", values=metric, aggfunc="first",
                             dropna=False)  # fmt: skip
    keys = pd.MultiIndex.from_tuples([(f.job, f.frame_index) for f in complete], names=["job", "frame_index"])
    values = table.reindex(index=keys, columns=[m for m in models if m in table.columns])
    ranked = [m for m in models if m not in SANITY_BASELINES]
    higher = METRICS.get(metric).higher_is_better if metric in METRICS else True
    picks = choose_frames(values.reset_index(drop=True), ranked, higher_is_better=higher, count=count)
    if not picks:  # no frame has a value: unranked
        return [ChosenFrame(f, "first", float("nan")) for f in complete[:count]], None
    rows = values.reset_index(drop=True)
    chosen = [
        ChosenFrame(complete[i], rank, mean, {m: float(rows.at[i, m]) for m in rows.columns}) for i, rank, mean in picks
    ]
    return chosen, metric
