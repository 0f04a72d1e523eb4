"""`bilayer-bench weights fetch`: downloads from a local HTTP server that each test starts on 127.0.0.1.

The catalogue entries are the tests' own (never the real URLs). The server serves a good file, a wrong one, a
truncated response (Content-Length larger than the body, then the connection closed), an HTML page instead of a
checkpoint, a 404, a Google Drive style confirmation page, a .bz2; it honours Range where asked to. Sockets stay
restricted to 127.0.0.1 in every test here (pytest-socket's allow_hosts), as the rest of the suite is offline.
"""

from __future__ import annotations

import bz2
import hashlib
import json
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import pytest_socket

import bench.weights.cli as weights_cli
from bench.cli import main
from bench.errors import WeightsError
from bench.registry import Registry
from bench.weights import LOCK_NAME, WeightFile, WeightsLocations, fetch, require, resolve
from bench.weights.fetch import fetch_one, fetch_weights
from bench.weights.load import load_state_dict

pytestmark = pytest.mark.allow_hosts(["127.0.0.1"])

PAYLOAD = bytes(range(256)) * (4 * fetch.CHUNK // 256)  # 256 kB of "weights": four reads
HALF = len(PAYLOAD) // 2  # where truncated responses stop (whole reads: what arrived is all kept)
SHA = hashlib.sha256(PAYLOAD).hexdigest()
DRIVE_WARNING = (
    b"<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head><body>"
    b"<p>Google Drive can't scan this file for viruses.</p><a href='#'>Download anyway</a>"
    + b" " * 1800
    + b"</body></html>"
)


@dataclass
class Route:
    body: bytes
    mode: str = "ok"  # ok (honours Range) | truncate (always) | truncate-once | 404 | no-range
    content_type: str = "application/octet-stream"
    served: int = 0


@dataclass
class Server:
    base: str
    routes: dict[str, Route]
    log: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range header)

    def url(self, path: str) -> str:
        return self.base + path


