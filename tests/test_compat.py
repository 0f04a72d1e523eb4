"""The torchvision compatibility step: torchvision, lpips and pytorch-fid import on a CPU-only torch."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)


def test_shim_makes_torchvision_lpips_and_pytorch_fid_importable() -> None:
    result = _python(
        "from bench.compat import ensure_torchvision\n"
        "status = ensure_torchvision()\n"
        "import torchvision, lpips, pytorch_fid.inception\n"
        "assert ensure_torchvision() == status  # idempotent\n"
        "torchvision.models.alexnet()  # pure-Python parts work\n"
        "print(status)\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() in {"native", "declared"}


def test_shim_is_needed_here_or_a_no_op() -> None:
    """Where the extension does not load, plain `import torchvision` fails and the shim declared schemas."""
    status = _python("from bench.compat import ensure_torchvision; print(ensure_torchvision())").stdout.strip()
    plain = _python("import torchvision")
    if status == "native":
        assert plain.returncode == 0, plain.stderr
    else:
        assert status == "declared"
        assert "torchvision::nms does not exist" in plain.stderr


def test_compiled_ops_still_raise_torchvisions_own_error() -> None:
    result = _python(
        "from bench.compat import ensure_torchvision\n"
        "if ensure_torchvision() != 'declared':\n"
        "    raise SystemExit(3)\n"
        "import torch, torchvision\n"
        "try:\n"
        "    torchvision.ops.nms(torch.rand(4, 4), torch.rand(4), 0.5)\n"
        "except RuntimeError as error:\n"
        "    print(error)\n"
    )
    if result.returncode == 3:
        pytest.skip("torchvision's extension loads natively here")
    assert result.returncode == 0, result.stderr
    assert "Couldn't load custom C++ ops" in result.stdout


def test_after_import_reports_imported() -> None:
    result = _python(
        "import bench.compat as c\n"
        "import sys, types\n"
        "sys.modules['torchvision'] = types.ModuleType('torchvision')\n"
        "print(c.ensure_torchvision())\n"
    )
    assert result.stdout.strip() == "imported", result.stderr
