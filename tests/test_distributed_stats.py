"""The additive metric states a sharded run reduces: FID from float64 statistics, moment matrices, frame sums."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_fid import exact_fid, pytorch_fid

from bench import aggregate
from bench.aggregate import SetMoments, frame_metric_sums, moment_matrix, set_metric_moments, set_metric_rows
from bench.metrics.fid import fid_from_features, fid_from_statistics

FID = "fid.inception-2015-12-05.2048"


def _statistics(x: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    return len(x), x.sum(0), x.T @ x


def _features(seed: int, count: int, dim: int, distinct: int | None = None) -> np.ndarray:
    """Non-negative, correlated features like Inception's pool3; ``distinct`` rows repeated (a copy-source model)."""
    rng = np.random.default_rng(seed)
    rows = np.maximum(rng.normal(size=(distinct or count, dim)) @ rng.normal(size=(dim, dim)) / dim**0.5, 0)
    return np.repeat(rows, -(-count // len(rows)), axis=0)[:count]


# --- fid_from_statistics --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n_real", "n_fake", "dim", "distinct"),
    [(300, 200, 24, None), (40, 35, 256, None), (56, 56, 512, 8)],
    ids=["full-rank", "fewer-frames-than-features", "repeated-frames"],
)
def test_statistics_give_the_fid_of_the_features(n_real: int, n_fake: int, dim: int, distinct: int | None) -> None:
    real = _features(0, n_real, dim)
    fake = _features(1, n_fake, dim, distinct) * 1.3 + 0.05
    expected = exact_fid(real, fake)
    assert expected > 1.0
    assert fid_from_statistics(*_statistics(real), *_statistics(fake)) == pytest.approx(expected, rel=1e-9)


def test_statistics_equal_pytorch_fid_on_a_full_rank_case() -> None:
    real, fake = _features(2, 400, 16), _features(3, 300, 16) + 0.1
    value = fid_from_statistics(*_statistics(real), *_statistics(fake))
    assert value == pytest.approx(pytorch_fid(real, fake), rel=1e-9)


def test_identical_and_constant_sets() -> None:
    same = _features(4, 30, 128)
    assert abs(fid_from_statistics(*_statistics(same), *_statistics(same))) < 1e-10 * np.trace(np.cov(same.T))
    constant = np.ones((5, 8))  # no spread: the FID is the squared distance of the means
    assert fid_from_statistics(*_statistics(constant), *_statistics(constant + 0.5)) == pytest.approx(8 * 0.25)


def test_statistics_in_any_grouping_give_the_same_fid() -> None:
    real, fake = _features(5, 70, 300), _features(6, 70, 300, distinct=10)
    whole = fid_from_statistics(*_statistics(real), *_statistics(fake))
    halves = [_statistics(x) for x in (real[:23], real[23:], fake[:51], fake[51:])]
    added = [sum(parts) for parts in zip(halves[0], halves[1], strict=True)]
    added += [sum(parts) for parts in zip(halves[2], halves[3], strict=True)]
    assert fid_from_statistics(*added) == pytest.approx(whole, rel=1e-12)


def test_invalid_statistics_are_rejected() -> None:
    n, total, outer = _statistics(_features(7, 4, 6))
    with pytest.raises(ValueError, match=r"at least 2 frames on each side .* got 4 and 1"):
        fid_from_statistics(n, total, outer, 1, total, outer)
    with pytest.raises(ValueError, match=r"sums \(D,\) and outer products \(D, D\) of one D, got \(6,\), \(6, 6\), "):
        fid_from_statistics(n, total, outer, n, total[:5], outer[:5, :5])


# --- moment matrices and set metric rows ---------------------------------------------------------------------------


def test_moment_matrix_holds_count_sum_and_outer_products(monkeypatch: pytest.MonkeyPatch) -> None:
    arrays = [_features(seed, count, 5) for seed, count in ((8, 3), (9, 4), (10, 2))]
    rows = np.concatenate(arrays)
    count, total, outer = SetMoments.split(moment_matrix(arrays))
    assert count == 9
    np.testing.assert_allclose(total, rows.sum(0), rtol=1e-13)
    np.testing.assert_allclose(outer, rows.T @ rows, rtol=1e-13)
    monkeypatch.setattr(aggregate, "_BLOCK_FRAMES", 2)  # summed in several blocks: the same numbers
    np.testing.assert_allclose(moment_matrix(arrays), moment_matrix([rows]), rtol=1e-13)
    assert moment_matrix([]).shape == (1, 1) and moment_matrix([]).sum() == 0


def _parts(jobs: list[str], model: str = "m", protocol: str = "self") -> list[dict[str, object]]:
    return [
        {"model": model, "protocol": protocol, "job": job, "status": "ok", "rows": [{"weights": "none"}]}
        for job in jobs
    ]


def test_moments_of_shards_add_up_to_the_whole_run() -> None:
    jobs = [f"self:p/v/s{i}" for i in range(6)]
    stored = {("_real", job): _features(20 + i, 7, 64) for i, job in enumerate(jobs)}
    stored |= {("m", job): _features(40 + i, 7, 64, distinct=1) + 0.2 for i, job in enumerate(jobs)}

    def features(model: str, job: str, metric: str) -> np.ndarray:
        assert metric == FID
        return stored[model, job]

    key = (FID, "m", "none", "self")
    whole = set_metric_moments(_parts(jobs), [key], features)
    shards = [set_metric_moments(_parts(jobs[rank::2]), [key], features)[key] for rank in range(2)]
    first, second = shards
    added = {key: SetMoments(first.jobs + second.jobs, first.real + second.real, first.fake + second.fake)}
    table, summed = set_metric_rows(whole), set_metric_rows(added)
    assert list(table.n_frames) == [42] and list(table.n_sequences) == [6]
    assert summed.value.iloc[0] == pytest.approx(table.value.iloc[0], rel=1e-12)
    real = np.concatenate([stored["_real", job] for job in jobs])
    fake = np.concatenate([stored["m", job] for job in jobs])
    assert table.value.iloc[0] == pytest.approx(fid_from_features(real, fake), rel=1e-9)
    empty = set_metric_moments([], [key], features)[key]  # a process without jobs of this key adds nothing
    assert empty.jobs == 0 and empty.real.shape == (1, 1) and set_metric_rows({key: empty}).empty


def test_frame_metric_sums_count_scored_values() -> None:
    frames = pd.DataFrame(
        {
            "model": ["a", "a", "a", "b"],
            "protocol": ["self"] * 4,
            "l1": [0.5, np.nan, -0.25, 1.0],
            "psnr": [np.inf, 20.0, np.nan, 30.0],
        }
    )
    keys = [("a", "self", "l1"), ("a", "self", "psnr"), ("b", "self", "l1"), ("a", "cross", "l1")]
    sums = frame_metric_sums(frames, keys)
    np.testing.assert_array_equal(sums, [[0.25, 0.75, 2], [np.inf, np.inf, 2], [1.0, 1.0, 1], [0, 0, 0]])
