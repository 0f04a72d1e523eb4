"""bench.metrics.streaming: torchmetrics classes whose compute() is the mean of the per-frame functions' values.

LPIPS and CSIM run on random weights in the released files' formats (torchvision trunks, ``model_ir_se50.pth``),
resolved through the weights registry as a run resolves them. Distributed reduction is shown twice: with
``Metric.merge_state`` (two "ranks" in one process) and with two gloo processes (``torch.multiprocessing.spawn``,
rendezvous through a file, so this process opens no socket: pytest-socket guards only this one).
"""

from __future__ import annotations

import math
import os
import pickle
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import torch

from bench.compat import ensure_torchvision
from bench.metrics import METRICS, functional, streaming
from bench.metrics.align import ARCFACE_TEMPLATE
from bench.metrics.arcface import ArcFaceIRSE50
from bench.metrics.csim import csim
from bench.metrics.lpips_metric import load_lpips, lpips_distance
from bench.weights import WeightsLocations

PLAIN: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "L1": functional.l1,
    "PSNR": functional.psnr,
    "SSIM": functional.ssim,
}
TRUNK_FILES = {"alex": "alexnet-owt-7be5be79.pth", "vgg": "vgg16-397923af.pth"}
SIZE = 32  # frames (SIZE x SIZE); LPIPS and SSIM need no more


def _frames(seed: int, n: int = 5, size: int = SIZE) -> tuple[torch.Tensor, torch.Tensor]:
    """Real frames and generated ones near them (n, 3, size, size) in [0, 1]."""
    generator = torch.Generator().manual_seed(seed)
    target = torch.rand(n, 3, size, size, generator=generator)
    preds = (target + 0.1 * torch.randn(target.shape, generator=generator)).clamp(0, 1)
    return preds, target


def _where(folder: Path) -> WeightsLocations:
    return WeightsLocations(weights_dir=folder, use_packages=False, accept_mismatch=True)


def _mean(values: torch.Tensor) -> torch.Tensor:
    return values.double().mean()


def _batched(score: Callable[..., torch.Tensor], batches: list[tuple[torch.Tensor, ...]]) -> torch.Tensor:
    """The mean over frames of ``score`` called on the same batches as the metric: float32 convolutions (LPIPS,
    ArcFace) round differently for another batch size, by ~1e-7, and the run's values are per batch too."""
    return _mean(torch.cat([score(*batch) for batch in batches]))


