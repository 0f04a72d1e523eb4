"""Issue 16: every user-input error of ``run``, ``conformance`` and ``prepare`` is one line on stderr, exit 2,
naming the file or flag, with no traceback (:mod:`cli_errors`); configs and flags are validated before anything
is written, and a refused run leaves no run folder behind.

Checkpoints are small random-weight files in the real formats: the bi-layer runs layout (tiny config,
``save_released``) and FOMM's ``vox-cpk.pth.tar`` structure (tiny config, ``save_checkpoint``).
"""

from __future__ import annotations

import builtins
import errno
import json
import pathlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from bilayer_cases import write_runs
from cli_errors import cli_error, run_dirs
from conftest import write_bilayer_dataset

from baselines.fomm import FommModel, save_checkpoint
from baselines.fomm.factory import tiny_config
from bench.data import open_dataset
from bench.errors import DataError
from bench.prepare.samples import write_clip
from bilayer.checkpoint import MAIN_RUN
from bilayer.factory import TINY, random_model

_RUN = ("--metrics", "l1", "--no-progress", "--threads", "1", "--no-latency", "--no-report")
_BASELINES = ("--models", "copy-source,oracle")  # where the models do not matter: none of paper size to build
IDENTITY = f"runs/{MAIN_RUN}/checkpoints/2225_identity_embedder.pth"


class _Payload:
    """Pickles as a call of ``print``: the weights-only unpickler must refuse it, and it is harmless if not."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (builtins.print, ("this payload must never run",))


def _code_objects(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"generator": _Payload(), "kp_detector": {}}, path)
    return path


def _truncate(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``bilayer/runs/...`` (the five released files) and ``fomm/vox-cpk.pth.tar``, random weights, tiny configs."""
    root = tmp_path_factory.mktemp("checkpoints")
    write_runs(random_model(TINY), root / "bilayer" / "runs")
    fomm = FommModel(tiny_config())
    (root / "fomm").mkdir()
    save_checkpoint(root / "fomm" / "vox-cpk.pth.tar", fomm.generator, fomm.kp_detector)
    return root


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_bilayer_dataset(tmp_path_factory.mktemp("bad-inputs") / "data")


def _weights(checkpoints: Path, tmp_path: Path, kind: str) -> Path:
    return Path(shutil.copytree(checkpoints / kind, tmp_path / "weights"))


