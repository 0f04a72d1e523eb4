"""``--compile``: which parts of a model ``torch.compile`` wraps, and how.

Compiling a model's whole ``animate`` callable does not work for the models here: the bi-layer's per-frame crop
boxes are Python numbers computed with numpy from the driver's landmarks (a recompilation for every new box,
until dynamo's limit), and FOMM's ``animate`` opens its own ``torch.inference_mode()`` block, which inductor
fails on (torch 2.13: "Cannot set version_counter for inference tensor"). So the tensor-only networks each
model calls per frame are compiled in place, by attribute path from the model wrapper:

* bi-layer: ``model.animate_poses`` (keypoints embedder, folded inference generator, texture sampling);
* FOMM: ``kp_detector``, ``generator.dense_motion_network``, ``generator.warp``, ``generator.decode``.

Any other model gets its ``animate`` callable compiled. Modules are compiled with ``nn.Module.compile`` (in place),
methods are replaced on the instance by ``torch.compile(method)``. Wherever the model calls a compiled part it
runs compiled (FOMM's ``prepare`` calls the compiled keypoint detector too). FLOPs are counted with compiled code
forced eager (``torch.compiler.set_stance("force_eager")``); compilation happens in the warm-up calls.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

__all__ = ["COMPILE_TARGETS", "compile_model", "eager"]

# factory module prefix -> attribute paths (from the model the registry returns) of the per-frame networks
COMPILE_TARGETS: dict[str, tuple[str, ...]] = {
    "bilayer.": ("model.animate_poses",),
    "baselines.fomm.": ("kp_detector", "generator.dense_motion_network", "generator.warp", "generator.decode"),
}


def _targets(factory: str) -> tuple[str, ...]:
    matches = [prefix for prefix in COMPILE_TARGETS if factory.startswith(prefix)]
    return COMPILE_TARGETS[max(matches, key=len)] if matches else ("animate",)


def compile_model(model: Any, factory: str) -> list[str]:
    """Compile the per-frame parts of ``model`` (built by ``factory``) in place; returns their attribute paths."""
    compiled = []
    for path in _targets(factory):
        *parents, name = path.split(".")
        owner = model
        for part in parents:
            owner = getattr(owner, part)
        target = getattr(owner, name)
        if isinstance(target, nn.Module):
            target.compile()
        else:
            setattr(owner, name, torch.compile(target))
        compiled.append(path)
    return compiled


@contextlib.contextmanager
def eager() -> Iterator[None]:
    """Compiled code runs eagerly inside (for the FLOP counter, which must see every operator)."""
    with torch.compiler.set_stance("force_eager"):
        yield