@pytest.fixture(scope="module")
def trunks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Random torchvision AlexNet and VGG-16 state_dicts under the released file names: their ``features.*`` keys,
    all that LPIPS reads (the classifier, 90% of the files, left out to keep them small)."""
    ensure_torchvision()
    import torchvision

    folder = tmp_path_factory.mktemp("trunks")
    torch.manual_seed(0)
    for trunk, model in (("alex", torchvision.models.alexnet()), ("vgg", torchvision.models.vgg16())):
        features = {k: v for k, v in model.state_dict().items() if k.startswith("features.")}
        torch.save(features, folder / TRUNK_FILES[trunk])
    return folder


@pytest.fixture(scope="module")
def alex(trunks: Path) -> Any:
    """One ``LPIPS("alex")`` loaded for the module; tests take a ``clone()`` (torchmetrics' deep copy)."""
    return streaming.LPIPS("alex", _where(trunks))


@pytest.fixture(scope="module")
def arcface_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random IR-SE-50 state_dict in the released ``model_ir_se50.pth`` format."""
    folder = tmp_path_factory.mktemp("arcface")
    torch.manual_seed(1)
    torch.save(ArcFaceIRSE50().state_dict(), folder / "model_ir_se50.pth")
    return folder


@pytest.fixture(scope="module")
def face(arcface_dir: Path) -> Any:
    """One ``CSIM()`` for the module (IR-SE-50 on CPU is ~1 s a face: these tests embed few); tests ``clone()`` it."""
    torch.set_num_threads(min(2, torch.get_num_threads()))
    return streaming.CSIM(locations=_where(arcface_dir))


def _landmarks(n: int, size: int = 128) -> torch.Tensor:
    """(n, 68, 2) landmarks whose five ArcFace points are the template moved by a different similarity per frame
    (eye rings collapsed onto the eye centres), inside a size x size frame."""
    template = torch.tensor(ARCFACE_TEMPLATE, dtype=torch.float64)
    sets = []
    for i in range(n):
        angle = math.radians(4.0 * i - 6.0)
        rotation = torch.tensor([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        five = (1.0 + 0.05 * i) * template @ rotation.T.double() + torch.tensor([5.0 + i, 6.0 - i]).double()
        points = five.mean(0).repeat(68, 1)
        points[36:42], points[42:48], points[30], points[48], points[54] = five[0], five[1], five[2], five[3], five[4]
        sets.append(points.float())
    assert float(torch.stack(sets).max()) < size
    return torch.stack(sets)


# --- the mean over frames, whatever the batches ----------------------------------------------------------------


@pytest.mark.parametrize("name", list(PLAIN))
def test_plain_metric_is_the_mean_of_the_functional_over_all_frames(name: str) -> None:
    preds, target = _frames(0)
    metric = getattr(streaming, name)()
    metric.update(preds[:3], target[:3])
    metric.update(preds[3:], target[3:])  # batches of 3 and 2: a mean of batch means would differ
    value = metric.compute()
    assert value.dtype == torch.float64 and int(metric.count) == 5
    torch.testing.assert_close(value, _mean(PLAIN[name](preds, target)), rtol=1e-12, atol=0)
    batch_means = (_mean(PLAIN[name](preds[:3], target[:3])) + _mean(PLAIN[name](preds[3:], target[3:]))) / 2
    assert not torch.isclose(value, batch_means, rtol=1e-9, atol=0)  # the test can tell the two apart


@pytest.mark.parametrize("trunk", ["alex", "vgg"])
def test_lpips_is_the_mean_of_lpips_distance(trunks: Path, trunk: str) -> None:
    preds, target = _frames(1)
    metric = streaming.LPIPS(trunk, locations=_where(trunks))
    batches = [(preds[:2], target[:2]), (preds[2:], target[2:])]
    for batch in batches:
        metric.update(*batch)
    network = load_lpips(trunk, _where(trunks))
    torch.testing.assert_close(
        metric.compute(), _batched(partial(lpips_distance, network), batches), rtol=1e-12, atol=0
    )
    torch.testing.assert_close(metric.compute(), _mean(lpips_distance(network, preds, target)), rtol=1e-5, atol=0)
    assert metric.name == metric.variant == f"lpips.{trunk}.v0.1" and metric.name in METRICS
    assert metric.weights.path == trunks / TRUNK_FILES[trunk] and metric.weights.verification == "mismatch"


def test_csim_is_the_mean_of_csim_with_the_drivers_landmarks(face: Any) -> None:
    preds, target = _frames(2, n=2, size=128)
    landmarks, moved = _landmarks(2), _landmarks(2).flip(0)
    metric = face.clone()
    metric.update(preds[:1], target[:1], landmarks[:1])  # the driver's landmarks align both sides
    metric.update(preds[1:], target[1:], landmarks[1:], moved[1:])  # the target's own landmarks align the target
    batches = [(preds[:1], landmarks[:1], target[:1], landmarks[:1]), (preds[1:], landmarks[1:], target[1:], moved[1:])]
    torch.testing.assert_close(metric.compute(), _batched(partial(csim, face.arcface), batches), rtol=1e-12, atol=0)
    assert metric.name == metric.variant == "csim.arcface-irse50" and metric.higher_is_better
    assert metric.weights.path.name == "model_ir_se50.pth"


def test_csim_bilayer_uses_the_bilayer_alignment(face: Any, arcface_dir: Path) -> None:
    preds, target = _frames(3, n=1, size=128)
    metric = streaming.CSIM("bilayer", locations=_where(arcface_dir))
    metric.update(preds, target, _landmarks(1))
    expected = _mean(csim(face.arcface, preds, _landmarks(1), target, _landmarks(1), "bilayer"))
    torch.testing.assert_close(metric.compute(), expected, rtol=1e-12, atol=0)
    assert metric.name == "csim.bilayer.irse50" and metric.variant == METRICS.get("csim.bilayer.irse50").variant


# --- analytic cases --------------------------------------------------------------------------------------------


def test_identical_frames_give_the_perfect_scores(alex: Any, face: Any) -> None:
    _, target = _frames(4, n=2, size=128)
    scores = {}
    for metric in (streaming.L1(), streaming.PSNR(), streaming.SSIM(), alex.clone()):
        metric.update(target, target.clone())
        scores[metric.name] = metric.compute().item()
    same_face = face.clone()
    same_face.update(target[:1], target[:1].clone(), _landmarks(1))
    assert scores["l1"] == 0.0 and scores["lpips.alex.v0.1"] == 0.0
    assert scores["psnr"] == math.inf  # functional.psnr: identical frames give +inf, and so does their mean
    assert abs(scores["ssim"] - 1.0) < 1e-6 and abs(same_face.compute().item() - 1.0) < 1e-6


def test_psnr_is_the_mean_of_per_frame_decibels_not_of_the_pooled_error() -> None:
    target = torch.zeros(2, 3, 16, 16)
    preds = torch.stack([torch.full((3, 16, 16), 0.1), torch.full((3, 16, 16), 0.01)])  # MSE 1e-2, 1e-4
    psnr, l1 = streaming.PSNR(), streaming.L1()
    psnr.update(preds, target)
    l1.update(preds, target)
    torch.testing.assert_close(psnr.compute(), torch.tensor(30.0, dtype=torch.float64), rtol=1e-6, atol=0)  # (20+40)/2
    torch.testing.assert_close(l1.compute(), torch.tensor(0.055, dtype=torch.float64), rtol=1e-6, atol=0)


def test_nan_values_are_not_counted_as_a_run_counts_scored_frames_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(functional, "l1", lambda _p, _t: torch.tensor([1.0, float("nan"), 3.0]))
    metric = streaming.L1()
    metric.update(*_frames(0, n=3))
    assert int(metric.count) == 2 and metric.compute().item() == 2.0


# --- state: reset, forward, merge, processes -------------------------------------------------------------------


def test_reset_empties_the_state() -> None:
    preds, target = _frames(4)
    metric = streaming.L1()
    metric.update(preds[:3], target[:3])
    metric.reset()
    assert float(metric.total) == 0.0 and int(metric.count) == 0 and metric.total.dtype == torch.float64
    metric.update(preds[3:], target[3:])
    torch.testing.assert_close(metric.compute(), _mean(functional.l1(preds[3:], target[3:])), rtol=1e-12, atol=0)


def test_forward_returns_the_batch_mean_and_accumulates() -> None:
    preds, target = _frames(5)
    metric = streaming.SSIM()
    first = metric(preds[:3], target[:3])
    metric(preds[3:], target[3:])
    torch.testing.assert_close(first, _mean(functional.ssim(preds[:3], target[:3])), rtol=1e-12, atol=0)
    torch.testing.assert_close(metric.compute(), _mean(functional.ssim(preds, target)), rtol=1e-12, atol=0)


@pytest.mark.parametrize("name", [*PLAIN, "LPIPS"])
def test_two_ranks_merged_equal_one_with_all_frames(alex: Any, name: str) -> None:
    preds, target = _frames(6)

    def make() -> Any:
        return alex.clone() if name == "LPIPS" else getattr(streaming, name)()

    halves = [(preds[:3], target[:3]), (preds[3:], target[3:])]
    whole, rank0, rank1, as_dict = make(), make(), make(), make()
    whole.update(preds, target)
    rank0.update(*halves[0])
    rank1.update(*halves[1])
    as_dict.update(*halves[0])
    as_dict.merge_state(rank1.metric_state)  # the states another process would send
    rank0.merge_state(rank1)
    score = partial(lpips_distance, alex._network) if name == "LPIPS" else PLAIN[name]
    expected = _batched(score, halves)
    torch.testing.assert_close(rank0.compute(), expected, rtol=1e-12, atol=0)
    torch.testing.assert_close(as_dict.compute(), expected, rtol=1e-12, atol=0)
    torch.testing.assert_close(whole.compute(), expected, rtol=1e-5 if name == "LPIPS" else 1e-12, atol=0)
    assert int(rank0.count) == 5


def _rank(rank: int, world: int, init_file: str, out: str) -> None:
    """One process of the gloo test: every metric updated with this rank's frames, computed (synchronised)."""
    torch.set_num_threads(1)
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    torch.distributed.init_process_group(
        "gloo", init_method=f"file://{init_file}", rank=rank, world_size=world, timeout=timedelta(seconds=60)
    )
    try:
        preds, target = _frames(7)
        mine = slice(rank, None, world)  # 3 frames on rank 0, 2 on rank 1
        metrics = {name: getattr(streaming, name)() for name in PLAIN}  # LPIPS and CSIM: the same states
        values, counts = {}, {}
        for name, metric in metrics.items():
            metric.update(preds[mine], target[mine])
            values[name] = metric.compute()  # synchronised: the states of both processes, summed
            counts[name] = metric.count  # after compute, the process's own state again
        torch.save(counts, Path(out) / f"counts{rank}.pt")
        torch.save(values, Path(out) / f"rank{rank}.pt")
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.slow  # two spawned processes: once aborted in a fresh-clone CI run on 2 loaded cores (gloo teardown)
def test_two_gloo_processes_compute_the_mean_over_all_their_frames(tmp_path: Path) -> None:
    torch.multiprocessing.spawn(_rank, args=(2, str(tmp_path / "rendezvous"), str(tmp_path)), nprocs=2, join=True)
    preds, target = _frames(7)
    batches = [(preds[rank::2], target[rank::2]) for rank in range(2)]
    expected = {name: _batched(score, batches) for name, score in PLAIN.items()}
    for rank, (own_preds, own_target) in enumerate(batches):
        values = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        counts = torch.load(tmp_path / f"counts{rank}.pt", weights_only=True)
        assert values.keys() == expected.keys() and {int(c) for c in counts.values()} == {len(own_preds)}
        for name, value in values.items():
            torch.testing.assert_close(value, expected[name], rtol=1e-12, atol=0, msg=f"{name} on rank {rank}")
        own = _mean(functional.l1(own_preds, own_target))  # what an unreduced process would report
        assert abs(own - expected["L1"]) > 1e-4


# --- inputs ----------------------------------------------------------------------------------------------------


GOOD = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(8))
RAMP = torch.linspace(0, 1, GOOD.numel()).reshape(GOOD.shape)  # range exactly [0, 1]


