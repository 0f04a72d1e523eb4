"""Our bi-layer model against the golden data of the original code, and the conformance tool itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from bilayer_cases import SHARED, write_case
from conftest import require_shared

from bench.cli import main
from bench.conformance.bilayer import run_case, tolerance
from bilayer.config import BilayerConfig
from bilayer.factory import random_model

CASES = ["case_harmonic_on", "case_harmonic_off"]
@pytest.mark.parametrize("case", CASES)
def test_shared_cases_conform(case: str) -> None:
    require_shared(SHARED / case, "shared bi-layer conformance data")
    rows = run_case(SHARED / case)
    failed = [(r.name, r.max_abs_error, r.note) for r in rows if not r.passed]
    assert failed == []
    names = {r.name for r in rows}
    assert {
        "pred_enh_target_imgs",
        "pred_target_segs",
        "enh_iter3_grad_in",
        "tex_adaptive_weight_19",
        "source_stickmen",
        "effective_weight_identity_embedder_net_enc_0",
    } <= names
    assert len(rows) == 112


def test_cli_prints_table_and_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    require_shared(SHARED / "case_harmonic_on", "shared bi-layer conformance data")
    assert main(["conformance", "bilayer", str(SHARED / "case_harmonic_on")]) == 0
    out = capsys.readouterr().out
    assert "112 of 112 arrays within tolerance" in out and "pred_enh_target_imgs" in out


def test_tolerances_follow_the_shared_readme() -> None:
    assert tolerance("source_idt_embeds_3") == 1e-5
    assert tolerance("inf_adaptive_bias_07") == 1e-5
    assert tolerance("pred_target_uvs") == 1e-4
    assert tolerance("pred_enh_tex_hf_rgbs") == 1e-4
    assert tolerance("enh_iter2_grad_in") == 1e-3
    assert tolerance("pred_enh_target_imgs") == 1e-3
    assert tolerance("something_new") is None


def _other_config(**changes: object) -> BilayerConfig:
    """Another shape of case: 32x32 crops, 2 harmonics, other channel counts, depths and unrolling.

    (As in the original, the projectors only fit configurations whose channel progressions line up, such as
    equal embedder and texture channels.)"""
    values = dict(
        image_size=32,
        emb_num_channels=4,
        emb_max_channels=32,
        emb_output_tensor_size=4,
        tex_num_channels=4,
        tex_max_channels=32,
        pse_num_channels=16,
        pse_num_blocks=3,
        pse_num_harmonics=2,
        inf_num_channels=2,
        inf_max_channels=16,
        enh_num_channels=4,
        enh_max_channels=8,
        enh_bottleneck_tensor_size=16,
        enh_num_blocks=1,
        enh_unrolling_depth=2,
    )
    return BilayerConfig(**{**values, **changes})  # type: ignore[arg-type]


def test_any_case_in_the_shared_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = write_case(tmp_path / "case", random_model(_other_config(), seed=3), targets=2)
    rows = run_case(case)
    assert all(r.passed for r in rows), [(r.name, r.note) for r in rows if not r.passed]
    assert {r.shape for r in rows if r.name == "pred_enh_target_imgs"} == {(1, 2, 3, 32, 32)}
    assert main(["conformance", "bilayer", str(case)]) == 0

    with np.load(case / "cases.npz") as data:
        arrays = {k: data[k] for k in data.files}
    arrays["pred_target_segs"] = arrays["pred_target_segs"] + 1e-3  # beyond the 1e-4 tolerance
    arrays["unknown_array"] = np.zeros(3)
    np.savez(case / "cases.npz", **arrays)
    rows = {r.name: r for r in run_case(case)}
    assert not rows["pred_target_segs"].passed and rows["pred_target_segs"].max_abs_error == pytest.approx(
        1e-3, rel=1e-3
    )
    assert not rows["unknown_array"].passed and "not produced" in rows["unknown_array"].note
    capsys.readouterr()
    assert main(["conformance", "bilayer", str(case)]) == 1
    assert "FAILED" in capsys.readouterr().out


def test_harmonic_encoding_and_several_targets_in_one_call() -> None:
    """The original cannot run several targets with harmonic encoding and source-pose embedding; we can, and
    a batch gives the frames one call each would."""
    model = random_model(_other_config(pse_num_harmonics=4), seed=1)
    assert model.cfg.pse_use_harmonic_enc
    gen = torch.Generator().manual_seed(0)
    image, stick = torch.rand(1, 3, 32, 32, generator=gen) * 2 - 1, torch.rand(1, 3, 32, 32, generator=gen) * 2 - 1
    poses = torch.rand(5, 136, generator=gen) * 2 - 1
    with torch.inference_mode():
        avatar = model.prepare_tensors(image, poses[:1], stick, torch.ones(1, 1, 32, 32))
        batch, _ = model.animate_poses(avatar, poses)
        single = torch.cat([model.animate_poses(avatar, poses[i : i + 1])[0] for i in range(5)])
    torch.testing.assert_close(batch, single, atol=1e-5, rtol=0)


def test_sampling_semantics_switch() -> None:
    """align_corners=False (default, the golden data's) and True (PyTorch 1.0) give different frames."""
    from dataclasses import replace

    from bilayer.factory import TINY

    default = random_model(TINY, seed=4)
    legacy = random_model(replace(TINY, align_corners=True), seed=4)
    assert TINY.align_corners is False
    gen = torch.Generator().manual_seed(1)
    image, stick = torch.rand(1, 3, 64, 64, generator=gen) * 2 - 1, torch.rand(1, 3, 64, 64, generator=gen) * 2 - 1
    poses = torch.rand(2, 136, generator=gen) * 2 - 1
    with torch.inference_mode():
        outputs = [
            m.animate_poses(m.prepare_tensors(image, poses[:1], stick, torch.ones(1, 1, 64, 64)), poses)[0]
            for m in (default, legacy)
        ]
    difference = (outputs[0] - outputs[1]).abs().max()
    assert 1e-4 < float(difference) < 1.0
