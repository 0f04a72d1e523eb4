"""Downloading catalogued weight files, verified: what ``bilayer-bench weights fetch`` does.

For each :class:`~bench.weights.catalog.WeightFile` (any entries: the catalogue is passed in, so tests use their
own), into the first weights folder searched (``--weights-dir``, ``$BILAYER_BENCH_WEIGHTS``, the torch hub cache)
at the entry's layout path:

* a file already present and verified (or pinned on first use) is left alone;
* the entry's ``urls`` are tried in order. Bytes go to ``NAME.part`` (its source URL and validator in
  ``NAME.part.json``), resumed with an HTTP ``Range`` request after an interrupted transfer, in this run or a
  later one; a response shorter than its ``Content-Length`` is an interruption, never a finished file;
* Google Drive links go through the virus-scan confirmation step (gdown's parser of that page);
* a ``.bz2`` URL is decompressed; an HTML page served instead of the file is recognised and discarded;
* the result is checked against the published sha256 (or torch hub prefix, or a published md5), then renamed
  into place atomically. Where no hash is published its sha256 is recorded in the folder's lock file
  (:mod:`bench.weights.lock`): "pinned on first use", checked on every later load.

A file that every mirror fails for is a :class:`~bench.errors.WeightsError` of one line naming the file and
each URL tried with its reason.
"""

from __future__ import annotations

import bz2
import contextlib
import hashlib
import importlib.metadata
import json
import os
import re
import sys
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import requests
from tqdm import tqdm

from bench.errors import BenchError, WeightsError
from bench.weights.catalog import WeightFile
from bench.weights.load import html_page
from bench.weights.lock import LockEntry, WeightsLock, record_pin
from bench.weights.resolve import VERIFIED, WeightsLocations, how_to_get, resolve

__all__ = ["FetchResult", "fetch_one", "fetch_weights", "new_session"]

FetchStatus = Literal["downloaded", "present", "failed"]
CHUNK = 64 * 1024  # bytes per read: an interrupted read loses at most this much of what arrived (resumed anyway)
RESUMES = 3  # automatic resumptions of one interrupted transfer, as long as each one makes progress
TIMEOUT = (15.0, 60.0)  # seconds: connect, and between bytes
_DRIVE_HOSTS = frozenset({"drive.google.com", "docs.google.com", "drive.usercontent.google.com"})


@dataclass(frozen=True)
class FetchResult:
    """What happened to one file: ``detail`` is where it came from, or the one-line error."""

    entry: WeightFile
    status: FetchStatus
    path: Path | None
    verification: str  # of the file in place: verified, verified-prefix, pinned-on-first-use, unpinned; or ""
    detail: str


class _MirrorFailed(Exception):
    """One URL did not give the file; the message says why (it goes into the error that lists every mirror)."""


class _Interrupted(Exception):
    """A transfer ended early; the bytes so far are kept in the .part file."""


def new_session() -> requests.Session:
    """A session for downloads: the suite's User-Agent, and no compressed encodings (a Range offset must count
    the bytes written, not those on the wire)."""
    try:
        version = importlib.metadata.version("bilayer-bench")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    session = requests.Session()
    session.headers.update({"User-Agent": f"bilayer-bench/{version} (weights fetch)", "Accept-Encoding": "identity"})
    return session


# --- one transfer ------------------------------------------------------------------------------------------------


def _is_drive(url: str) -> bool:
    return urllib.parse.urlsplit(url).hostname in _DRIVE_HOSTS


def _drive_url(url: str) -> str:
    """``.../file/d/ID/view`` and other share links as the download endpoint ``/uc?id=ID``."""
    from gdown.parse_url import parse_url

    file_id, _ = parse_url(url)
    return f"https://drive.google.com/uc?id={file_id}&export=download" if file_id else url


def _get(session: requests.Session, url: str, headers: dict[str, str]) -> requests.Response:
    """GET ``url``; for Google Drive, answer the virus-scan warning page by following its confirmation link."""
    response = session.get(url, headers=headers, stream=True, timeout=TIMEOUT)
    if not (_is_drive(url) and "text/html" in response.headers.get("Content-Type", "")):
        return response
    from gdown.download import get_url_from_gdrive_confirmation
    from gdown.exceptions import FileURLRetrievalError

    try:
        page = response.text
    finally:
        response.close()
    try:
        confirmed = get_url_from_gdrive_confirmation(page)
    except FileURLRetrievalError as error:
        detail = " ".join(str(error).split())[:160]
        raise _MirrorFailed(f"Google Drive gave no download link ({detail})") from error
    return session.get(confirmed, headers=headers, stream=True, timeout=TIMEOUT)