def _handler(server: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            path = urllib.parse.urlsplit(self.path).path
            server.log.append((path, self.headers.get("Range")))
            route = server.routes.get(path)
            if route is None or route.mode == "404":
                self.send_error(404, "Not Found")
                return
            route.served += 1
            body, start = route.body, 0
            wanted = self.headers.get("Range", "")
            ranged = route.mode == "ok" or (route.mode == "truncate-once" and route.served > 1)
            if wanted.startswith("bytes=") and ranged:
                start = int(wanted.removeprefix("bytes=").partition("-")[0])
            self.send_response(206 if start else 200)
            self.send_header("Content-Type", route.content_type)
            self.send_header("Content-Length", str(len(body) - start))
            self.send_header("ETag", f'"{hashlib.sha256(body).hexdigest()[:16]}"')
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            self.end_headers()
            cut = route.mode == "truncate" or (route.mode == "truncate-once" and route.served == 1)
            self.wfile.write(body[start : len(body) // 2] if cut else body[start:])
            self.wfile.flush()
            self.close_connection = True

    return Handler


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    state = Server("", {})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


@pytest.fixture
def refused_url() -> str:
    """A loopback port with nothing listening: connections to it are refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/vox-cpk.pth.tar"


def _entry(name: str = "test.good", urls: tuple[str, ...] = (), **fields: object) -> WeightFile:
    return WeightFile(
        name=name,
        filename=f"{name.replace('.', '-')}.pth",
        url="https://example.invalid/release (test catalogue)",
        purpose="a test network",
        origin="tests",
        licence="none",
        urls=urls,
        **fields,  # type: ignore[arg-type]
    )


def _where(tmp_path: Path) -> WeightsLocations:
    return WeightsLocations(weights_dir=tmp_path / "weights", use_packages=False)


def test_only_loopback_is_reachable_here() -> None:
    assert socket.socket.connect is not pytest_socket._true_connect  # every connect goes through the guard


def test_good_file_is_downloaded_verified_and_renamed_into_place(server: Server, tmp_path: Path) -> None:
    server.routes["/good.pth"] = Route(PAYLOAD)
    entry = _entry(urls=(server.url("/good.pth"),), sha256=SHA)
    result = fetch_one(entry, _where(tmp_path))
    dest = tmp_path / "weights" / entry.filename
    assert (result.status, result.verification, result.path) == ("downloaded", "verified", dest)
    assert dest.read_bytes() == PAYLOAD
    assert sorted(p.name for p in dest.parent.iterdir()) == [entry.filename]  # no .part, no lock (hash published)
    again = fetch_one(entry, _where(tmp_path))  # already there: nothing downloaded
    assert again.status == "present" and len(server.log) == 1


@pytest.mark.parametrize("pin", ["sha256", "sha256_prefix", "md5"])
def test_a_file_with_the_wrong_hash_is_deleted_and_named(server: Server, tmp_path: Path, pin: str) -> None:
    server.routes["/other.pth"] = Route(PAYLOAD[::-1])
    value = {"sha256": SHA, "sha256_prefix": SHA[:8], "md5": hashlib.md5(PAYLOAD).hexdigest()}[pin]
    entry = _entry(urls=(server.url("/other.pth"),), **{pin: value})
    with pytest.raises(WeightsError, match=r"could not fetch test-good.pth .*other.pth \((sha256|md5) .*deleted\)"):
        fetch_one(entry, _where(tmp_path))
    assert not any((tmp_path / "weights").iterdir())


def test_a_truncated_response_is_kept_as_part_and_resumed_by_the_next_run(server: Server, tmp_path: Path) -> None:
    server.routes["/cut.pth"] = Route(PAYLOAD, mode="truncate")
    entry = _entry(urls=(server.url("/cut.pth"),), sha256=SHA)
    part = tmp_path / "weights" / f"{entry.filename}.part"
    with pytest.raises(WeightsError, match=rf"after {HALF} (of {len(PAYLOAD)} )?bytes.*{HALF} bytes kept in .*\.part"):
        fetch_one(entry, _where(tmp_path))
    assert part.read_bytes() == PAYLOAD[:HALF]
    assert not (tmp_path / "weights" / entry.filename).exists()
    server.routes["/cut.pth"].mode = "ok"  # the server recovers and honours Range
    result = fetch_one(entry, _where(tmp_path))
    assert (result.status, result.verification) == ("downloaded", "verified")
    assert server.log[-1] == ("/cut.pth", f"bytes={HALF}-") and not part.exists()
    assert (tmp_path / "weights" / entry.filename).read_bytes() == PAYLOAD


def test_an_interrupted_transfer_resumes_with_range_in_the_same_run(server: Server, tmp_path: Path) -> None:
    server.routes["/flaky.pth"] = Route(PAYLOAD, mode="truncate-once")
    entry = _entry(urls=(server.url("/flaky.pth"),), sha256=SHA)
    assert fetch_one(entry, _where(tmp_path)).verification == "verified"
    assert server.log == [("/flaky.pth", None), ("/flaky.pth", f"bytes={HALF}-")]


def test_a_part_from_another_url_is_not_spliced(server: Server, tmp_path: Path) -> None:
    server.routes["/good.pth"] = Route(PAYLOAD)
    entry = _entry(urls=(server.url("/good.pth"),), sha256=SHA)
    part = tmp_path / "weights" / f"{entry.filename}.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"x" * 100)
    part.with_name(part.name + ".json").write_text(json.dumps({"url": "http://127.0.0.1:9/else", "validator": ""}))
    assert fetch_one(entry, _where(tmp_path)).verification == "verified"
    assert server.log == [("/good.pth", None)]  # downloaded whole


def test_an_html_page_instead_of_a_checkpoint_is_refused_on_fetch(server: Server, tmp_path: Path) -> None:
    server.routes["/vox-cpk.pth.tar"] = Route(DRIVE_WARNING, content_type="text/html; charset=utf-8")
    entry = _entry("test.unpinned", urls=(server.url("/vox-cpk.pth.tar"),))
    with pytest.raises(WeightsError, match=r"served Google Drive's virus-scan warning page \(2 kB\) instead of"):
        fetch_one(entry, _where(tmp_path))
    assert not any((tmp_path / "weights").iterdir())  # nothing kept, nothing pinned


def test_an_html_page_saved_as_the_checkpoint_is_refused_on_load(tmp_path: Path) -> None:
    weights = tmp_path / "weights"
    weights.mkdir()
    saved = weights / "vox-cpk.pth.tar"
    saved.write_bytes(DRIVE_WARNING)
    with pytest.raises(WeightsError, match=r"this is Google Drive's virus-scan warning page \(2 kB\), not vox-cpk"):
        require("fomm.vox-cpk", WeightsLocations(weights_dir=weights))
    with pytest.raises(WeightsError, match=r"weights fetch fomm.vox-cpk"):
        require("fomm.vox-cpk", WeightsLocations(weights_dir=weights))
    with pytest.raises(WeightsError, match=r"this is Google Drive's virus-scan warning page .*: download it"):
        load_state_dict(saved, "FOMM's checkpoint", "download it again")


def test_the_first_mirrors_fail_and_the_next_one_works(server: Server, tmp_path: Path, refused_url: str) -> None:
    server.routes["/good.pth"] = Route(PAYLOAD)
    urls = (refused_url, server.url("/missing.pth"), server.url("/good.pth"))
    result = fetch_one(_entry(urls=urls, sha256=SHA), _where(tmp_path))
    assert result.status == "downloaded" and result.detail == f"from {server.url('/good.pth')}"
    assert [path for path, _ in server.log] == ["/missing.pth", "/good.pth"]


def test_unpinned_file_is_pinned_on_first_use_then_a_tampered_copy_is_an_error(server: Server, tmp_path: Path) -> None:
    server.routes["/model.pth"] = Route(PAYLOAD)
    entry = _entry("test.unpinned", urls=(server.url("/model.pth"),))
    where = _where(tmp_path)
    assert fetch_one(entry, where).verification == "pinned-on-first-use"
    lock = json.loads((tmp_path / "weights" / LOCK_NAME).read_text())
    assert lock["schema"] == "bilayer-bench.weights-lock/1"
    assert lock["files"]["test.unpinned"]["sha256"] == SHA
    assert lock["files"]["test.unpinned"]["url"] == server.url("/model.pth")
    found = resolve(entry, where)
    assert found.verification == "pinned-on-first-use" and found.expected == SHA
    record = found.provenance()
    assert record["verification"] == "pinned-on-first-use"
    assert record["pinned_on_first_use"]["sha256"] == SHA  # type: ignore[index]
    assert require(entry, where).verification == "pinned-on-first-use"

    dest = tmp_path / "weights" / entry.filename
    dest.write_bytes(PAYLOAD[:-1] + b"!")
    tampered = hashlib.sha256(dest.read_bytes()).hexdigest()
    assert resolve(entry, where).verification == "mismatch"
    with pytest.raises(WeightsError, match=rf"{tampered} differs from {SHA}, recorded for test-unpinned.pth when .*"):
        require(entry, where)
    with pytest.raises(WeightsError, match=r"delete it and run `bilayer-bench weights fetch test.unpinned`"):
        require(entry, where)
    with pytest.raises(WeightsError, match=rf"present but sha256 {tampered} does not match {SHA}"):
        fetch_one(entry, where)  # the tampered file is kept as it is, never overwritten silently
    assert require(entry, replace(where, accept_mismatch=True)).verification == "mismatch"

    dest.unlink()  # fetched again: the new download must match the pin
    server.routes["/model.pth"].body = PAYLOAD[::-1]
    with pytest.raises(WeightsError, match=r"differs from .* pinned on first use"):
        fetch_one(entry, where)


def test_a_bz2_mirror_is_unpacked_and_verified(server: Server, tmp_path: Path) -> None:
    server.routes["/model.dat.bz2"] = Route(bz2.compress(PAYLOAD))
    entry = _entry(urls=(server.url("/model.dat.bz2"),), sha256=SHA)
    assert fetch_one(entry, _where(tmp_path)).verification == "verified"
    assert (tmp_path / "weights" / entry.filename).read_bytes() == PAYLOAD


def test_google_drive_confirmation_page_is_followed(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fetch, "_DRIVE_HOSTS", frozenset({"127.0.0.1"}))  # the local server plays Google Drive
    form = (
        f'<form id="download-form" action="{server.url("/download")}" method="get">'
        '<input type="hidden" name="id" value="FILEID"><input type="hidden" name="confirm" value="t"></form>'
    )
    page = f"<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head><body>{form}</body>"
    server.routes["/uc"] = Route(page.encode(), content_type="text/html; charset=utf-8")
    server.routes["/download"] = Route(PAYLOAD)
    entry = _entry(urls=(server.url("/uc?id=FILEID"),), sha256=SHA)
    assert fetch_one(entry, _where(tmp_path)).verification == "verified"
    assert [path for path, _ in server.log] == ["/uc", "/download"]


# --- the command line --------------------------------------------------------------------------------------------


@pytest.fixture
def catalogue(server: Server, monkeypatch: pytest.MonkeyPatch) -> Registry[WeightFile]:
    """The command's catalogue replaced by test entries pointing at the local server (never the real URLs)."""
    server.routes["/good.pth"] = Route(PAYLOAD)
    server.routes["/free.pth"] = Route(PAYLOAD[::-1])
    registry: Registry[WeightFile] = Registry("weight file")
    for entry in (
        _entry("test.good", urls=(server.url("/good.pth"),), sha256=SHA),
        _entry("test.free", urls=(server.url("/free.pth"),)),
        _entry("test.manual"),
    ):
        registry.register(entry.name, entry)
    monkeypatch.setattr(weights_cli, "WEIGHTS", registry)
    return registry


def test_cli_fetches_every_file_with_a_url_and_lists_them(
    catalogue: Registry[WeightFile], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "weights"
    assert main(["weights", "fetch", "--weights-dir", str(folder), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"downloading into {folder} [--weights-dir]" in out
    assert "test.good" in out and "verified (sha256)" in out
    assert "test.free" in out and "pinned on first use" in out
    assert "no direct download for test.manual" in out
    assert main(["weights", "--weights-dir", str(folder)]) == 0
    listing = capsys.readouterr().out
    rows = {line.split()[0]: line for line in listing.splitlines() if line.startswith("test.")}
    assert "verified (sha256)" in rows["test.good"] and "pinned on first use" in rows["test.free"]
    assert "missing" in rows["test.manual"] and "fetch: no direct download" in listing
    assert f"lock file (pinned on first use): {folder / LOCK_NAME}: test.free" in listing
    (folder / "test-free.pth").write_bytes(b"changed")
    main(["weights", "--weights-dir", str(folder)])
    assert "HASH MISMATCH" in capsys.readouterr().out


def test_cli_failure_of_every_mirror_is_one_line_naming_the_file_and_urls(
    catalogue: Registry[WeightFile],
    server: Server,
    tmp_path: Path,
    refused_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    catalogue.register("test.down", _entry("test.down", urls=(refused_url, server.url("/gone.pth"))))
    assert main(["weights", "fetch", "test.down", "--weights-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("bilayer-bench: error: could not fetch test-down.pth (test.down)")
    assert refused_url in err[0] and server.url("/gone.pth") in err[0] and "HTTP 404" in err[0]


def test_cli_named_file_without_direct_download_says_how_to_get_it(
    catalogue: Registry[WeightFile], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["weights", "fetch", "test.manual", "--weights-dir", str(tmp_path)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "download it from https://example.invalid/release" in line and "cannot" in line
    assert f"put it at {tmp_path / 'test-manual.pth'}" in line


def test_cli_unknown_name_suggests_one(catalogue: Registry[WeightFile], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["weights", "fetch", "test.god"]) == 2
    assert "Did you mean 'test.good'" in capsys.readouterr().err


def test_fetch_weights_collects_failures_and_goes_on(catalogue: Registry[WeightFile], tmp_path: Path) -> None:
    results = fetch_weights([catalogue.get("test.manual"), catalogue.get("test.good")], _where(tmp_path))
    assert [r.status for r in results] == ["failed", "downloaded"]


def test_a_broken_lock_file_is_one_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / LOCK_NAME).write_text("{not json")
    (folder / "test-free.pth").write_bytes(PAYLOAD)
    with pytest.raises(WeightsError, match=rf"{LOCK_NAME}: the weights lock file cannot be read .*delete"):
        resolve(_entry("test.free"), _where(tmp_path))