# Flags and config fields (class 3) -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--threads", "-1"), ("--max-sequences", "-1"), ("--batch-size", "0"), ("--device", "tpu")],
)
def test_bad_flag_values_are_one_line(
    capsys: pytest.CaptureFixture[str], data: Path, tmp_path: Path, flag: str, value: str
) -> None:
    cli_error(capsys, "run", "--data", data, "--out", tmp_path / "out", *_RUN, flag, value, names=(flag, value))
    assert run_dirs(tmp_path / "out") == []


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("[protocol]\nsource_frame = -1\n", ("source_frame must be >= 0", "got -1")),
        ("[protocol]\ndriver_stride = 0\n", ("driver_stride",)),
        ("[protocol]\nkinds = ['self', 'self']\n", ("kinds",)),
        ("[protocol]\nsource = 1\n", ("unknown key(s) source",)),
        ("seed = -3\n", ("seed",)),
        ("metrics = []\n", ("no metrics",)),
    ],
)
def test_bad_config_fields_name_the_file_and_the_key(
    capsys: pytest.CaptureFixture[str], data: Path, tmp_path: Path, text: str, names: tuple[str, ...]
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(text)
    out = tmp_path / "out"
    cli_error(capsys, "run", config, "--data", data, "--out", out, "--no-progress", names=(config, *names))
    assert run_dirs(out) == []


def test_source_frame_beyond_every_sequence_is_refused(
    capsys: pytest.CaptureFixture[str], data: Path, tmp_path: Path
) -> None:
    config = tmp_path / "late.toml"
    config.write_text("[protocol]\nsource_frame = 99\n")
    line = cli_error(capsys, "run", config, "--data", data, "--out", tmp_path / "out", *_RUN, names=("source_frame",))
    assert "beyond every sequence" in line and "the longest has 4 frame(s)" in line
    assert run_dirs(tmp_path / "out") == []


def test_a_run_with_zero_jobs_is_an_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    one_person = write_bilayer_dataset(tmp_path / "one", persons=1)
    config = tmp_path / "cross.toml"
    config.write_text("[protocol]\nkinds = ['cross']\n")
    line = cli_error(capsys, "run", config, "--data", one_person, "--out", tmp_path / "out", *_RUN)
    assert "no job to run" in line and "two identities" in line
    assert run_dirs(tmp_path / "out") == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda(capsys: pytest.CaptureFixture[str], data: Path, tmp_path: Path) -> None:
    line = cli_error(capsys, "run", "--data", data, "--out", tmp_path / "out", *_RUN, "--device", "cuda")
    assert "--device cuda: CUDA is not available" in line and "--device cpu" in line
    assert run_dirs(tmp_path / "out") == []


def test_resume_with_other_run_flags_is_refused(capsys: pytest.CaptureFixture[str], data: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    config = tmp_path / "c.toml"
    config.write_text("seed = 1\n")
    cli_error(capsys, "run", "--resume", run, "--models", "oracle", "--threads", "2", names=("--models", "--threads"))
    cli_error(capsys, "run", config, "--resume", run, names=("CONFIG", "ignored"))
    cli_error(capsys, "run", "--resume", run, "--out", tmp_path, names=("--out",))


# --out (class 6) -----------------------------------------------------------------------------------------------


def test_out_on_an_existing_file(capsys: pytest.CaptureFixture[str], data: Path, tmp_path: Path) -> None:
    file = tmp_path / "results.txt"
    file.write_text("not a folder")
    cli_error(capsys, "run", "--data", data, "--out", file, *_RUN, *_BASELINES, names=(file, "is a file, not a folder"))
    cli_error(capsys, "run", "--data", data, "--out", file / "sub", *_RUN, *_BASELINES, names=(file, "is a file"))
    assert file.read_text() == "not a folder"


def test_out_on_a_read_only_folder(
    capsys: pytest.CaptureFixture[str], data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    mkdir = pathlib.Path.mkdir

    def refuse(self: Path, *args: object, **kwargs: object) -> None:  # root ignores the mode bits: say it anyway
        if self.parent == locked:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        mkdir(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pathlib.Path, "mkdir", refuse)
    args = ("run", "--data", data, "--out", locked, *_RUN, *_BASELINES)
    line = cli_error(capsys, *args, names=(locked, "Permission denied"))
    assert "writable folder" in line
    locked.chmod(0o755)
    assert run_dirs(locked) == []


# Checkpoints through `run` (class 5) ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: p.write_bytes(b""), "is empty (0 bytes)"),
        (_truncate, "cannot read the identity_embedder checkpoint"),
        (_code_objects, "this file contains code objects; refusing to load it"),
    ],
    ids=["zero-byte", "truncated", "code-objects"],
)
def test_bad_bilayer_checkpoints(
    capsys: pytest.CaptureFixture[str], checkpoints: Path, data: Path, tmp_path: Path, damage, message: str
) -> None:
    weights = _weights(checkpoints, tmp_path, "bilayer")
    damage(weights / IDENTITY)
    out = tmp_path / "out"
    args = ("run", "--data", data, "--models", "bilayer.paper", "--weights-dir", weights, "--out", out, *_RUN)
    cli_error(capsys, *args, names=(weights / IDENTITY, message))
    assert run_dirs(out) == []


def test_fomm_checkpoint_given_as_a_bilayer_network(
    capsys: pytest.CaptureFixture[str], checkpoints: Path, data: Path, tmp_path: Path
) -> None:
    weights = _weights(checkpoints, tmp_path, "bilayer")
    shutil.copyfile(checkpoints / "fomm" / "vox-cpk.pth.tar", weights / IDENTITY)
    args = ("run", "--data", data, "--models", "bilayer.paper", "--weights-dir", weights, "--out", tmp_path, *_RUN)
    cli_error(capsys, *args, names=(weights / IDENTITY, "First Order Motion Model checkpoint"))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda c, p: shutil.copyfile(c / "fomm" / "vox-cpk.pth.tar", p), "made with another config"),
        (lambda c, p: shutil.copyfile(c / "bilayer" / IDENTITY, p), "this is a bi-layer model checkpoint"),
        (lambda c, p: _code_objects(p), "this file contains code objects; refusing to load it"),
        (lambda c, p: p.write_bytes(b""), "the file is empty (0 bytes)"),
        (lambda c, p: _truncate(Path(shutil.copyfile(c / "fomm" / "vox-cpk.pth.tar", p))), "truncated"),
    ],
    ids=["another-config", "bilayer-file", "code-objects", "zero-byte", "truncated"],
)
def test_bad_fomm_checkpoints(
    capsys: pytest.CaptureFixture[str], checkpoints: Path, data: Path, tmp_path: Path, make, message: str
) -> None:
    weights = tmp_path / "weights"
    weights.mkdir()
    make(checkpoints, weights / "vox-cpk.pth.tar")
    args = ("run", "--data", data, "--models", "fomm.vox256", "--weights-dir", weights, "--accept-hash-mismatch")
    cli_error(capsys, *args, "--out", tmp_path / "out", *_RUN, names=(weights / "vox-cpk.pth.tar", message))
    assert run_dirs(tmp_path / "out") == []


