"""From per-job parts to the run's tables: frames, sequences, summary, timings, failures.

Set metrics (FID) are computed from additive float64 statistics of their features, so that partial statistics
(per job, per process of a sharded run) add up to the same value: per (set metric, model, protocol) a
:class:`SetMoments` holds the moment matrices ``sum [1, x][1, x]'`` of the real and generated features, whose
corner is the count, first row the sum and the rest the sum of outer products. Frame metrics add up as sums and
counts (:func:`frame_metric_sums`), which a sharded run reduces to check the per-frame records it gathered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bench.metrics import METRICS
from bench.registry import import_object
from bench.stats import identity_bootstrap, identity_of

__all__ = [
    "FRAME_KEYS",
    "SetMoments",
    "common_frames",
    "failures_table",
    "frame_metric_sums",
    "frames_table",
    "moment_matrix",
    "part_rows",
    "reference_jobs",
    "sequences_table",
    "set_metric_moments",
    "set_metric_rows",
    "summary_table",
    "timings_table",
]

FRAME_KEYS = [
    "model",
    "weights",
    "protocol",
    "job",
    "source_sequence",
    "source_frame",
    "driver_sequence",
    "driver_frame",
    "frame_index",
]
_SEQUENCE_KEYS = ["model", "weights", "protocol", "job"]


def frames_table(parts: Sequence[dict[str, Any]], metrics: Sequence[str]) -> pd.DataFrame:
    rows = [row for part in parts if part["status"] == "ok" for row in part["rows"]]
    columns = FRAME_KEYS + list(metrics)
    frame = pd.DataFrame(rows, columns=columns)
    for name in metrics:
        frame[name] = pd.to_numeric(frame[name].replace({"inf": np.inf, "-inf": -np.inf, "nan": np.nan}))
    return frame.sort_values(["model", "protocol", "job", "frame_index"], kind="stable").reset_index(drop=True)


def sequences_table(frames: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    grouped = frames.groupby(_SEQUENCE_KEYS, sort=True, dropna=False)
    table = grouped[list(metrics)].mean()
    table.insert(0, "n_frames", grouped.size())
    return table.reset_index()


def summary_row(
    model: str,
    weights: str,
    protocol: str,
    metric: str,
    value: float,
    frames: int,
    sequences: int,
    *,
    ci95: tuple[float, float] = (float("nan"), float("nan")),
    sequence_std: float = float("nan"),
    unscored: int = 0,
    scored: int | None = None,
    identities: int | None = None,
) -> dict[str, Any]:
    """One row of the summary (results.json "summary", the tables), for frame and set metrics alike.

    ``frames``: the frames the value is computed over (for a frame metric, the frames every model of the
    protocol scored); ``scored`` and ``unscored``: this model's own frames with and without a value."""
    spec = METRICS.get(metric)
    return {
        "model": model,
        "weights": weights,
        "protocol": protocol,
        "metric": metric,
        "variant": spec.variant,
        "higher_is_better": spec.higher_is_better,
        "value": value,
        "ci95_low": ci95[0],
        "ci95_high": ci95[1],
        "sequence_std": sequence_std,
        "n_frames": frames,
        "n_scored": frames if scored is None else scored,
        "n_unscored": unscored,
        "n_sequences": sequences,
        "n_identities": identities,
    }


SetKey = tuple[str, str, str, str]  # (set metric, model, weights, protocol)
FrameKey = tuple[str, str, str]  # (model, protocol, frame metric)

# A set metric's distance between two feature sets -> the same distance from their statistics (fid.py holds both).
_FROM_STATISTICS = {"bench.metrics.fid:fid_from_features": "bench.metrics.fid:fid_from_statistics"}
_BLOCK_FRAMES = 4096  # features summed per matrix product: bounded memory for any number of frames


