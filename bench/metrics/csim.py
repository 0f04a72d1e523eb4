"""CSIM, variant ``csim.arcface-irse50``: identity similarity as the bi-layer paper (Zakharov et al., 2020) reports it.

For each pair of frames, both the generated frame and the real reference frame are aligned to the ArcFace
112x112 template by a five-point similarity transform from their 68 landmarks (:mod:`bench.metrics.align`),
embedded by ArcFace IR-SE-50 (InsightFace_Pytorch's ``model_ir_se50.pth``, :mod:`bench.metrics.arcface`) into
L2-normalised 512-d vectors, and CSIM is the cosine similarity of the two embeddings, in [-1, 1], higher is better.

Suite's choice: the generated frame is aligned with the landmarks of the driving frame it should reproduce (in
self-reenactment, the ground-truth frame's landmarks), not with landmarks detected on the generated frame. The
generator is supposed to follow those landmarks; running a detector on generated frames would add a detector's
failures to the metric. A generator that misplaces the face is therefore penalised by a misaligned crop.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from bench.metrics.align import align_faces, align_faces_bilayer

__all__ = ["ALIGNMENTS", "CSIM_VARIANT", "csim", "embed_faces"]

CSIM_VARIANT = "csim.arcface-irse50"
# ``csim.bilayer.irse50``: the same network, aligned as the bi-layer code's losses/csim.py (align_faces_bilayer)
ALIGNMENTS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "arcface": align_faces,
    "bilayer": align_faces_bilayer,
}


def embed_faces(
    model: nn.Module, images: torch.Tensor, landmarks: torch.Tensor, alignment: str = "arcface"
) -> torch.Tensor:
    """Aligned ArcFace embeddings (N, 512) of images (N, 3, H, W) in [0, 1] with landmarks (N, 68, 2)."""
    with torch.inference_mode():
        return model(ALIGNMENTS[alignment](images, landmarks))


def csim(
    model: nn.Module,
    pred: torch.Tensor,
    pred_landmarks: torch.Tensor,
    reference: torch.Tensor,
    reference_landmarks: torch.Tensor,
    alignment: str = "arcface",
    *,
    embed_reference: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Per-pair cosine similarity (N,) of the ArcFace embeddings of ``pred[i]`` and ``reference[i]``.

    Images are RGB (N, 3, H, W) in [0, 1] (the two sets may differ in size); landmarks (N, 68, 2) in pixels of
    their own image. ``pred_landmarks`` are the driver's landmarks (see the module docstring).
    ``embed_reference(reference, reference_landmarks)`` replaces the reference side's embedding (a
    :class:`~bench.metrics.reference.ReferenceMemo` computing it once per real frame for every model).
    """
    counts = (pred.shape[0], pred_landmarks.shape[0], reference.shape[0], reference_landmarks.shape[0])
    if len(set(counts)) != 1:
        raise ValueError(
            "expected one landmark set per frame and as many generated as reference frames, got (pred, "
            f"pred_landmarks, reference, reference_landmarks) counts {counts}"
        )
    first = embed_faces(model, pred, pred_landmarks, alignment)
    if embed_reference is not None:
        second = embed_reference(reference, reference_landmarks)
    else:
        second = embed_faces(model, reference, reference_landmarks, alignment)
    return F.cosine_similarity(first.float(), second.float(), dim=1).clamp(-1.0, 1.0)
