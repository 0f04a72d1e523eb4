"""Cost of a stage besides time: FLOPs, parameters per network, peak memory.

FLOPs come from ``torch.utils.flop_counter.FlopCounterMode`` over one call: it counts the operators it has
formulas for (matrix products, convolutions, attention) with a multiply-add as 2 FLOPs; element-wise operations,
normalisations, ``grid_sample``, interpolation and anything outside torch (dlib, numpy) are not counted, so the
counts are lower bounds of the arithmetic done.

Parameters are counted per network: the ``nn.Module`` children (holding parameters) of the model, or of the
``nn.Module`` attributes of a model wrapper that is not itself a module (the bi-layer wrapper holds its
``BilayerModel`` in ``.model``).

Peak memory of one call: on CUDA, ``torch.cuda.max_memory_allocated`` after a reset, minus what was allocated
before (tensors of the caching allocator; cached-but-free blocks are not counted). On the CPU, the growth of the
process's resident set size: RSS sampled every millisecond by a thread (psutil) during the call, peak minus the
value before. Before the call, glibc's ``malloc_trim(0)`` (where the C library has it) returns the heap memory
that earlier calls freed, which the allocator would otherwise reuse without any growth of RSS. That is still
approximate: samples can miss a short peak, and other threads of the process count too.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from collections.abc import Callable

import psutil
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = [
    "FLOPS_CONVENTION",
    "FLOPS_COUNTED",
    "count_flops",
    "freeze",
    "networks",
    "parameter_counts",
    "peak_memory",
]

FLOPS_CONVENTION = "multiply-add = 2 FLOPs"
FLOPS_COUNTED = (
    "torch.utils.flop_counter.FlopCounterMode: matrix products, convolutions and attention only; element-wise "
    "ops, normalisation, grid_sample, interpolation and non-torch work (dlib, numpy) are not counted"
)
CPU_MEMORY_METHOD = (
    "CPU resident-set growth: peak RSS sampled every 1 ms by a thread (psutil) during one call minus RSS before"
    "{trim}; approximate (memory the allocator keeps for reuse, short peaks and other threads are not separated)"
)
TRIMMED = ", glibc malloc_trim(0) first so that memory freed earlier is returned and allocations show in RSS"
CUDA_MEMORY_METHOD = "torch.cuda.max_memory_allocated during one call minus memory_allocated before (tensors only)"


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of one call of ``fn`` (a multiply-add counts 2) as FlopCounterMode sees them."""
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return int(counter.get_total_flops())


def _roots(model: object) -> list[tuple[str, nn.Module]]:
    if isinstance(model, nn.Module):
        return [("", model)]
    attributes = getattr(model, "__dict__", {})
    return [(name, value) for name, value in attributes.items() if isinstance(value, nn.Module)]


def networks(model: object) -> dict[str, nn.Module]:
    """The named networks of ``model``: ``nn.Module`` children that hold parameters (see the module docstring).
    Names are the children's attribute names, prefixed by the wrapper's attribute when it holds several modules;
    parameters held by a root module itself, outside its children, appear as ``ROOT(own)``."""
    roots = _roots(model)
    found: dict[str, nn.Module] = {}
    for root_name, root in roots:
        prefix = f"{root_name}." if root_name and len(roots) > 1 else ""
        for child_name, child in root.named_children():
            if any(True for _ in child.parameters()):
                found[prefix + child_name] = child
        if any(True for _ in root.parameters(recurse=False)):
            found[f"{root_name or type(root).__name__}(own)"] = root
    return found


def parameter_counts(model: object) -> dict[str, int]:
    """Parameters per network; ``(own)`` entries count only the root's direct parameters."""
    counts = {}
    for name, module in networks(model).items():
        params = module.parameters(recurse=not name.endswith("(own)"))
        counts[name] = sum(p.numel() for p in params)
    return counts


def freeze(model: object) -> None:
    """``requires_grad_(False)`` on every module of ``model``: inference does not need it, and FlopCounterMode's
    module tracker fails on parameters that require grad inside ``torch.inference_mode``."""
    for _, root in _roots(model):
        root.requires_grad_(False)


def _trim_heap() -> bool:
    """glibc ``malloc_trim(0)``: give freed heap memory back to the OS; False where unavailable."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)  # returns 1 if memory was released, 0 if there was none to release
    except (OSError, AttributeError):  # not glibc (macOS, musl): no malloc_trim
        return False
    return True


def _cpu_peak(fn: Callable[[], object]) -> tuple[int, str]:
    process = psutil.Process()
    trimmed = _trim_heap()
    before = process.memory_info().rss
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            done.wait(0.001)

    thread = threading.Thread(target=sample, name="rss-sampler", daemon=True)
    thread.start()
    try:
        fn()
        peak[0] = max(peak[0], process.memory_info().rss)
    finally:
        done.set()
        thread.join()
    return max(0, peak[0] - before), CPU_MEMORY_METHOD.format(trim=TRIMMED if trimmed else "")


def peak_memory(fn: Callable[[], object], device: str) -> tuple[int, str]:
    """Peak memory growth in bytes during one call of ``fn``, and how it was measured."""
    if not device.startswith("cuda"):
        return _cpu_peak(fn)
    target = torch.device(device)
    torch.cuda.synchronize(target)
    before = torch.cuda.memory_allocated(target)
    torch.cuda.reset_peak_memory_stats(target)
    fn()
    torch.cuda.synchronize(target)
    return max(0, torch.cuda.max_memory_allocated(target) - before), CUDA_MEMORY_METHOD
