"""The suite's one atomic file writer: whoever reads a path sees the old file or the whole new one, never a part.

Run records, prepared data sets' records and manifests, the weights lock file, cached masks, reports and
reference statistics are all written by :func:`atomic_write`. It needs only the standard library and
:mod:`bench.csvfile`, so that any module can use it without importing the run records' dependencies.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from bench.csvfile import neutralise

__all__ = ["DISK_FULL", "atomic_write"]

DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
"""The ``errno`` values of a full disk or an exhausted quota (the CLI names the file and the run to resume)."""


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def atomic_write(path: Path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` atomically: to a temporary file of a unique name in the same folder, flushed and
    fsynced, then renamed over ``path`` (``os.replace``); a failure removes the temporary file and leaves ``path``
    as it was. Parent folders are created. Text is written as UTF-8; the text of a ``.csv`` file has its
    spreadsheet formulas neutralised (:func:`bench.csvfile.neutralise`). The file gets the permissions ``open``
    would give it (``0o666`` less the umask)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str) and path.suffix.lower() == ".csv":
        data = neutralise(data)
    # backslashreplace: a file name that is not valid UTF-8 (a lone surrogate) is written escaped, not a crash
    payload = data.encode("utf-8", "backslashreplace") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the file the permissions open() would
        os.replace(tmp, path)
    except BaseException as error:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(error, OSError) and error.errno in DISK_FULL and error.filename is None:
            error.filename = str(path)  # the CLI's "disk full" line names the file (and the run to resume)
        raise