@dataclass(frozen=True)
class SetMoments:
    """A set metric's state for one (model, protocol): jobs, and the (D + 1, D + 1) float64 moment matrices of
    the real and the generated features (a (1, 1) zero matrix where there are none)."""

    jobs: int
    real: np.ndarray
    fake: np.ndarray

    @staticmethod
    def split(moments: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
        """(count, sum (D,), sum of outer products (D, D)) of a moment matrix."""
        return round(float(moments[0, 0])), moments[0, 1:], moments[1:, 1:]


def moment_matrix(features: Iterable[np.ndarray]) -> np.ndarray:
    """``sum [1, x][1, x]'`` over the rows x of every (n_i, D) array, in float64; (1, 1) zeros for no rows."""
    total: np.ndarray | None = None
    block: list[np.ndarray] = []
    pending = 0

    def flush() -> None:
        nonlocal total, pending
        rows = np.concatenate(block)
        augmented = np.concatenate([np.ones((len(rows), 1)), rows], axis=1)
        product = augmented.T @ augmented
        total = product if total is None else total + product
        block.clear()
        pending = 0

    for array in features:
        block.append(np.asarray(array, dtype=np.float64))
        pending += len(array)
        if pending >= _BLOCK_FRAMES:
            flush()
    if pending:
        flush()
    return np.zeros((1, 1)) if total is None else total


def _set_groups(parts: Sequence[dict[str, Any]]) -> dict[tuple[str, str, str], list[str]]:
    """(model, weights, protocol) -> jobs that ended well, in part order."""
    groups: dict[tuple[str, str, str], list[str]] = {}
    for part in parts:
        if part["status"] == "ok" and part["rows"]:
            groups.setdefault((part["model"], part["rows"][0]["weights"], part["protocol"]), []).append(part["job"])
    return groups


def reference_jobs(parts: Sequence[dict[str, Any]], protocol: str | None) -> list[str]:
    """The jobs whose real frames form the run's one reference set of every set metric: the jobs of the run's
    first protocol that ended well for some model, each once. Within one protocol no driving frame repeats
    (self: each sequence once; cross: each identity's first sequence once), so the set has every frame once."""
    jobs = [
        p["job"] for p in parts if p["status"] == "ok" and p["rows"] and (protocol is None or p["protocol"] == protocol)
    ]
    return list(dict.fromkeys(jobs))


def set_metric_moments(
    parts: Sequence[dict[str, Any]],
    keys: Sequence[SetKey],
    features: Callable[[str, str, str], np.ndarray],
    reference_protocol: str | None = None,
) -> dict[SetKey, SetMoments]:
    """The state of each key from the jobs of ``parts``: ``features(model, job, metric)`` reads a job's features,
    with model "_real" for the real frames. The real side of every key is the one reference set of the run
    (:func:`reference_jobs` of ``reference_protocol``; None: every job, for a single protocol)."""
    groups = _set_groups(parts)
    reference = reference_jobs(parts, reference_protocol)
    real: dict[str, np.ndarray] = {}
    moments = {}
    for key in keys:
        name, group = key[0], key[1:]
        jobs = groups.get(group, [])
        if name not in real:
            real[name] = moment_matrix(features("_real", job, name) for job in reference)
        moments[key] = SetMoments(len(jobs), real[name], moment_matrix(features(group[0], job, name) for job in jobs))
    return moments


def set_metric_rows(moments: Mapping[SetKey, SetMoments]) -> pd.DataFrame:
    """Summary rows of set metrics, in the order of ``moments``, where both sides have at least two frames."""
    rows = []
    for (name, model, weights, protocol), state in moments.items():
        distance = import_object(_FROM_STATISTICS[METRICS.get(name).distance])
        real, fake = SetMoments.split(state.real), SetMoments.split(state.fake)
        if state.jobs and min(real[0], fake[0]) >= 2:
            value = float(distance(*real, *fake))
            rows.append(summary_row(model, weights, protocol, name, value, fake[0], state.jobs))
    return pd.DataFrame(rows)


def frame_metric_sums(frames: pd.DataFrame, keys: Sequence[FrameKey]) -> np.ndarray:
    """(K, 3) float64 per key: sum, sum of absolute values and count of the scored (non-NaN) frame values."""
    out = np.zeros((len(keys), 3))
    if frames.empty:
        return out
    grouped = {key: group for key, group in frames.groupby(["model", "protocol"], sort=False)}
    for index, (model, protocol, name) in enumerate(keys):
        group = grouped.get((model, protocol))
        if group is not None and name in group:
            values = group[name].dropna().to_numpy(dtype=np.float64)
            out[index] = (values.sum(), np.abs(values).sum(), len(values))
    return out


def common_frames(frames: pd.DataFrame, metric: str) -> pd.Series:
    """True for the rows of ``frames`` whose (protocol, job, frame) every model of the protocol scored with
    ``metric``: the subset a metric that can fail on a frame (no face found) is summarised over, for every model."""
    if frames.empty:
        return pd.Series(dtype=bool)
    scored = frames[metric].notna()
    models = frames.groupby("protocol")["model"].transform("nunique")
    keys = [frames["protocol"], frames["job"], frames["frame_index"]]
    return scored & (scored.groupby(keys).transform("sum") == models)


def summary_table(frames: pd.DataFrame, metrics: Sequence[str], seed: int = 0) -> pd.DataFrame:
    """Per (model, protocol, metric): the mean over the frames every model of the protocol scored
    (:func:`common_frames`), their count and the model's own scored and unscored counts, the number of sequences,
    the std of sequence means and a 95% BCa bootstrap interval over identities (:mod:`bench.stats`, seeded)."""
    common = {name: common_frames(frames, name) for name in metrics}
    rows = []
    for (model, weights, protocol), group in frames.groupby(["model", "weights", "protocol"], sort=True):
        for name in metrics:
            own = group[name].dropna()
            spec = METRICS.get(name)
            not_applicable = protocol == "cross" and spec.needs_ground_truth  # no ground truth to compare with
            if own.empty and (not_applicable or spec.needs_landmarks):  # not computed, rather than unscored
                continue
            used = group[common[name].loc[group.index]]
            per_sequence = used.groupby("job")[name].mean()
            by_person = used.groupby(identity_of(used["source_sequence"]))[name]
            low, high = identity_bootstrap(by_person.sum().to_numpy(), by_person.count().to_numpy(), seed)
            with np.errstate(invalid="ignore"):
                spread = float(per_sequence.std(ddof=1)) if len(per_sequence) > 1 else float("nan")
            rows.append(
                summary_row(
                    model,
                    weights,
                    protocol,
                    name,
                    float(used[name].mean()) if len(used) else float("nan"),
                    len(used),
                    len(per_sequence),
                    ci95=(low, high),
                    sequence_std=spread,
                    unscored=int(group[name].isna().sum()),  # frames the metric could not score (no face found)
                    scored=len(own),
                    identities=by_person.ngroups,
                )
            )
    return pd.DataFrame(rows)


def part_rows(parts: Sequence[dict[str, Any]], key: str, columns: Sequence[str]) -> pd.DataFrame:
    """The list ``key`` of every finished part, one row per item, after the part's model, protocol and job
    (parts written before ``key`` was recorded contribute none)."""
    rows = [
        {"model": p["model"], "protocol": p["protocol"], "job": p["job"], **item}
        for p in parts
        if p["status"] == "ok"
        for item in p.get(key, ())
    ]
    return pd.DataFrame(rows, columns=["model", "protocol", "job", *columns])


def timings_table(parts: Sequence[dict[str, Any]]) -> pd.DataFrame:
    return part_rows(parts, "timings", ["stage", "frames", "ms"])


def failures_table(parts: Sequence[dict[str, Any]]) -> pd.DataFrame:
    rows = [
        {
            "model": p["model"],
            "protocol": p["protocol"],
            "job": p["job"],
            "file": p.get("file"),
            "error": p["error"],
        }
        for p in parts
        if p["status"] != "ok"
    ]
    return pd.DataFrame(rows, columns=["model", "protocol", "job", "file", "error"])
