"""Bootstrap intervals over identities (BCa) and paired differences against a reference model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench.aggregate import summary_table
from bench.stats import identity_bootstrap, paired_differences


def test_interval_contains_the_analytic_mean_at_about_its_nominal_rate() -> None:
    """Exponential(1) identity means (skewed, mean 1): the 95% BCa interval covers 1 in about 95% of trials."""
    rng = np.random.default_rng(0)
    trials, hits = 200, 0
    for trial in range(trials):
        values = rng.exponential(1.0, 40)
        low, high = identity_bootstrap(values, np.ones(40), seed=trial, resamples=999)
        hits += low <= 1.0 <= high
    assert 0.88 <= hits / trials <= 0.99


def test_frame_weighted_mean_and_degenerate_cases() -> None:
    low, high = identity_bootstrap(np.array([2.0, 4.0, 6.0, 9.0]), np.array([2, 2, 2, 3]), seed=0)
    assert low <= 21 / 9 <= high
    assert identity_bootstrap(np.array([5.0, 10.0]), np.array([5, 10]), seed=0) == (1.0, 1.0)  # all means equal
    assert np.isnan(identity_bootstrap(np.array([1.0]), np.array([1]), seed=0)).all()  # one identity: no claim


def _frames(values: dict[str, list[float]], people: list[str]) -> pd.DataFrame:
    rows = []
    for model, column in values.items():
        for index, (value, person) in enumerate(zip(column, people, strict=True)):
            rows.append(
                {
                    "model": model,
                    "weights": "none",
                    "protocol": "self",
                    "job": f"self:{person}/v/s{index // 2}",
                    "source_sequence": f"{person}/v/s{index // 2}",
                    "frame_index": index % 2,
                    "l1": value,
                }
            )
    return pd.DataFrame(rows)


def test_identity_resampling_treats_two_sequences_of_a_person_as_one_unit() -> None:
    """Two sequences per person: the interval is that of the persons' means, not of the four sequences'."""
    people = ["a", "a", "a", "a", "b", "b", "b", "b", "c", "c", "c", "c"]
    values = [1.0, 1.0, 3.0, 3.0, 2.0, 2.0, 2.0, 2.0, 2.5, 2.5, 1.5, 1.5]  # every person's mean is 2
    summary = summary_table(_frames({"m": values}, people), ["l1"])
    row = summary.iloc[0]
    assert row.value == pytest.approx(2.0) and row.n_identities == 3 and row.n_sequences == 6
    assert (row.ci95_low, row.ci95_high) == (2.0, 2.0)  # sequences differ, identities do not


def test_paired_difference_of_a_model_with_itself_is_exactly_zero() -> None:
    people = ["a", "a", "a", "a", "b", "b", "b", "b"]
    rng = np.random.default_rng(1)
    frames = _frames({"ref": list(rng.random(8)), "other": list(rng.random(8) + 0.5)}, people)
    same = pd.concat([frames, frames[frames.model == "ref"].assign(model="twin")], ignore_index=True)
    table = paired_differences(same, ["l1"], "ref", seed=0).set_index("model")
    assert (table.loc["ref", ["difference", "ci95_low", "ci95_high"]] == 0.0).all()
    assert (table.loc["twin", ["difference", "ci95_low", "ci95_high"]] == 0.0).all()
    expected = (frames[frames.model == "other"].l1.to_numpy() - frames[frames.model == "ref"].l1.to_numpy()).mean()
    assert table.loc["other", "difference"] == pytest.approx(expected) and table.loc["other", "n_identities"] == 2
