"""LPIPS through the lpips package with trunks from the weights registry (random trunks in the exact format)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bench.compat import ensure_torchvision
from bench.errors import WeightsError
from bench.metrics.lpips_metric import load_lpips, lpips_distance
from bench.weights import WeightsLocations

FILES = {"alex": "alexnet-owt-7be5be79.pth", "vgg": "vgg16-397923af.pth"}


def _trunk(folder: Path, net: str) -> torch.nn.Module:
    ensure_torchvision()
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.alexnet() if net == "alex" else torchvision.models.vgg16()
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), folder / FILES[net])
    return model.eval()


def _where(folder: Path) -> WeightsLocations:
    return WeightsLocations(weights_dir=folder, use_packages=False, accept_mismatch=True)


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_trunk_is_torchvisions_features(tmp_path: Path, net: str) -> None:
    reference = _trunk(tmp_path, net)
    network = load_lpips(net, _where(tmp_path))
    assert network.variant == f"lpips.{net}.v0.1" and not network.verified  # random trunk: hash differs
    x = torch.rand(1, 3, 64, 64)
    with torch.inference_mode():
        outputs = network.model.net(x)
        last = max(int(name.split(".")[1]) for name, _ in network.model.net.named_parameters())
        expected = reference.features[: last + 2](x)  # the last slice ends with its conv's ReLU
    torch.testing.assert_close(outputs[-1], expected)


def test_analytic_cases_and_ordering(tmp_path: Path) -> None:
    _trunk(tmp_path, "alex")
    network = load_lpips("alex", _where(tmp_path))
    x = torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    assert torch.equal(lpips_distance(network, x, x), torch.zeros(3))
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(2))
    little = lpips_distance(network, x, (x + 0.02 * noise).clamp(0, 1))
    much = lpips_distance(network, x, (x + 0.3 * noise).clamp(0, 1))
    assert (little > 0).all() and (much > little).all()


def test_matches_the_lpips_package_on_the_same_weights(tmp_path: Path) -> None:
    _trunk(tmp_path, "alex")
    network = load_lpips("alex", _where(tmp_path))
    import lpips

    reference = lpips.LPIPS(net="alex", version="0.1", pnet_rand=True, verbose=False).eval()
    reference.net.load_state_dict(network.model.net.state_dict())
    a, b = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    with torch.inference_mode():
        expected = reference(2 * a - 1, 2 * b - 1).flatten()
        ours_through_the_package = network.model(a, b, normalize=True).flatten()
    torch.testing.assert_close(lpips_distance(network, a, b), expected)
    # our split (reference features computed once, bench.metrics.reference) is the package's arithmetic exactly
    torch.testing.assert_close(lpips_distance(network, a, b), ours_through_the_package, rtol=0, atol=0)


def test_reference_features_once_per_real_frame_for_three_models(
    bilayer_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three models in one run: the trunk sees each model's frames once and each real frame once, not three times."""
    from bench.config import DataConfig, RunConfig
    from bench.metrics import lpips_metric
    from bench.runner import run_benchmark

    _trunk(tmp_path / "weights", "alex")
    seen: list[int] = []
    features = lpips_metric.lpips_features

    def counted(network, images):
        seen.append(int(images.shape[0]))
        return features(network, images)

    monkeypatch.setattr(lpips_metric, "lpips_features", counted)
    models = ("copy-source", "oracle", "bilayer.tiny")
    config = RunConfig(
        models=models,
        metrics=("lpips.alex.v0.1",),
        data=DataConfig(root=str(bilayer_root)),
        weights_dir=str(tmp_path / "weights"),
        accept_hash_mismatch=True,
        threads=1,
    )
    result = run_benchmark(config, out_root=tmp_path / "runs", progress=False)
    assert result.status == "complete"
    scored = result.summary[(result.summary.metric == "lpips.alex.v0.1") & (result.summary.model == "oracle")]
    real = int(scored.n_frames.sum())  # self-reenactment frames (LPIPS needs a ground truth)
    assert real > 0 and sum(seen) == len(models) * real + real
    oracle = result.summary.set_index(["model", "metric"]).loc[("oracle", "lpips.alex.v0.1")]
    assert float(oracle.value.max()) == 0.0


def test_missing_and_wrong_trunks(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match=r"alexnet-owt-7be5be79.pth .* not found"):
        load_lpips("alex", _where(tmp_path))
    torch.save({"features.0.weight": torch.zeros(1)}, tmp_path / FILES["alex"])
    with pytest.raises(WeightsError, match="not a torchvision trunk"):
        load_lpips("alex", _where(tmp_path))
    (tmp_path / FILES["alex"]).write_bytes(b"truncated")
    with pytest.raises(WeightsError, match="cannot read the LPIPS trunk"):
        load_lpips("alex", _where(tmp_path))