def _source_of(part: Path) -> dict[str, str]:
    try:
        data = json.loads(part.with_name(part.name + ".json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _content_start(response: requests.Response) -> int | None:
    """The first byte of a 206 answer (``Content-Range: bytes START-END/TOTAL``)."""
    unit, _, span = response.headers.get("Content-Range", "").partition(" ")
    start = span.partition("-")[0]
    return int(start) if unit == "bytes" and start.isdigit() else None


def _transfer(session: requests.Session, url: str, part: Path, label: str, progress: bool) -> None:
    """Download ``url`` into ``part``, continuing it when it holds a prefix of the same URL's body."""
    sidecar = part.with_name(part.name + ".json")
    source = _source_of(part)
    offset = part.stat().st_size if part.is_file() and source.get("url") == url else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    if offset and source.get("validator"):
        headers["If-Range"] = source["validator"]  # a changed remote file is sent whole, never spliced
    with _get(session, url, headers) as response:
        if offset and response.status_code == 416:  # the range is past the end: start afresh
            part.unlink()
            sidecar.unlink(missing_ok=True)
            response.close()
            return _transfer(session, url, part, label, progress)
        if offset and response.status_code == 206 and _content_start(response) != offset:
            raise _MirrorFailed(f"asked for bytes {offset}-, got {response.headers.get('Content-Range')!r}")
        if response.status_code != 206:
            offset = 0  # a whole body (the server ignores Range, or the file changed)
        if response.status_code >= 400:
            raise _MirrorFailed(f"HTTP {response.status_code} {response.reason}".strip())
        length = response.headers.get("Content-Length", "")
        expected = int(length) if length.isdigit() else None
        validator = response.headers.get("ETag", "")
        validator = response.headers.get("Last-Modified", "") if validator.startswith("W/") else validator
        part.parent.mkdir(parents=True, exist_ok=True)
        sidecar.write_text(json.dumps({"url": url, "validator": validator}), encoding="utf-8")
        received = 0
        total = offset + expected if expected is not None else None
        with (
            part.open("ab" if offset else "wb") as out,
            tqdm(
                total=total,
                initial=offset,
                desc=label,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                file=sys.stderr,
                disable=None if progress else True,  # None: only on a terminal
                leave=False,
            ) as bar,
        ):
            try:
                for chunk in response.iter_content(CHUNK):
                    out.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
            except requests.RequestException as error:
                broke = f"the connection broke after {offset + received} bytes ({type(error).__name__})"
                raise _Interrupted(broke) from error
    if expected is not None and received < expected:
        raise _Interrupted(f"the server closed the connection after {offset + received} of {total} bytes")


def _download(session: requests.Session, url: str, part: Path, label: str, progress: bool) -> None:
    """:func:`_transfer` with automatic resumption while each attempt makes progress."""
    for attempt in range(RESUMES + 1):
        before = part.stat().st_size if part.is_file() else 0
        try:
            _transfer(session, url, part, label, progress)
            return
        except _Interrupted as error:
            grew = part.is_file() and part.stat().st_size > before
            if attempt == RESUMES or not grew:
                kept = f"; {part.stat().st_size} bytes kept in {part}, fetch again to resume" if part.is_file() else ""
                raise _MirrorFailed(f"{error}{kept}") from error
        except requests.RequestException as error:
            raise _MirrorFailed(_reason(error)) from error


def _reason(error: requests.RequestException) -> str:
    """A short reason: the operating system's words where there are some ("Connection refused")."""
    text = str(error)
    found = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    detail = found.group(1).strip() if found else (text.splitlines()[0][:160] if text else "")
    return f"{type(error).__name__}: {detail}" if detail else type(error).__name__


# --- verification ----------------------------------------------------------------------------------------------


def _hashes(path: Path) -> tuple[str, str]:
    sha256, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            sha256.update(block)
            md5.update(block)
    return sha256.hexdigest(), md5.hexdigest()


def _unpack(part: Path, target: Path) -> None:
    try:
        with bz2.open(part, "rb") as packed, target.open("wb") as out:
            for block in iter(lambda: packed.read(CHUNK), b""):
                out.write(block)
    except (OSError, EOFError, ValueError) as error:
        target.unlink(missing_ok=True)
        raise _MirrorFailed(f"not a valid .bz2 archive ({error})") from error
    finally:
        part.unlink(missing_ok=True)


def _check(entry: WeightFile, path: Path, pin: LockEntry | None) -> tuple[str, str]:
    """(verification, sha256) of a downloaded file; a wrong one is deleted and raises."""
    sha256, md5 = _hashes(path)
    problem = ""
    if entry.sha256 and sha256 != entry.sha256:
        problem = f"sha256 {sha256} is not the released {entry.sha256}"
    elif entry.sha256_prefix and not sha256.startswith(entry.sha256_prefix):
        problem = f"sha256 {sha256} does not start with the released prefix {entry.sha256_prefix}"
    elif entry.md5 and md5 != entry.md5:
        problem = f"md5 {md5} is not the published {entry.md5}"
    elif not (entry.sha256 or entry.sha256_prefix) and pin is not None and sha256 != pin.sha256:
        problem = f"sha256 {sha256} differs from {pin.sha256} pinned on first use ({pin.pinned_at}, from {pin.url})"
    if problem:
        path.unlink(missing_ok=True)
        raise _MirrorFailed(f"{problem}; deleted")
    if entry.sha256:
        return "verified", sha256
    if entry.sha256_prefix:
        return "verified-prefix", sha256
    return "pinned-on-first-use", sha256


def _from_mirror(session: requests.Session, entry: WeightFile, url: str, folder: Path, progress: bool) -> str:
    """Download, check and put one file in place from one URL; returns its verification."""
    dest = folder / entry.layout_path
    part = dest.with_name(dest.name + ".part")
    _download(session, _drive_url(url) if _is_drive(url) else url, part, entry.filename, progress)
    part.with_name(part.name + ".json").unlink(missing_ok=True)
    page = html_page(part)
    if page is not None:
        part.unlink()
        raise _MirrorFailed(f"served {page} instead of the file; deleted")
    candidate = part
    if urllib.parse.urlsplit(url).path.endswith(".bz2"):
        candidate = dest.with_name(dest.name + ".unpacked")
        _unpack(part, candidate)
    pin = WeightsLock.read(folder).get(entry.name, entry.filename)
    verification, sha256 = _check(entry, candidate, pin)
    os.replace(candidate, dest)
    if verification == "pinned-on-first-use" and pin is None:
        record_pin(folder, LockEntry.now(entry.name, entry.filename, sha256, dest.stat().st_size, url))
    return verification


# --- files ---------------------------------------------------------------------------------------------------------


def _already_there(entry: WeightFile, where: WeightsLocations, dest: Path) -> FetchResult | None:
    found = resolve(entry, where)
    if found.path is None:
        return None
    page = html_page(found.path)
    if page is not None:
        raise WeightsError(
            f"{found.path}: this is {page}, not {entry.filename}; delete it and run `bilayer-bench weights fetch "
            f"{entry.name}` again"
        )
    if found.verification in VERIFIED or found.verification == "pinned-on-first-use":
        return FetchResult(entry, "present", found.path, found.verification, f"already present [{found.source}]")
    if found.verification == "mismatch" and found.path != dest:
        return None  # a bad copy further down the search order: the download goes first in it
    if found.verification == "mismatch":
        raise WeightsError(
            f"{dest}: present but sha256 {found.sha256} does not match {found.expected} ({entry.name}); it is kept "
            f"as it is: delete it and run `bilayer-bench weights fetch {entry.name}` again to replace it"
        )
    note = "no published hash, and not downloaded by fetch so not pinned: delete it and fetch again to pin it"
    return FetchResult(entry, "present", found.path, found.verification, f"already present [{found.source}], {note}")


def fetch_one(
    entry: WeightFile, where: WeightsLocations, *, session: requests.Session | None = None, progress: bool = False
) -> FetchResult:
    """Fetch one file (see the module docstring); raises :class:`WeightsError` when it cannot."""
    _, folder = where.download_folder()
    dest = folder / entry.layout_path
    present = _already_there(entry, where, dest)
    if present is not None:
        return present
    if not entry.urls:
        raise WeightsError(f"{entry.filename} ({entry.name}): {how_to_get(entry)}; put it at {dest}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tried: list[str] = []
    with contextlib.ExitStack() as stack:
        if session is None:
            session = stack.enter_context(new_session())
        for url in entry.urls:
            try:
                verification = _from_mirror(session, entry, url, folder, progress)
            except _MirrorFailed as error:
                tried.append(f"{url} ({error})")
                continue
            return FetchResult(entry, "downloaded", dest, verification, f"from {url}")
    raise WeightsError(
        f"could not fetch {entry.filename} ({entry.name}) into {dest}; tried {len(tried)} URL(s): {'; '.join(tried)}. "
        f"Check the connection and run fetch again (partial downloads resume), or download it by hand from "
        f"{entry.url} to {dest}"
    )


def fetch_weights(
    entries: Iterable[WeightFile],
    where: WeightsLocations,
    *,
    session: requests.Session | None = None,
    progress: bool = False,
) -> list[FetchResult]:
    """:func:`fetch_one` for each entry, in order; a failure is recorded (status ``failed``) and the rest go on."""
    results = []
    with contextlib.ExitStack() as stack:
        if session is None:
            session = stack.enter_context(new_session())
        for entry in entries:
            try:
                results.append(fetch_one(entry, where, session=session, progress=progress))
            except BenchError as error:
                results.append(FetchResult(entry, "failed", None, "", str(error)))
    return results
