"""Reading a weight file safely: ``torch.load(weights_only=True)`` with one clear error for unreadable files.

Also the boundary between the model packages and the suite: ``bilayer`` and ``baselines`` never import ``bench``,
so their checkpoint errors are ``ValueError`` subclasses; :func:`checkpoint_errors` turns them into
:class:`~bench.errors.WeightsError` where the suite calls their loaders, so that the CLI prints them as one line.

A web page saved in place of a checkpoint (Google Drive's virus-scan warning for large files, a login or quota
page) is recognised by :func:`html_page` before anything is unpickled: by every checkpoint read here, by
:func:`bench.weights.resolve.require` (so also before the model packages' own readers) and by ``weights fetch``.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.errors import WeightsError

__all__ = ["REFUSED", "checkpoint_errors", "html_page", "load_state_dict", "reject_html_page"]

# What torch's weights-only unpickler raises on truncated, corrupt or foreign files
UNREADABLE = (RuntimeError, EOFError, OSError, ValueError, IndexError, pickle.UnpicklingError)
REFUSED = "this file contains code objects; refusing to load it"
_HTML_STARTS = (b"<!doctype html", b"<html", b"<head")
_SNIFF_BYTES = 64 * 1024


def html_page(path: Path) -> str | None:
    """What ``path`` is if it holds an HTML page instead of binary weights (None otherwise), e.g.
    ``"Google Drive's virus-scan warning page (2 kB)"``."""
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    if not head.lstrip(b"\xef\xbb\xbf \t\r\n").lower().startswith(_HTML_STARTS):
        return None
    size = f"{max(1, round(path.stat().st_size / 1024))} kB"
    text = head.lower()
    if not any(mark in text for mark in (b"google drive", b"drive.google.com", b"drive.usercontent.google.com")):
        return f"a web page ({size})"
    if b"virus" in text or b"download anyway" in text:
        return f"Google Drive's virus-scan warning page ({size})"
    return f"a Google Drive web page ({size}: a quota, permission or sign-in page)"


def reject_html_page(path: Path, what: str, fix: str) -> None:
    """A :class:`WeightsError` if ``path`` is an HTML page: it names the page, what the file should be, the fix."""
    page = html_page(path)
    if page is not None:
        raise WeightsError(f"{path}: this is {page}, not {what}; the page was saved in place of the file: {fix}")


@contextmanager
def checkpoint_errors() -> Iterator[None]:
    """Inside: the bi-layer and FOMM checkpoint readers' errors (and FOMM config errors) become
    :class:`WeightsError` with the same message (it names the file and the fix)."""
    from baselines.fomm.checkpoint import FommCheckpointError
    from baselines.fomm.config import FommConfigError
    from bilayer.checkpoint import BilayerCheckpointError

    try:
        yield
    except (BilayerCheckpointError, FommCheckpointError, FommConfigError) as error:
        raise WeightsError(str(error)) from error


def load_state_dict(path: Path, what: str, fix: str) -> dict[str, Any]:
    """The state_dict in ``path``; a file that does not read as a dict is a :class:`WeightsError` naming
    ``what`` it should be and the ``fix``. A pickle that the weights-only unpickler refuses because it
    would import code (an arbitrary ``GLOBAL``) is never loaded: :data:`REFUSED`."""
    import torch

    if path.is_file() and path.stat().st_size == 0:
        raise WeightsError(f"{path}: the file is empty (0 bytes), an interrupted download of {what}: {fix}")
    if path.is_file():
        reject_html_page(path, what, fix)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "GLOBAL" in str(error):
            raise WeightsError(f"{path}: {REFUSED} (expected {what}): {fix}") from error
        raise WeightsError(f"{path}: cannot read {what}: not a torch checkpoint: {fix}") from error
    except UNREADABLE as error:
        detail = str(error).splitlines()[0][:120] if str(error) else ""
        raise WeightsError(
            f"{path}: cannot read {what} ({type(error).__name__}: {detail}); the file is truncated or not a "
            f"torch checkpoint: {fix}"
        ) from error
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: expected a state_dict for {what}, got {type(state).__name__}; {fix}")
    return state
