"""What the model registry holds about a system under test (:class:`ModelSpec`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["ModelSpec"]


@dataclass(frozen=True)
class ModelSpec:
    """A registered system. ``factory`` is ``"module:callable"`` called as ``factory(weights=..., seed=...)``
    where ``weights`` maps weight-registry names to files, or is None for random initialisation."""

    name: str
    factory: str
    description: str
    weights: tuple[str, ...] = ()
    needs_landmarks: bool = False
    paper: str = ""
    always_random: bool = False  # tiny test variants: random weights by design, labelled so
    optional_weights: tuple[str, ...] = ()  # passed to the factory when present and verified-or-unpinned
    output_geometry: Literal["frame", "crop"] = "frame"  # what animate returns (bench.space): frames or crops
    origin: str = ""  # "": built in; else where a model of the user's comes from (bench.models.plugins)

    @property
    def is_users(self) -> bool:
        """A model of the user's (``module:callable`` or an entry point): its factory may take ``model_args``."""
        return bool(self.origin)