# Refused runs leave nothing behind (class 10) ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--metrics", "l1,nosuch"), "unknown metric 'nosuch'"),
        (("--metrics", "lpips.alex.v0.1"), "not found"),  # a named metric whose weights are missing
        (("--metrics", "lpips.alex.v0.1", "--weights-dir", "."), "does not match the released alexnet-owt"),
    ],
    ids=["unknown-metric", "metric-weights-missing", "hash-mismatch"],
)
def test_a_refused_run_leaves_no_run_folder(
    capsys: pytest.CaptureFixture[str], data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra, message
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("alexnet-owt-7be5be79.pth").write_bytes(b"not the released trunk")  # found by --weights-dir .
    out = tmp_path / "out"
    args = ("run", "--data", data, "--out", out, "--no-progress", *_BASELINES, *extra)
    cli_error(capsys, *args, names=(message,))
    assert run_dirs(out) == []


# Checkpoints and cases through `conformance` (class 5) ---------------------------------------------------------


def _fomm_case(checkpoints: Path, case: Path, golden: dict[str, np.ndarray] | None = None) -> Path:
    case.mkdir()
    (case / "config_small.json").write_text(json.dumps(tiny_config().to_dict()))
    shutil.copyfile(checkpoints / "fomm" / "vox-cpk.pth.tar", case / "small-cpk.pth.tar")
    rng = np.random.default_rng(0)
    arrays = golden or {"source_float": rng.random((64, 64, 3)), "driving_float": rng.random((2, 64, 64, 3))}
    np.savez(case / "cases.npz", **arrays)
    return case


def test_conformance_object_array_in_the_cases_file(
    capsys: pytest.CaptureFixture[str], checkpoints: Path, tmp_path: Path
) -> None:
    arrays = {"source_float": np.array([{"a": 1}, None], dtype=object), "driving_float": np.zeros((1, 64, 64, 3))}
    case = _fomm_case(checkpoints, tmp_path / "case", arrays)
    cli_error(capsys, "conformance", "fomm", case, names=(case / "cases.npz", "object array"))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: p.write_bytes(b""), "the file is empty (0 bytes)"),
        (_code_objects, "this file contains code objects; refusing to load it"),
    ],
    ids=["zero-byte", "code-objects"],
)
def test_conformance_fomm_bad_checkpoint(
    capsys: pytest.CaptureFixture[str], checkpoints: Path, tmp_path: Path, damage, message: str
) -> None:
    case = _fomm_case(checkpoints, tmp_path / "case")
    damage(case / "small-cpk.pth.tar")
    cli_error(capsys, "conformance", "fomm", case, names=(case / "small-cpk.pth.tar", message))


