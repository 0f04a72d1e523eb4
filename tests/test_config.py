from __future__ import annotations

from pathlib import Path

import pytest

from bench.config import RunConfig, config_to_toml, default_config, load_config, with_overrides
from bench.errors import ConfigError


def test_default_config_is_the_embedded_default() -> None:
    config = default_config()
    assert config.models == ("copy-source", "oracle")
    assert config.data.is_embedded_default
    assert config.protocol.kinds == ("self", "cross")


def test_toml_round_trip(tmp_path: Path) -> None:
    config = with_overrides(default_config(), models=("oracle",), data__root="/x", threads=3)
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
