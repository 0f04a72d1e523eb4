"""Frames per second of each metric at 256x256 on CPU (pytest-benchmark; not part of the CI run).

    python -m pytest tests/benchmarks/test_metric_speed.py -m benchmark_suite --benchmark-only -p no:cacheprovider

Networks with user-supplied weights run with random weights in the real formats (speed only).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bench.metrics.evaluators import build_metrics
from bench.weights import WeightsLocations

pytestmark = pytest.mark.benchmark_suite
FRAMES = 8
METRICS = [
    "l1",
    "psnr",
    "ssim",
    "lpips.alex.v0.1",
    "lpips.vgg.v0.1",
    "csim.arcface-irse50",
    "csim.dlib-resnet",
    "akd.dlib68",
    "npe.dlib68",
    "aed.dlib-resnet",
]


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> WeightsLocations:
    from bench.compat import ensure_torchvision
    from bench.metrics.arcface import ArcFaceIRSE50

    ensure_torchvision()
    import torchvision

    folder = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    torch.save(torchvision.models.alexnet().state_dict(), folder / "alexnet-owt-7be5be79.pth")
    torch.save(torchvision.models.vgg16().state_dict(), folder / "vgg16-397923af.pth")
    torch.save(ArcFaceIRSE50().state_dict(), folder / "model_ir_se50.pth")
    return WeightsLocations(weights_dir=Path(folder), accept_mismatch=True)


def _frames() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    from skimage.data import astronaut
    from skimage.transform import resize

    face = torch.from_numpy(resize(astronaut()[40:260, 110:330], (256, 256))).float().permute(2, 0, 1)
    pred = face[None] * 0.9 + torch.arange(FRAMES).view(-1, 1, 1, 1) / 255.0  # distinct frames
    target = torch.roll(pred, shifts=3, dims=-1)
    angles = torch.linspace(0, 6.283, 68)
    landmarks = torch.stack([128 + 60 * torch.cos(angles), 140 + 70 * torch.sin(angles)], 1)[None].repeat(FRAMES, 1, 1)
    return pred, target, landmarks


def _fresh_pairs(pred: torch.Tensor, target: torch.Tensor, seed: int, count: int) -> list[tuple[torch.Tensor, ...]]:
    """``count`` (generated, reference) pairs, each with its own faint noise (at most 2 grey levels): every call
    sees frames no earlier call (of this test or another) has seen, so dlib's per-frame caches never hide work."""
    generator = torch.Generator().manual_seed(seed)
    pairs = []
    for _ in range(count):
        a, b = (2 / 255 * torch.rand(pred.shape, generator=generator) for _ in range(2))
        pairs.append(((pred + a).clamp(0, 1), (target + b).clamp(0, 1)))
    return pairs


@pytest.mark.parametrize("name", METRICS)
def test_metric_speed(benchmark, weights: WeightsLocations, name: str) -> None:
    """One call on FRAMES fresh pairs: both sides measured, as for the first model of a run (later models reuse
    the reference side's landmarks and descriptors)."""
    torch.set_num_threads(2)
    (metric,), _ = build_metrics([name], weights)
    pred, target, landmarks = _frames()
    rounds, warmup = 5, 1
    pairs = iter(_fresh_pairs(pred, target, seed=METRICS.index(name), count=rounds + warmup))

    def run() -> torch.Tensor:
        generated, reference = next(pairs)
        return metric.score(generated, reference, landmarks, landmarks)

    benchmark.group = "metrics"
    benchmark.extra_info.update(metric=name, frames=FRAMES, threads=2, torch=torch.__version__)
    values = benchmark.pedantic(run, rounds=rounds, warmup_rounds=warmup)
    assert values.shape == (FRAMES,)


def test_fid_feature_speed(benchmark, weights: WeightsLocations) -> None:
    """FID's per-frame cost: Inception pool3 features of the generated frames (the real frames' once per job)."""
    torch.set_num_threads(2)
    (metric,), _ = build_metrics(["fid.inception-2015-12-05.2048"], weights)
    pred, _, _ = _frames()
    benchmark.group = "metrics"
    benchmark.extra_info.update(metric=metric.spec.name, frames=FRAMES, threads=2, torch=torch.__version__)
    features = benchmark.pedantic(lambda: metric.score(pred), rounds=5, warmup_rounds=1)
    assert features.shape == (FRAMES, 2048)


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("trunk", ["alex", "vgg"])
def test_lpips_layout_speed(benchmark, weights: WeightsLocations, trunk: str, layout: str) -> None:
    """Why LPIPS runs channels-last: the trunk's features of FRAMES frames in either memory layout, same weights
    (compare the two rows of a group: one run, one machine). The numbers agree to float32 rounding."""
    import lpips

    from bench.metrics.lpips_metric import load_lpips, lpips_features

    torch.set_num_threads(2)
    network = load_lpips(trunk, weights)  # type: ignore[arg-type]
    pred, _, _ = _frames()
    if layout == "channels_last":
        run = lambda: lpips_features(network, pred)  # noqa: E731
    else:
        model = network.model.to(memory_format=torch.contiguous_format)

        def run() -> list[torch.Tensor]:
            with torch.inference_mode():
                return [lpips.normalize_tensor(x) for x in model.net(model.scaling_layer(2 * pred - 1).contiguous())]

    benchmark.group = f"lpips.{trunk} layout"
    benchmark.extra_info.update(trunk=trunk, layout=layout, frames=FRAMES, threads=2, torch=torch.__version__)
    features = benchmark.pedantic(run, rounds=5, warmup_rounds=1)
    assert len(features) == 5
