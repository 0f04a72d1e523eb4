"""bench.metrics.reference: reference-side features kept for the tensor they were computed from."""

from __future__ import annotations

import torch

from bench.metrics.reference import ReferenceMemo


def test_same_tensor_computed_once_other_or_modified_tensors_again() -> None:
    calls: list[int] = []

    def features(images: torch.Tensor, scale: float) -> torch.Tensor:
        calls.append(len(images))
        return images.sum((1, 2, 3)) * scale

    memo = ReferenceMemo(features)
    first = torch.ones(3, 1, 2, 2)
    assert memo(first, 2.0).tolist() == [8.0] * 3
    assert memo(first, 2.0).tolist() == [8.0] * 3 and calls == [3]
    assert memo(first.clone(), 2.0).tolist() == [8.0] * 3 and calls == [3, 3]  # equal values, another tensor
    second = torch.ones(2, 1, 2, 2)
    memo(second, 2.0)
    second.mul_(2)  # modified in place: its features are stale
    assert memo(second, 2.0).tolist() == [16.0] * 2 and calls == [3, 3, 2, 2]
    assert memo.frames == 10
