"""Make ``torchvision`` importable where its compiled extension cannot load.

The only torchvision wheel built for torch 2.13.0 is a CUDA build. On a machine with the CPU build of torch
its ``_C`` extension fails to load, torchvision then skips its operator registrations, but
``torchvision/_meta_registrations.py`` still registers fake kernels for ``torchvision::nms`` and
``torchvision::qnms`` by name, so ``import torchvision`` fails with
``RuntimeError: operator torchvision::nms does not exist``. ``lpips`` and ``pytorch-fid`` import torchvision
(for its model definitions only), so they fail too.

:func:`ensure_torchvision` is the contained fix. Called before torchvision is first imported, it tries to
load the extension exactly as torchvision would; only when that fails does it *declare* the two operator
schemas (no kernels). ``import torchvision`` then succeeds, its pure-Python parts (models, transforms)
work, and calling a compiled operator (``torchvision.ops.nms``, ``roi_align``, ``deform_conv2d``) raises
torchvision's own "Couldn't load custom C++ ops" error, because torchvision still knows the extension is
missing. Where the extension loads (a matching torchvision build, or a GPU machine), nothing is declared.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import logging
import sys
from pathlib import Path
from typing import Literal

import torch

__all__ = ["TorchvisionStatus", "ensure_torchvision", "torchvision_status"]

logger = logging.getLogger(__name__)

TorchvisionStatus = Literal["native", "declared", "absent", "imported"]

# Schemas as torchvision's C++ library defines them (torchvision/csrc/ops/nms.cpp and the quantized op).
_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)
_library: torch.library.Library | None = None  # kept alive: dropping it would undefine the schemas
_status: TorchvisionStatus | None = None


def _extension_path(package_dir: Path) -> Path | None:
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = package_dir / f"_C{suffix}"
        if candidate.is_file():
            return candidate
    return None


def _operator_exists(name: str) -> bool:
    return hasattr(torch.ops.torchvision, name)


def ensure_torchvision() -> TorchvisionStatus:
    """Prepare ``import torchvision`` on this machine; idempotent.

    Returns ``"native"`` when the compiled extension loads, ``"declared"`` when the missing operator schemas
    were declared, ``"absent"`` when torchvision is not installed, and ``"imported"`` when torchvision was
    already imported before this call (nothing can be done then, and nothing needs to be).
    """
    global _library, _status
    if _status is not None:
        return _status
    if "torchvision" in sys.modules:
        _status = "imported"
        return _status
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        _status = "absent"
        return _status
    extension = _extension_path(Path(next(iter(spec.submodule_search_locations))))
    if extension is not None:
        try:
            torch.ops.load_library(str(extension))
        except (OSError, RuntimeError) as error:
            logger.info("torchvision extension %s does not load (%s); declaring its schemas", extension, error)
        else:
            _status = "native"
            return _status
    missing = [schema for schema in _SCHEMAS if not _operator_exists(schema.split("(", 1)[0])]
    if missing:
        _library = torch.library.Library("torchvision", "FRAGMENT")
        for schema in missing:
            _library.define(schema)
    _status = "declared"
    return _status


def torchvision_status() -> TorchvisionStatus | None:
    """What :func:`ensure_torchvision` found, or ``None`` before it ran (for run records)."""
    return _status
