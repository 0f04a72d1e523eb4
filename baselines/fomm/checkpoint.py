"""Reading and writing FOMM checkpoints in the released on-disk structure (``vox-cpk.pth.tar``).

A released file is a ``dict`` with the keys :data:`TOP_LEVEL_KEYS` in that order, saved by PyTorch 1.0 in the
legacy (non-zip) serialization with CUDA storages. It is read with
``torch.load(path, map_location="cpu", weights_only=True)``: tensors, dicts and numbers only, never arbitrary
pickled objects. ``generator`` and
``kp_detector`` are loaded with strict key and shape matching; discriminator and optimizer entries are ignored.
"""

from __future__ import annotations

import pickle
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = [
    "TOP_LEVEL_KEYS",
    "FommCheckpoint",
    "FommCheckpointError",
    "check_state_dict",
    "read_checkpoint",
    "save_checkpoint",
]

TOP_LEVEL_KEYS = (
    "generator",
    "discriminator",
    "kp_detector",
    "optimizer_generator",
    "optimizer_discriminator",
    "optimizer_kp_detector",
    "epoch",
)
REQUIRED_KEYS = ("generator", "kp_detector")
_LEGACY_MAGIC = b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19"  # pickled magic number of torch's legacy format
_ZIP_MAGIC = b"PK\x03\x04"
_BILAYER_PREFIXES = ("net.", "gen_tex", "prj_tex", "gen_inf", "prj_inf", "identity_grid", "frequencies")
_FIX = "download vox-cpk.pth.tar from the first-order-model README (Google Drive link) and pass its path"
REFUSED = "this file contains code objects; refusing to load it"  # a pickle that weights_only refuses
_SHOWN = 5


class FommCheckpointError(ValueError):
    """A file that cannot serve as a FOMM checkpoint; the message names the file and the fix."""


@dataclass(frozen=True)
class FommCheckpoint:
    path: Path
    generator: Mapping[str, torch.Tensor]
    kp_detector: Mapping[str, torch.Tensor]
    epoch: int | None
    keys: tuple[str, ...]  # top-level keys as found


def _load(path: Path) -> Any:
    if not path.is_file():
        raise FommCheckpointError(f"{path}: no such file; {_FIX}")
    size = path.stat().st_size
    if size == 0:
        raise FommCheckpointError(f"{path}: the file is empty (0 bytes), an interrupted download; {_FIX} again")
    with path.open("rb") as handle:
        head = handle.read(len(_LEGACY_MAGIC))
    torch_file = head.startswith((_LEGACY_MAGIC, _ZIP_MAGIC))
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        if isinstance(error, pickle.UnpicklingError) and "GLOBAL" in str(error):  # code: never run
            raise FommCheckpointError(f"{path}: {REFUSED}; a released checkpoint holds tensors only; {_FIX}") from error
        if torch_file:
            raise FommCheckpointError(
                f"{path}: a PyTorch file that cannot be read ({size} bytes): truncated or corrupted "
                f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else 'end of file'}); {_FIX} again"
            ) from error
        raise FommCheckpointError(
            f"{path}: not a PyTorch checkpoint ({type(error).__name__}); expected first-order-model's "
            f"vox-cpk.pth.tar; {_FIX}"
        ) from error


def _describe(value: Any) -> str:
    if isinstance(value, Mapping):
        keys = list(value)[:_SHOWN]
        return f"a {type(value).__name__} with {len(value)} keys (first: {', '.join(map(str, keys))})"
    return f"a {type(value).__name__}"


def read_checkpoint(path: str | Path) -> FommCheckpoint:
    """Read the released structure and return the ``generator`` and ``kp_detector`` state_dicts."""
    path = Path(path)
    data = _load(path)
    if isinstance(data, Mapping) and data and all(isinstance(k, str) for k in data):
        flat = [k for k in data if isinstance(data[k], torch.Tensor)]
        if flat and sum(k.startswith(_BILAYER_PREFIXES) for k in flat) >= len(flat) / 2:
            raise FommCheckpointError(
                f"{path}: this is a bi-layer model checkpoint (a flat state_dict with keys such as "
                f"{', '.join(flat[:3])}), not a First Order Motion Model one; it belongs to the bi-layer model "
                f"(the bilayer package); for FOMM, {_FIX}"
            )
    missing = [k for k in REQUIRED_KEYS if not isinstance(data, Mapping) or k not in data]
    if missing:
        raise FommCheckpointError(
            f"{path}: not a first-order-model checkpoint: expected a dict with keys {', '.join(TOP_LEVEL_KEYS)}, "
            f"found {_describe(data)} (missing {', '.join(missing)}); {_FIX}"
        )
    for key in REQUIRED_KEYS:
        entry = data[key]
        if not isinstance(entry, Mapping) or not all(isinstance(v, torch.Tensor) for v in entry.values()):
            raise FommCheckpointError(
                f"{path}: entry {key!r} is {_describe(entry)}, expected a state_dict of tensors; {_FIX}"
            )
    epoch = data.get("epoch")
    return FommCheckpoint(
        path, data["generator"], data["kp_detector"], epoch if isinstance(epoch, int) else None, tuple(data)
    )


def check_state_dict(module: nn.Module, found: Mapping[str, torch.Tensor], name: str, path: Path) -> None:
    """Strict comparison of keys and shapes; the error lists the first mismatches and how to fix them."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    shapes = [
        f"{k}: expected {tuple(expected[k].shape)}, found {tuple(found[k].shape)}"
        for k in expected
        if k in found and tuple(found[k].shape) != tuple(expected[k].shape)
    ]
    if not (missing or unexpected or shapes):
        return
    parts = []
    if shapes:
        parts.append(f"{len(shapes)} shape mismatches, first: " + "; ".join(shapes[:_SHOWN]))
    if missing:
        parts.append(f"{len(missing)} missing keys, first: " + ", ".join(missing[:_SHOWN]))
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected keys, first: " + ", ".join(unexpected[:_SHOWN]))
    raise FommCheckpointError(
        f"{path}: the {name!r} weights do not match the configured model ({' | '.join(parts)}); the checkpoint was "
        "made with another config: build the model with that config (FommConfig.from_file('config/<name>.yaml') "
        "from first-order-model), or pass the checkpoint of this config (vox-256: vox-cpk.pth.tar)"
    )


def _optimizer_stub(module: nn.Module) -> dict[str, Any]:
    count = sum(1 for _ in module.parameters())
    group = {
        "lr": 2e-4,
        "betas": (0.5, 0.999),
        "eps": 1e-8,
        "weight_decay": 0,
        "amsgrad": False,
        "initial_lr": 2e-4,
        "params": list(range(count)),
    }
    return {"state": {}, "param_groups": [group]}


def save_checkpoint(
    path: str | Path, generator: nn.Module, kp_detector: nn.Module, *, epoch: int = 0, legacy: bool = True
) -> Path:
    """Write ``generator`` and ``kp_detector`` in the released structure (top-level keys in order; empty
    discriminator and fresh optimizer states), by default in the legacy serialization of the released files."""
    path = Path(path)
    data = {
        "generator": OrderedDict(generator.state_dict()),
        "discriminator": OrderedDict(),
        "kp_detector": OrderedDict(kp_detector.state_dict()),
        "optimizer_generator": _optimizer_stub(generator),
        "optimizer_discriminator": {"state": {}, "param_groups": []},
        "optimizer_kp_detector": _optimizer_stub(kp_detector),
        "epoch": epoch,
    }
    torch.save(data, path, _use_new_zipfile_serialization=not legacy)
    return path
