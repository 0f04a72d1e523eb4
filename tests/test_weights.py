"""Weights registry: resolution order, verification, and errors that name the file and the fix."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from bench.cli import main
from bench.errors import WeightsError
from bench.weights import WEIGHTS, WeightFile, WeightsLocations, require, resolve

ENTRY = WeightFile(
    name="test.net",
    filename="net-abc.pth",
    relpath="runs/exp/checkpoints/net-abc.pth",
    url="https://example.invalid/net-abc.pth",
    purpose="a test network",
    origin="tests",
    licence="none",
)


def _write(path: Path, payload: bytes = b"weights") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(payload)
    return path


def test_missing_file_error_names_file_and_where_to_put_it(tmp_path: Path) -> None:
    where = WeightsLocations(weights_dir=tmp_path)
    assert resolve(ENTRY, where).verification == "missing"
    with pytest.raises(
        WeightsError,
        match=r"net-abc.pth .* not found; searched --weights-dir .* "
        r"put it at WEIGHTS_DIR/runs/exp/checkpoints/net-abc.pth.*--random-weights",
    ):
        require(ENTRY, where)


def test_found_by_release_path_or_bare_name(tmp_path: Path) -> None:
    _write(tmp_path / "a" / "runs/exp/checkpoints/net-abc.pth")
    _write(tmp_path / "b" / "net-abc.pth")
    assert (
        resolve(ENTRY, WeightsLocations(weights_dir=tmp_path / "a")).path
        == tmp_path / "a/runs/exp/checkpoints/net-abc.pth"
    )
    found = resolve(ENTRY, WeightsLocations(weights_dir=tmp_path / "b"))
    assert found.path == tmp_path / "b/net-abc.pth" and found.verification == "unpinned"


def test_resolution_order(tmp_path: Path) -> None:
    explicit = _write(tmp_path / "explicit.pth")
    for folder in ("dir", "env", "hub"):
        _write(tmp_path / folder / "net-abc.pth")
    full = WeightsLocations({"test.net": explicit}, tmp_path / "dir", tmp_path / "env", tmp_path / "hub")
    assert resolve(ENTRY, full).source == "explicit path"
    assert (
        resolve(ENTRY, WeightsLocations({}, tmp_path / "dir", tmp_path / "env", tmp_path / "hub")).source
        == "--weights-dir"
    )
    assert (
        resolve(ENTRY, WeightsLocations({}, None, tmp_path / "env", tmp_path / "hub")).source
        == "$BILAYER_BENCH_WEIGHTS"
    )
    assert resolve(ENTRY, WeightsLocations({}, None, None, tmp_path / "hub")).source == "torch hub"


def test_environment_variable_and_torch_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BILAYER_BENCH_WEIGHTS", str(tmp_path / "env"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    where = WeightsLocations.from_environment()
    assert where.env_dir == tmp_path / "env"
    assert where.hub_dir == tmp_path / "torch" / "hub" / "checkpoints"


def test_hash_verification(tmp_path: Path) -> None:
    payload = b"released bytes"
    digest = hashlib.sha256(payload).hexdigest()
    path = _write(tmp_path / "net-abc.pth", payload)
    where = WeightsLocations(weights_dir=tmp_path)
    pinned = WeightFile(**{**vars(ENTRY), "sha256": digest})
    prefixed = WeightFile(**{**vars(ENTRY), "sha256_prefix": digest[:8]})
    assert resolve(pinned, where).verification == "verified"
    assert resolve(prefixed, where).verification == "verified-prefix"
    path.write_bytes(payload[:-3])  # truncated download
    with pytest.raises(WeightsError, match=r"net-abc.pth: sha256 .* does not match .*download it again"):
        require(pinned, where)
    with pytest.raises(WeightsError, match="does not match"):
        require(prefixed, where)


def test_real_catalog_prefixes_follow_the_file_names() -> None:
    for name in WEIGHTS:
        entry = WEIGHTS.get(name)
        if entry.sha256_prefix:
            assert f"-{entry.sha256_prefix}." in entry.filename
    assert WEIGHTS.get("bilayer.identity_embedder").relpath == (
        "runs/vc2-hq_adrianb_paper_main/checkpoints/2225_identity_embedder.pth"
    )
    assert WEIGHTS.get("bilayer.texture_enhancer").relpath.endswith(
        "paper_enhancer/checkpoints/1225_texture_enhancer.pth"
    )


def test_package_shipped_files_are_found(tmp_path: Path) -> None:
    shipped = WeightFile(**{**vars(ENTRY), "package_path": "bench:configs/default.toml"})
    found = resolve(shipped, WeightsLocations(weights_dir=tmp_path))
    assert found.source == "package bench" and found.path.name == "default.toml"
    assert resolve(shipped, WeightsLocations(weights_dir=tmp_path, use_packages=False)).path is None


def test_cli_lists_known_present_and_verified(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path / "vox-cpk.pth.tar", b"not the real file")
    _write(tmp_path / "alexnet-owt-7be5be79.pth", b"not the real file either")
    assert main(["weights", "--weights-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "searched: explicit paths, --weights-dir" in out
    assert f"`weights fetch` downloads into: {tmp_path} [--weights-dir]" in out
    headers = (" ", "searched", "`weights fetch`")
    lines = {line.split()[0]: line for line in out.splitlines() if line and not line.startswith(headers)}
    assert set(lines) == set(WEIGHTS.names())
    assert "present, unverified" in lines["fomm.vox-cpk"]
    assert "verified (sha256)" in lines["dlib.shape-predictor-68"]  # pinned: the package's copy verifies
    assert "HASH MISMATCH" in lines["lpips.alex.trunk"]
    assert "missing" in lines["bilayer.identity_embedder"]
    assert "WEIGHTS_DIR/runs/vc2-hq_adrianb_paper_main/checkpoints/2225_identity_embedder.pth" in out


def test_hash_mismatch_can_be_accepted_explicitly(tmp_path: Path) -> None:
    _write(tmp_path / "net-abc.pth", b"fine-tuned bytes")
    pinned = WeightFile(**{**vars(ENTRY), "sha256": "0" * 64})
    with pytest.raises(WeightsError, match="--accept-hash-mismatch"):
        require(pinned, WeightsLocations(weights_dir=tmp_path))
    accepted = require(pinned, WeightsLocations(weights_dir=tmp_path, accept_mismatch=True))
    assert accepted.verification == "mismatch" and accepted.path == tmp_path / "net-abc.pth"
