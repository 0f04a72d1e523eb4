"""Comparing our arrays with golden ones and printing the verdict."""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bench.errors import DataError
from bench.table import format_table

__all__ = ["Comparison", "compare", "format_comparisons", "load_case_arrays"]


def load_case_arrays(npz: Path, fix: str) -> dict[str, np.ndarray]:
    """Every array of a case's ``cases.npz``, never unpickling: an object array (a pickle) or an unreadable
    archive is a :class:`DataError` naming the file and ``fix``."""
    if not npz.is_file():
        raise DataError(npz, "missing", fix)
    try:
        with np.load(npz, allow_pickle=False) as data:
            if not isinstance(data, np.lib.npyio.NpzFile):
                raise DataError(npz, "is a single .npy array, not an .npz archive of named arrays", fix)
            return {name: data[name] for name in data.files}
    except ValueError as error:  # numpy refuses object arrays and pickles without allow_pickle
        problem = "holds an object array (a pickle); refusing to load it" if "pickle" in str(error) else str(error)
        raise DataError(npz, problem, fix) from error
    except (OSError, EOFError, zipfile.BadZipFile) as error:
        raise DataError(npz, f"cannot read the archive ({error}): truncated or not an .npz", fix) from error


@dataclass(frozen=True)
class Comparison:
    name: str
    shape: tuple[int, ...]
    max_abs_error: float
    tolerance: float
    note: str = ""

    @property
    def passed(self) -> bool:
        return self.max_abs_error <= self.tolerance


def compare(
    name: str, ours: np.ndarray | torch.Tensor, golden: np.ndarray, tolerance: float, note: str = ""
) -> Comparison:
    """Max absolute difference after checking shapes; a shape mismatch or a NaN counts as an infinite error."""
    array = ours.detach().cpu().numpy() if isinstance(ours, torch.Tensor) else np.asarray(ours)
    golden = np.asarray(golden)
    if array.shape != golden.shape:
        array = array.reshape(golden.shape) if array.size == golden.size else array
    if array.shape != golden.shape:
        return Comparison(name, tuple(golden.shape), float("inf"), tolerance, f"shape {array.shape} != {golden.shape}")
    if array.size == 0:
        return Comparison(name, tuple(golden.shape), 0.0, tolerance, note)
    error = np.abs(array.astype(np.float64) - golden.astype(np.float64))
    worst = float("inf") if np.isnan(error).any() else float(error.max())
    return Comparison(name, tuple(golden.shape), worst, tolerance, note)


def format_comparisons(rows: Sequence[Comparison]) -> str:
    header = ("array", "shape", "max abs error", "tolerance", "verdict")
    lines = [
        (
            r.name,
            "x".join(map(str, r.shape)),
            f"{r.max_abs_error:.3e}",
            f"{r.tolerance:.0e}",
            ("ok" if r.passed else "FAIL") + (f" ({r.note})" if r.note else ""),
        )
        for r in rows
    ]
    render = format_table(header, lines, "<<>>")
    failed = sum(not r.passed for r in rows)
    render.append(
        f"{len(rows) - failed} of {len(rows)} arrays within tolerance" + (f"; {failed} FAILED" if failed else "")
    )
    return "\n".join(render)
