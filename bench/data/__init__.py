"""Data sets: the bi-layer authors' layout, FOMM's layout, and the embedded default data set."""

from bench.data.dataset import Dataset, open_dataset
from bench.data.types import FrameData, FrameRef, SequenceRef

__all__ = ["Dataset", "FrameData", "FrameRef", "SequenceRef", "open_dataset"]
