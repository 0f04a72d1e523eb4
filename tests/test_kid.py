"""KID: against torchmetrics' formula on hand-made features, its sampling, and the run's one reference set."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.aggregate import reference_jobs, set_metric_moments
from bench.metrics.kid import kid_from_features, sample_rows


def _mmd_by_hand(a: np.ndarray, b: np.ndarray) -> float:
    """Unbiased MMD^2 with k(x, y) = (x.y / d + 1)^3, written out."""
    d, m = a.shape[1], len(a)
    kernel = lambda x, y: (x @ y.T / d + 1.0) ** 3  # noqa: E731
    kxx, kyy, kxy = kernel(a, a), kernel(b, b), kernel(a, b)
    off = lambda k: (k.sum() - np.trace(k)) / (m * (m - 1))  # noqa: E731
    return float(off(kxx) + off(kyy) - 2 * kxy.mean())


def test_one_subset_of_everything_is_the_unbiased_mmd() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(30, 8)), rng.normal(0.5, 1.0, size=(30, 8))
    value = kid_from_features(a, b, subsets=1, subset_size=30)
    assert value.value == pytest.approx(_mmd_by_hand(a, b), rel=1e-10) and value.subset_size == 30


def test_same_distribution_is_near_zero_and_a_shift_is_not() -> None:
    rng = np.random.default_rng(1)
    a, b, c = rng.normal(size=(400, 16)), rng.normal(size=(400, 16)), rng.normal(1.0, 1.0, size=(400, 16))
    same, shifted = kid_from_features(a, b, subsets=20, subset_size=200), kid_from_features(a, c, subsets=20)
    low, high = same.interval
    assert abs(same.value) < 0.05 and low <= 0.0 <= high + 1e-3
    assert shifted.value > 10 * abs(same.value) and shifted.interval[0] > 0


def test_sampling_is_uniform_bounded_and_counts_every_row() -> None:
    arrays = [np.full((50, 2), i, dtype=np.float32) for i in range(10)]
    sample, total = sample_rows(arrays, 100, np.random.default_rng(0))
    assert total == 500 and sample.shape == (100, 2)
    counts = np.bincount(sample[:, 0].astype(int), minlength=10)
    assert counts.min() >= 2 and counts.max() <= 25  # every chunk represented, none dominant
    whole, _ = sample_rows(arrays[:1], 100, np.random.default_rng(0))
    assert whole.shape == (50, 2)


def test_one_reference_set_for_every_model_and_protocol() -> None:
    """The real side of every key is the first protocol's jobs' real frames, each job once."""
    parts = [
        {"model": m, "protocol": p, "job": f"{p}:{j}", "status": "ok", "rows": [{"weights": "none"}]}
        for m in ("a", "b")
        for p in ("self", "cross")
        for j in ("x", "y")
    ]
    real = {
        f"{p}:{j}": np.full((3, 2), float(i))
        for i, (p, j) in enumerate([(p, j) for p in ("self", "cross") for j in "xy"])
    }

    def features(model: str, job: str, name: str) -> np.ndarray:
        return real[job] if model == "_real" else np.ones((3, 2))

    assert reference_jobs(parts, "self") == ["self:x", "self:y"]
    keys = [("fid", m, "none", p) for m in ("a", "b") for p in ("self", "cross")]
    moments = set_metric_moments(parts, keys, features, "self")
    first = moments[keys[0]].real
    assert all(np.array_equal(state.real, first) for state in moments.values()) and first[0, 0] == 6
    assert torch.tensor(first[0, 1:]).tolist() == [3.0, 3.0]  # frames of self:x (0) and self:y (1), once each


def test_saved_reference_statistics_reproduce_the_run_and_refuse_another_space(bilayer_root, tmp_path) -> None:
    from bench.config import DataConfig, ProtocolConfig, RunConfig, SpaceConfig
    from bench.errors import ConfigError
    from bench.refstats import read_reference_stats
    from bench.runner import run_benchmark

    stats = tmp_path / "ref.npz"
    config = RunConfig(
        data=DataConfig(root=str(bilayer_root)),
        models=("copy-source",),
        metrics=("fid.inception-2015-12-05.2048",),
        protocol=ProtocolConfig(kinds=("self",)),
        space=SpaceConfig(size=64),
        samples_per_job=0,
        threads=1,
        save_stats=str(stats),
    )
    first = run_benchmark(config, out_root=tmp_path / "a", progress=False)
    saved = read_reference_stats(stats, "fid.inception-2015-12-05.2048", first.space)
    assert saved.count == 12 and saved.kid_features.shape == (12, 2048) and saved.provenance["space"]["size"] == 64
    again = run_benchmark(
        RunConfig(**{**config.__dict__, "save_stats": "", "ref_stats": str(stats)}),
        out_root=tmp_path / "b",
        progress=False,
    )
    values = [r.set_index("metric").value for r in (first.summary, again.summary)]
    assert values[1]["fid.inception-2015-12-05.2048"] == pytest.approx(values[0]["fid.inception-2015-12-05.2048"])
    assert values[1]["kid.inception-2015-12-05.2048"] == pytest.approx(values[0]["kid.inception-2015-12-05.2048"])
    assert any("fewer generated frames than its 2048" in w for w in first.warnings)
    other = RunConfig(**{**config.__dict__, "save_stats": "", "ref_stats": str(stats), "space": SpaceConfig()})
    with pytest.raises(ConfigError, match="space at 64"):
        run_benchmark(other, out_root=tmp_path / "c", progress=False)
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize(
    ("flags", "match"),
    [
        (["--ref-stats", "{tmp}/absent.npz"], "file not found"),
        (["--ref-stats", "{tmp}"], "is a folder"),
        (["--ref-stats", "{tmp}/empty.npz"], "not an .npz archive"),
        (["--ref-stats", "{tmp}/text.npz"], "not an .npz archive"),
        (["--save-stats", "{tmp}/x.npz", "--metrics", "l1"], "needs FID"),
        (["--save-stats", "{tmp}/no/such/x.npz"], "does not exist or is not writable"),
        (["--space", "weird"], "argument --space: invalid choice"),
        (["--preset", "nope"], "--preset 'nope' is not one of"),
        (["--metrics", "kid.inception-2015-12-05.2048"], "name fid.inception-2015-12-05.2048 too"),
    ],
)
def test_bad_statistics_and_flags_are_one_line_before_any_folder(tmp_path, capsys, flags, match) -> None:
    from cli_errors import cli_error

    (tmp_path / "empty.npz").write_bytes(b"")
    (tmp_path / "text.npz").write_text("not numpy")
    out = tmp_path / "runs"
    line = cli_error(capsys, "run", "--models", "oracle", "--out", out, *(f.format(tmp=tmp_path) for f in flags))
    assert match in line
    assert not out.exists()
