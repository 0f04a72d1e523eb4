"""The model protocol (``prepare`` once per source, ``animate`` per frame) and the model registry."""

from bench.models.protocol import AvatarModel, Frames, frames_from_data
from bench.models.zoo import MODELS, LoadedModel, ModelSpec, create_model, list_models

__all__ = [
    "MODELS",
    "AvatarModel",
    "Frames",
    "LoadedModel",
    "ModelSpec",
    "create_model",
    "frames_from_data",
    "list_models",
]
