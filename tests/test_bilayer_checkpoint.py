"""Loading the released layout: the full-size manifest, round trips, and the errors for bad files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from bilayer_cases import SHARED, write_runs

from bench.config import DataConfig, ProtocolConfig, RunConfig
from bench.models.protocol import Frames
from bench.runner import run_benchmark
from bench.weights import WeightsLocations
from bilayer.checkpoint import BilayerCheckpointError, RunFiles, fold_spectral_norm, load_network, read_state
from bilayer.config import BilayerConfig
from bilayer.factory import TINY, create_paper, random_model
from bilayer.model import BilayerModel
from bilayer.networks import IdentityEmbedder, KeypointsEmbedder, TextureGenerator

MANIFEST = SHARED / "manifest_full.json"
needs_manifest = pytest.mark.skipif(not MANIFEST.is_file(), reason=f"{MANIFEST} not found")


def _released_layout(module: torch.nn.Module) -> dict[str, tuple[list[int], str]]:
    """Our state_dict in the released key layout: each Conv2d/Linear weight as weight_orig/_u/_v."""
    normed = {n for n, m in module.named_modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))}
    out = {}
    for key, value in module.state_dict().items():
        prefix, _, leaf = key.rpartition(".")
        dtype = str(value.dtype).removeprefix("torch.")
        if prefix in normed and leaf == "weight":
            out[prefix + ".weight_orig"] = (list(value.shape), dtype)
            out[prefix + ".weight_u"] = ([value.shape[0]], dtype)
            out[prefix + ".weight_v"] = ([int(np.prod(value.shape[1:]))], dtype)
        else:
            out[key] = (list(value.shape), dtype)
    return out


@needs_manifest
@pytest.mark.parametrize(
    ("entry", "harmonic"),
    [
        ("identity_embedder", None),
        ("texture_generator", None),
        ("inference_generator", None),
        ("texture_enhancer", None),
        ("keypoints_embedder__harmonic_enc_on_script_literal", True),
        ("keypoints_embedder__harmonic_enc_off", False),
    ],
)
def test_paper_networks_match_the_full_size_manifest(entry: str, harmonic: bool | None) -> None:
    manifest = json.loads(MANIFEST.read_text())
    expected = {k: (v["shape"], v["dtype"]) for k, v in manifest["networks"][entry].items()}
    cfg = BilayerConfig.paper() if harmonic is None else BilayerConfig(pse_use_harmonic_enc=harmonic)
    model = BilayerModel(cfg)
    name = entry.split("__", maxsplit=1)[0]
    network = getattr(model, name)
    assert _released_layout(network) == expected
    count = sum(p.numel() for p in network.parameters())
    key = (
        "keypoints_embedder_harmonic_off__num_params"
        if harmonic is False
        else f"{entry.split('__', maxsplit=1)[0]}__num_params"
    )
    assert count == manifest["num_params"][key]


def test_random_paper_size_checkpoints_load_and_animate_a_256_frame(tmp_path: Path) -> None:
    model = random_model(BilayerConfig.paper(), seed=0)
    write_runs(model, tmp_path / "runs")
    wrapper = create_paper({f"bilayer.{n}": p for n, p in RunFiles.from_runs_dir(tmp_path / "runs").files.items()})
    assert wrapper.model.cfg == BilayerConfig.paper()
    points = torch.from_numpy(
        np.stack([np.linspace(70, 190, 68), 128 + 50 * np.sin(np.linspace(0, 6.28, 68))], 1).astype(np.float32)
    )[None]
    with torch.inference_mode():
        state = wrapper.prepare(Frames(torch.rand(1, 3, 256, 256), points, torch.ones(1, 1, 256, 256)))
        crops = wrapper.animate(state, Frames(torch.rand(2, 3, 256, 256), points.expand(2, -1, -1) + 1.5))
    out = crops.images
    assert out.shape == (2, 3, 256, 256) and torch.isfinite(out).all() and crops.boxes.shape == (2, 4)
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0 and float(out.std()) > 0.01


def test_saved_files_fold_to_the_normalised_weights(tmp_path: Path) -> None:
    net = IdentityEmbedder(TINY)
    from bilayer.checkpoint import save_released

    save_released(net, tmp_path / "idt.pth")
    state = read_state(tmp_path / "idt.pth", "identity_embedder")
    assert "net.enc.0.weight_orig" in state and "net.enc.0.weight" not in state
    folded = fold_spectral_norm(state)
    weight = net.net.enc[0].weight.detach()
    sigma = torch.linalg.matrix_norm(weight.reshape(weight.shape[0], -1), ord=2)
    torch.testing.assert_close(folded["net.enc.0.weight"], weight / sigma, rtol=1e-4, atol=1e-6)


def test_missing_network_file(tmp_path: Path) -> None:
    paths = write_runs(random_model(TINY), tmp_path / "runs")
    paths["texture_enhancer"].unlink()
    with pytest.raises(BilayerCheckpointError, match=r"missing: texture_enhancer: .*1225_texture_enhancer.pth"):
        BilayerModel.from_runs_dir(tmp_path / "runs")


def test_truncated_file(tmp_path: Path) -> None:
    paths = write_runs(random_model(TINY), tmp_path / "runs")
    data = paths["texture_generator"].read_bytes()
    paths["texture_generator"].write_bytes(data[: len(data) // 2])
    with pytest.raises(BilayerCheckpointError, match=r"2225_texture_generator.pth: cannot read .* truncated"):
        BilayerModel.from_runs_dir(tmp_path / "runs")


def test_fomm_checkpoint_passed_by_mistake(tmp_path: Path) -> None:
    path = tmp_path / "vox-cpk.pth.tar"
    torch.save({"generator": {}, "discriminator": {}, "kp_detector": {}, "epoch": 1}, path)
    with pytest.raises(BilayerCheckpointError, match="First Order Motion Model checkpoint"):
        load_network(IdentityEmbedder(TINY), path, "identity_embedder")


def test_wrong_network_lists_missing_unexpected_and_misshaped_keys(tmp_path: Path) -> None:
    paths = write_runs(random_model(TINY), tmp_path / "runs")
    with pytest.raises(
        BilayerCheckpointError,
        match=r"does not fit the identity_embedder network \(\d+ missing: "
        r"net.enc.0.weight.*unexpected: gen_tex_input",
    ):
        load_network(IdentityEmbedder(TINY), paths["texture_generator"], "identity_embedder")
    bigger = BilayerConfig(**{**TINY.__dict__, "tex_max_channels": 64, "tex_num_channels": 16})
    with pytest.raises(
        BilayerCheckpointError,
        match=r"mis-shaped: gen_tex_input expected \(1, 64, 4, 4\) found "
        r"\(1, 32, 4, 4\)",
    ):
        load_network(TextureGenerator(bigger), paths["texture_generator"], "texture_generator")


def test_not_a_state_dict(tmp_path: Path) -> None:
    path = tmp_path / "x.pth"
    torch.save(torch.zeros(3), path)
    with pytest.raises(BilayerCheckpointError, match="expected a flat state_dict"):
        load_network(KeypointsEmbedder(TINY), path, "keypoints_embedder")


def test_harmonic_encoding_is_read_from_the_checkpoint(tmp_path: Path) -> None:
    off = random_model(BilayerConfig(**{**TINY.__dict__, "pse_use_harmonic_enc": False}))
    write_runs(off, tmp_path / "runs")
    args = tmp_path / "runs" / "vc2-hq_adrianb_paper_enhancer" / "args.txt"
    args.write_text(args.read_text().replace("pse_use_harmonic_enc: False", "pse_use_harmonic_enc: True"))
    assert BilayerModel.from_runs_dir(tmp_path / "runs").cfg.pse_use_harmonic_enc is False


def test_released_layout_through_the_weights_registry(bilayer_root: Path, tmp_path: Path) -> None:
    """bilayer.paper finds runs/... under --weights-dir, reads args.txt, and labels the files unverified."""
    write_runs(random_model(TINY, seed=2), tmp_path / "weights" / "runs")
    config = RunConfig(
        models=("bilayer.paper",),
        metrics=("l1",),
        data=DataConfig(root=str(bilayer_root)),
        protocol=ProtocolConfig(kinds=("self",)),
        threads=1,
    )
    where = WeightsLocations(weights_dir=tmp_path / "weights", use_packages=False)
    result = run_benchmark(config, out_root=tmp_path / "out", locations=where, progress=False)
    assert result.status == "complete", result.failures
    assert set(result.summary.weights) == {"unverified"}
    provenance = json.loads((result.run_dir / "weights.json").read_text())["bilayer.paper"]
    assert [f["found_in"] for f in provenance["files"]] == ["--weights-dir"] * 5
    assert "all-ones mask" in provenance["notes"]["source_segmentation"]
    assert provenance["notes"]["grid_sample"] == "align_corners=False"
    data = json.loads((result.run_dir / "data.json").read_text())
    assert data["num_frames_with_segmentation"] == data["num_frames"]


def test_garbage_file(tmp_path: Path) -> None:
    path = tmp_path / "2225_keypoints_embedder.pth"
    path.write_bytes(b"garbage, not a checkpoint")
    with pytest.raises(BilayerCheckpointError, match=r"2225_keypoints_embedder.pth: cannot read"):
        load_network(KeypointsEmbedder(TINY), path, "keypoints_embedder")
