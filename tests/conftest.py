"""Shared fixtures: small data sets in both layouts, an isolated cache, temporary model registrations."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from bench.models import MODELS, ModelSpec


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every test session generates the embedded default data set into its own cache folder."""
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BILAYER_BENCH_CACHE", str(cache))
        patch.delenv("BILAYER_BENCH_WEIGHTS", raising=False)
        patch.setenv("TORCH_HOME", str(cache / "torch"))
        yield cache


def landmarks_for(size: int, rng: np.random.Generator) -> np.ndarray:
    """68 plausible (x, y) points inside a frame of ``size`` pixels."""
    angles = np.linspace(0, 2 * np.pi, 68, endpoint=False)
    radius = size * (0.25 + 0.05 * rng.random(68))
    points = np.stack([size / 2 + radius * np.cos(angles), size / 2 + radius * np.sin(angles)], 1)
    return points.astype(np.float32)


def write_bilayer_dataset(
    root: Path,
    *,
    persons: int = 2,
    videos: int = 1,
    sequences: int = 2,
    frames: int = 4,
    size: int = 32,
    split: str = "test",
    segs: bool = True,
    seed: int = 0,
) -> Path:
    rng = np.random.default_rng(seed)
    for p in range(persons):
        for v in range(videos):
            for s in range(sequences):
                rel = Path(split, f"id{p:02d}", f"vid{v}", f"seq{s}")
                for f in range(frames):
                    for sub in ("imgs", "keypoints", "segs"):
                        (root / sub / rel).mkdir(parents=True, exist_ok=True)
                    image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
                    Image.fromarray(image).save(root / "imgs" / rel / f"{f}.jpg", quality=95)
                    np.save(root / "keypoints" / rel / f"{f}.npy", landmarks_for(size, rng))
                    if segs:
                        mask = (rng.random((size, size)) > 0.5).astype(np.uint8) * 255
                        Image.fromarray(mask).save(root / "segs" / rel / f"{f}.png")
    return root


@pytest.fixture
def bilayer_root(tmp_path: Path) -> Path:
    return write_bilayer_dataset(tmp_path / "data")


@pytest.fixture
def register_model() -> Iterator[Callable[..., None]]:
    """Register a model factory ("module:callable"), optionally needing weight files, for one test."""
    added: list[str] = []

    def add(name: str, factory: str, weights: tuple[str, ...] = ()) -> None:
        MODELS.register(name, ModelSpec(name, factory, f"test model {name}", weights=weights))
        added.append(name)

    yield add
    for name in added:
        MODELS.unregister(name)


# pytest-benchmark machine info (tests/benchmarks/): torch version, device, dtype and threads of the latency suite
@pytest.hookimpl(optionalhook=True)  # pytest-benchmark's hook; no error when the plugin is absent
def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict[str, Any]) -> None:
    import torch

    from bench.latency.config import config_from_environ

    settings = config_from_environ(os.environ)
    cuda = settings.device.startswith("cuda") and torch.cuda.is_available()
    machine_info["bilayer_bench"] = {
        "torch": torch.__version__,
        "device": settings.device,
        "cuda_device": torch.cuda.get_device_name(torch.device(settings.device)) if cuda else None,
        "dtype": settings.dtype,
        "threads": torch.get_num_threads(),
        "threads_requested": settings.threads or "torch default",
        "batch": settings.batch,
        "resolution": settings.resolution,
        "cuda_version": torch.version.cuda,
    }


def require_shared(path: Path, what: str) -> None:
    """Skip a test whose golden data at ``path`` is missing, except in CI (``CI=true``), where fidelity tests must
    run: there a missing ``shared/`` is a failure that says where it was looked for."""
    if path.exists():
        return
    message = f"{what} not found at {path} (the shared/ folder beside the checkout)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}: CI runs the fidelity tests, so the data must be there")
    pytest.skip(message)
