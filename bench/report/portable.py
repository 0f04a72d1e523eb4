"""Machine-specific paths in a report's text written so that a committed report reads the same on every machine.

``bilayer-bench report --portable`` (what ``nox -s report`` uses for ``reports/default/``) writes, in the rendered
pages and tables: the Python environment's package folders as ``$SITE_PACKAGES``, each run's parent folder as
``bench-runs``, the home folder as ``~``; the copies under ``records/`` the same way (without ``--portable`` they
are byte for byte what the run wrote).
"""

from __future__ import annotations

import site
import sysconfig
from collections.abc import Sequence
from pathlib import Path

__all__ = ["path_replacements", "portable_text"]


def path_replacements(runs: Sequence[Path]) -> list[tuple[str, str]]:
    """(prefix, replacement) pairs, longest prefix first, so that the most specific one wins."""
    pairs: dict[str, str] = {}
    packages = {sysconfig.get_paths()[key] for key in ("purelib", "platlib")} | set(site.getsitepackages())
    for folder in packages:
        pairs[str(Path(folder).resolve())] = "$SITE_PACKAGES"
        pairs[str(Path(folder))] = "$SITE_PACKAGES"
    for run in runs:
        for form in (Path(run).resolve().parent, Path(run).absolute().parent):
            pairs[str(form)] = "bench-runs"
    pairs[str(Path.home())] = "~"
    return sorted(pairs.items(), key=lambda pair: len(pair[0]), reverse=True)


def portable_text(text: str, replacements: Sequence[tuple[str, str]]) -> str:
    """``text`` with every prefix replaced where it starts a path (followed by ``/`` or the end of a path)."""
    for prefix, replacement in replacements:
        if len(prefix) > 1:
            text = text.replace(prefix + "/", replacement + "/").replace(prefix + ")", replacement + ")")
    return text
