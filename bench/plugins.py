"""Code of the user's own, found by name: ``module:attribute`` targets and installed entry points.

Both are looked up only when a name is asked for (a model in ``--models``, a metric in ``--metrics``), never at
import time. A target that cannot be imported is one :class:`~bench.errors.ConfigError` naming it and the fix. As
uvicorn and gunicorn do, the current directory is importable, so ``--models examples.my_model:create`` works from
the folder that holds ``examples/`` with the ``bilayer-bench`` script as with ``python -m bench``.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import sys
from dataclasses import dataclass
from typing import Any

from bench.errors import ConfigError

__all__ = ["METRIC_GROUP", "MODEL_GROUP", "EntryPointTarget", "entry_point", "import_target", "installed"]

MODEL_GROUP = "bilayer_bench.models"  # NAME = "package.module:factory"
METRIC_GROUP = "bilayer_bench.metrics"  # NAME = "package.module:METRIC_SPEC" (a bench.metrics.MetricSpec named NAME)


@dataclass(frozen=True)
class EntryPointTarget:
    name: str
    target: str  # "module:attribute"
    distribution: str  # the installed package that declares it ("" when unknown)


def entry_point(group: str, name: str) -> EntryPointTarget | None:
    """The entry point ``name`` of ``group`` that an installed package declares, or None."""
    for found in importlib.metadata.entry_points(group=group, name=name):
        dist = getattr(found, "dist", None)
        return EntryPointTarget(found.name, found.value, dist.name if dist is not None else "")
    return None


def installed(group: str) -> list[EntryPointTarget]:
    """Every entry point of ``group``, by name (for listings)."""
    found = importlib.metadata.entry_points(group=group)
    targets = {
        e.name: EntryPointTarget(e.name, e.value, e.dist.name if getattr(e, "dist", None) is not None else "")
        for e in found
    }
    return [targets[name] for name in sorted(targets)]


def _importable_here() -> None:
    here = os.getcwd()
    if here not in sys.path and "" not in sys.path:
        sys.path.append(here)


def import_target(target: str, what: str) -> Any:
    """The object ``module:attribute`` names; ``what`` says where the name came from (``--models X``)."""
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute or not module_name.replace(".", "").replace("_", "").isalnum():
        raise ConfigError(f"{what}: {target!r} is not of the form package.module:callable")
    _importable_here()
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        raise ConfigError(
            f"{what}: cannot import {module_name} ({error}); run from the folder that holds it, add that folder to "
            "PYTHONPATH, or pip install the package"
        ) from None
    except Exception as error:  # the user's module failed while importing: say so, in one line
        raise ConfigError(f"{what}: importing {module_name} raised {type(error).__name__}: {error}") from None
    try:
        return getattr(module, attribute)
    except AttributeError:
        public = sorted(n for n in vars(module) if not n.startswith("_") and callable(getattr(module, n)))
        defines = ", ".join(public) or "nothing callable"
        raise ConfigError(f"{what}: {module_name} has no attribute {attribute!r}; it defines {defines}") from None