@pytest.mark.parametrize(
    ("damage", "message"),
    [(_truncate, "cannot read the identity_embedder"), (_code_objects, "contains code objects")],
    ids=["truncated", "code-objects"],
)
def test_conformance_bilayer_bad_checkpoint(
    capsys: pytest.CaptureFixture[str], checkpoints: Path, tmp_path: Path, damage, message: str
) -> None:
    case = tmp_path / "case"
    shutil.copytree(checkpoints / "bilayer", case)
    names = ("input_source_img", "input_source_keypoints", "input_target_imgs", "input_target_keypoints")
    np.savez(case / "cases.npz", input_source_seg=np.ones((1, 1, 64, 64)), **{n: np.zeros(1) for n in names})
    damage(case / IDENTITY)
    cli_error(capsys, "conformance", "bilayer", case, names=(case / IDENTITY, message))


def test_conformance_case_without_cases_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    cli_error(capsys, "conformance", "bilayer", tmp_path, names=(tmp_path / "cases.npz", "missing"))


# Weights through `prepare` (class 5) ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("clips") / "mp4"
    noise = np.random.default_rng(0).integers(0, 255, (4, 64, 64, 3), dtype=np.uint8)
    write_clip(root / "id00" / "v00" / "00001.mp4", list(noise))
    return root


@pytest.mark.parametrize(
    ("damage", "message"),
    [(lambda p: p.write_bytes(b""), "is empty (0 bytes)"), (_code_objects, "contains code objects")],
    ids=["zero-byte", "code-objects"],
)
def test_prepare_bad_face_alignment_weights(
    capsys: pytest.CaptureFixture[str], clips: Path, tmp_path: Path, damage, message: str
) -> None:
    weights = tmp_path / "weights"
    weights.mkdir()
    fan, s3fd = weights / "2DFAN4-11f355bf06.pth.tar", weights / "s3fd-619a316812.pth"
    damage(fan)
    torch.save({"conv1_1.weight": torch.zeros(1)}, s3fd)
    args = ("prepare", clips, tmp_path / "out", "--landmarks", "face-alignment", "--weights-dir", weights)
    cli_error(capsys, *args, "--accept-hash-mismatch", "--no-progress", names=(fan, message))


def test_prepare_bad_dlib_predictor(capsys: pytest.CaptureFixture[str], clips: Path, tmp_path: Path) -> None:
    weights = tmp_path / "weights"
    weights.mkdir()
    predictor = weights / "shape_predictor_68_face_landmarks.dat"
    predictor.write_bytes(b"\x00" * 64)
    args = ("prepare", clips, tmp_path / "out", "--landmarks", "dlib", "--weights-dir", weights)
    cli_error(capsys, *args, "--accept-hash-mismatch", "--no-progress", names=(predictor, "shape predictor"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_prepare_cuda_without_cuda(capsys: pytest.CaptureFixture[str], clips: Path, tmp_path: Path) -> None:
    args = ("prepare", clips, tmp_path / "out", "--landmarks", "face-alignment", "--device", "cuda")
    cli_error(capsys, *args, "--no-progress", names=("--device cuda", "CUDA is not available"))


# Keypoints in normalised coordinates (class 13) ----------------------------------------------------------------


@pytest.mark.parametrize(("scale", "offset"), [(1.0, 0.0), (2.0, -1.0)], ids=["[0,1]", "[-1,1]"])
def test_normalised_keypoints_are_named(tmp_path: Path, scale: float, offset: float) -> None:
    from bench.config import DataConfig

    root = write_bilayer_dataset(tmp_path / "data", size=64)
    dataset = open_dataset(DataConfig(root=str(root)))
    ref = dataset.sequences[0].frames[1]
    pixels = np.load(ref.keypoints)
    np.save(ref.keypoints, pixels / 64.0 * scale + offset)
    with pytest.raises(DataError, match=rf"{ref.keypoints.name}: keypoints all lie within \[-1, 1\].*normalised"):
        dataset.load(dataset.sequences[0], [0, 1])
