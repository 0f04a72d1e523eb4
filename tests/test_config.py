from __future__ import annotations

from pathlib import Path

import pytest

from bench.config import RunConfig, config_to_toml, default_config, load_config, with_overrides
from bench.errors import ConfigError


def test_default_config_is_the_main_job() -> None:
    config = default_config()
    assert config.models == ("copy-source", "oracle", "bilayer.paper", "fomm.vox256")
    assert config.data.is_embedded_default
    assert config.protocol.kinds == ("self", "cross")
    assert config.random_weights == "missing" and config.latency.measure and config.report
    assert "short settings" in config.latency.label


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("random_weights = 'maybe'", r'random_weights must be true, false or "missing"'),
        ("sample_jobs = 'some'", r"sample_jobs: 'some' is not one of 'first', 'all'"),
        ("[latency]\nframe_runs = 0", r"latency.frame_runs must be >= 1"),
        ("[latency]\nframe_min_time = -1", r"latency.frame_min_time must be >= 0"),
        ("[latency]\nbogus = 1", r"unknown key\(s\) bogus"),
        ("report = 1", r"report: expected true or false"),
    ],
)
def test_main_job_keys_are_checked(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_random_weights_where_missing(tmp_path: Path) -> None:
    """"missing": random weights when a file is not found; a file found but refused stays an error."""
    from bench.errors import WeightsError
    from bench.models import create_model
    from bench.weights import WeightsLocations
    from bench.weights.load import checkpoint_errors

    empty = WeightsLocations.from_environment(str(tmp_path))
    assert create_model("fomm.vox256", empty, random_weights="missing").weights_label == "random"
    assert create_model("copy-source", empty, random_weights="missing").weights_label == "none"
    (tmp_path / "vox-cpk.pth.tar").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="not a PyTorch checkpoint"), checkpoint_errors():
        create_model("fomm.vox256", WeightsLocations.from_environment(str(tmp_path)), random_weights="missing")


def test_toml_round_trip(tmp_path: Path) -> None:
    config = with_overrides(default_config(), models=("oracle",), data__root="/x", threads=3, latency__rounds=3)
    path = tmp_path / "c.toml"
    path.write_text(config_to_toml(config))
    assert load_config(path) == config


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bogus = 1", r"unknown key\(s\) bogus; allowed: .*models"),
        ("[data]\nlayout = 'vid2vid'", r"data.layout: 'vid2vid' is not one of 'bilayer', 'fomm'"),
        ("threads = 'two'", r"threads: expected an integer"),
        ("models = 'oracle'", r"models: expected a list"),
        ("models = []", r"lists no models"),
        ("data = 3", r"data: expected a table"),
        ("x = [", r"not valid TOML"),
    ],
)
def test_bad_configs_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")


def test_frozen() -> None:
    config = RunConfig()
    with pytest.raises(AttributeError):
        config.name = "x"  # type: ignore[misc]
