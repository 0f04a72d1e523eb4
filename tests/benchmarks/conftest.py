"""pytest-benchmark machine info: torch version, device, dtype and threads of the latency suite's settings."""

from __future__ import annotations

import os
from typing import Any

import pytest


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