@pytest.mark.parametrize(
    ("preds", "message"),
    [
        (torch.rand(2, 1, 16, 16), r"preds must be float images \(N, 3, H, W\) .*got shape \(2, 1, 16, 16\)"),
        (torch.rand(3, 16, 16), r"preds must be .*got shape \(3, 16, 16\), dtype torch.float32"),
        ((RAMP * 255).to(torch.uint8), r"in \[0, 1\]; got shape \(2, 3, 16, 16\), dtype torch.uint8, range \[0, 255\]"),
        (RAMP * 255, r"finite values in \[0, 1\]; got shape \(2, 3, 16, 16\), dtype torch.float32, range \[0, 255\]"),
        (RAMP - 0.5, r"in \[0, 1\]; got .* range \[-0.5, 0.5\]"),
        (GOOD.clone().fill_(float("nan")), r"finite values in \[0, 1\]; got .* range \[nan, nan\]"),
        (GOOD.numpy(), r"preds must be float images .*; got a ndarray"),
    ],
    ids=["channels", "three-dims", "uint8", "0-255", "negative", "nan", "numpy"],
)
@pytest.mark.parametrize("name", list(PLAIN))
def test_bad_images_are_refused_with_what_was_received(name: str, preds: Any, message: str) -> None:
    metric = getattr(streaming, name)()
    with pytest.raises(ValueError, match=message):
        metric.update(preds, GOOD)
    with pytest.raises(ValueError, match=message.replace("preds must", "target must")):
        metric.update(GOOD, preds)
    with pytest.raises(
        ValueError, match=r"preds and target must be of one shape; got shapes \(3, 3, 16, 16\) and \(2, 3"
    ):
        metric.update(torch.rand(3, 3, 16, 16), GOOD)
    assert int(metric.count) == 0  # nothing was added


