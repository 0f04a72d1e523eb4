from __future__ import annotations

import pytest

from bench.errors import RegistryError
from bench.models import MODELS
from bench.registry import Registry, import_object


def test_did_you_mean() -> None:
    with pytest.raises(RegistryError, match=r"unknown model 'orcale'\. Did you mean 'oracle'\?"):
        MODELS.get("orcale")


def test_listing_by_pattern_and_duplicates() -> None:
    registry: Registry[int] = Registry("thing")
    registry.register("a.tiny", 1)
    registry.register("a.full", 2)
    registry.register("b", 3)
    assert registry.names("a.*") == ["a.full", "a.tiny"]
    with pytest.raises(ValueError, match="already registered"):
        registry.register("b", 4)


def test_import_object() -> None:
    assert import_object("bench.registry:Registry") is Registry
    with pytest.raises(ValueError, match="module:attribute"):
        import_object("bench.registry")
