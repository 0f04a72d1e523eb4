"""A complete model of your own, as the README's "Evaluate your own model" guide runs it.

The model blends the source frame with the driving frame and applies a per-channel colour gain:
``output = clamp(gain * (blend * source + (1 - blend) * driver), 0, 1)``. It is no talking-head model: it is
small enough that a test recomputes its numbers by hand, and it has everything a real one has: a weight file
(``my_model_colour.pth``, a state dict ``{"gain": float32 tensor (3,)}``), an argument of its factory (``blend``),
per-avatar work in ``prepare`` and per-frame work in ``animate``.

Run it (from the folder that holds ``examples/``)::

    python -m examples.my_model --save-weights weights/        # writes weights/my_model_colour.pth
    bilayer-bench run --models examples.my_model:create --model-args blend=0.25 --weights-dir weights/
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import torch

from bench.models import Frames
from bench.models.plugins import avatar_model

WEIGHT = "my_model.colour"  # the name the factory receives the file's path under
WEIGHT_FILE = "my_model_colour.pth"


@dataclass(frozen=True)
class BlendState:
    """What ``prepare`` computes once per avatar: here only the source image."""

    source: torch.Tensor  # (1, 3, H, W) in [0, 1]


class BlendModel(torch.nn.Module):
    def __init__(self, gain: torch.Tensor, blend: float) -> None:
        super().__init__()
        self.register_buffer("gain", gain.reshape(1, 3, 1, 1).float())
        self.blend = blend
        # what the run's weights.json records about the model's choices
        self.record_notes = {"blend": blend, "gain": [float(g) for g in gain.flatten()]}

    def prepare(self, source: Frames) -> BlendState:
        return BlendState(source.image)

    def animate(self, state: BlendState, driver: Frames) -> torch.Tensor:
        if state.source.shape[-2:] != driver.image.shape[-2:]:
            raise ValueError(f"source {tuple(state.source.shape)} and driver {tuple(driver.image.shape)} differ")
        mixed = self.blend * state.source + (1.0 - self.blend) * driver.image
        return (self.gain * mixed).clamp(0.0, 1.0)  # (N, 3, H, W): whole frames aligned with the driver's


@avatar_model(
    description="example: blend of source and driver with a per-channel colour gain (README guide)",
    weights={WEIGHT: WEIGHT_FILE},
    output_geometry="frame",
)
def create(weights: dict[str, Path] | None = None, seed: int = 0, blend: float = 0.5) -> BlendModel:
    """The example model; ``weights`` is None for a run with random weights (then the gain is drawn from ``seed``)."""
    if not 0.0 <= blend <= 1.0:
        raise ValueError(f"blend must be in [0, 1], got {blend}")
    if weights is None:
        gain = 1.0 + 0.1 * torch.randn(3, generator=torch.Generator().manual_seed(seed))
    else:
        state = torch.load(weights[WEIGHT], map_location="cpu", weights_only=True)
        gain = state["gain"]
    return BlendModel(gain, blend)


def save_weights(folder: Path, gain: tuple[float, float, float] = (0.9, 1.0, 1.1)) -> Path:
    """Write the weight file ``folder/my_model_colour.pth``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / WEIGHT_FILE
    torch.save({"gain": torch.tensor(gain, dtype=torch.float32)}, path)
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="write the example model's weight file")
    parser.add_argument("--save-weights", type=Path, required=True, metavar="FOLDER")
    print(save_weights(parser.parse_args().save_weights))