def test_frames_too_small_for_ssim_say_the_window() -> None:
    with pytest.raises(ValueError, match=r"at least 11x11 pixels .*got shape \(2, 3, 8, 8\)"):
        streaming.SSIM().update(torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8))


def test_bad_landmarks_trunk_and_alignment_are_refused(trunks: Path, arcface_dir: Path, face: Any) -> None:
    preds, target = _frames(9, n=2, size=128)
    metric = face.clone()
    with pytest.raises(ValueError, match=r"landmarks must be .* shape \(2, 68, 2\); got shape \(2, 5, 2\)"):
        metric.update(preds, target, torch.zeros(2, 5, 2))
    with pytest.raises(ValueError, match=r"target_landmarks must be .*\(2, 68, 2\); got shape \(1, 68, 2\)"):
        metric.update(preds, target, _landmarks(2), _landmarks(1))
    with pytest.raises(ValueError, match=r"preds and target must be with as many frames; got shapes \(2, 3, 128"):
        metric.update(preds, target[:1], _landmarks(2))
    with pytest.raises(ValueError, match=r"trunk must be one of 'alex', 'vgg'; got 'squeeze'"):
        streaming.LPIPS("squeeze", _where(trunks))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"alignment must be one of 'arcface', 'bilayer'; got 'dlib'"):
        streaming.CSIM("dlib", _where(arcface_dir))  # type: ignore[arg-type]


