"""Reading a weight file safely: ``torch.load(weights_only=True)`` with one clear error for unreadable files."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

from bench.errors import WeightsError

__all__ = ["load_state_dict"]

# What torch's weights-only unpickler raises on truncated, corrupt or foreign files
UNREADABLE = (RuntimeError, EOFError, OSError, ValueError, IndexError, pickle.UnpicklingError)


def load_state_dict(path: Path, what: str, fix: str) -> dict[str, Any]:
    """The state_dict in ``path``; a file that does not read as a dict is a :class:`WeightsError` naming
    ``what`` it should be and the ``fix``."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except UNREADABLE as error:
        detail = str(error).splitlines()[0][:120] if str(error) else ""
        raise WeightsError(
            f"{path}: cannot read {what} ({type(error).__name__}: {detail}); the file is truncated or not a "
            f"torch checkpoint: {fix}"
        ) from error
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: expected a state_dict for {what}, got {type(state).__name__}; {fix}")
    return state