# --- names, registry, module -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "metric"), [("L1", "l1"), ("PSNR", "psnr"), ("SSIM", "ssim")])
def test_names_and_directions_come_from_the_registry(name: str, metric: str) -> None:
    cls = getattr(streaming, name)
    instance = cls()
    assert instance.name == metric and instance.variant == METRICS.get(metric).variant
    assert cls.higher_is_better is METRICS.get(metric).higher_is_better
    assert cls.is_differentiable is False and cls.full_state_update is False
    assert cls is getattr(streaming, name) and cls.__module__ == "bench.metrics.streaming"
    copy = pickle.loads(pickle.dumps(instance))  # DDP and checkpoints pickle metrics
    assert type(copy) is cls


def test_fid_is_re_exported_and_the_module_imports_no_torchmetrics() -> None:
    from bench.metrics import fid

    assert streaming.FrechetInceptionDistance is fid.FrechetInceptionDistance
    assert {"L1", "LPIPS", "CSIM", "FrechetInceptionDistance"} <= set(dir(streaming))
    with pytest.raises(AttributeError, match="has no attribute 'MSE'"):
        _ = streaming.MSE  # type: ignore[attr-defined]
    code = (
        "import sys, bench.metrics.streaming as s; sys.exit(bool({'torchmetrics', 'torchvision'} & set(sys.modules)))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False, timeout=120).returncode == 0
