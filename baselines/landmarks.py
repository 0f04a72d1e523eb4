"""68-point landmarks from face-alignment (FAN + S3FD) loaded from local files: a landmark source for models
that need landmarks of frames the data set does not annotate (FOMM's best-frame mode).

face-alignment would download its weights into the torch hub cache; here both files come from the caller
(the suite resolves them from its weights registry), so nothing is downloaded. As in first-order-model's demo,
the detector receives ``255 * image`` as float and the first detected face is used.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

__all__ = ["FaceAlignmentLandmarks", "NoFaceError"]


class NoFaceError(ValueError):
    """face-alignment found no face in a frame."""


class FaceAlignmentLandmarks:
    """Callable ``images (N, 3, H, W) in [0, 1] -> (N, 68, 2) float32 pixel (x, y)``."""

    def __init__(self, fan: Path | str, s3fd: Path | str, device: str = "cpu") -> None:
        from face_alignment.api import FAN, FaceAlignment, LandmarksType

        fan_path = Path(fan)

        class _LocalFiles(FaceAlignment):
            def _load_native(self, network_name: str, network_size: int, device: str, dtype: torch.dtype):
                net = FAN(network_size)
                net.load_state_dict(torch.load(fan_path, map_location=device, weights_only=True))
                return net.to(device, dtype=dtype).eval()

        self.aligner = _LocalFiles(
            LandmarksType.TWO_D,
            device=device,
            flip_input=False,
            face_detector="sfd",
            face_detector_kwargs={"path_to_detector": str(s3fd)},
            compile=False,
        )

    def _first_face(self, image: torch.Tensor, box: np.ndarray | None, quantize: bool) -> np.ndarray | None:
        array = image.detach().permute(1, 2, 0).cpu().numpy().astype(np.float32) * 255.0
        if quantize:
            array = np.round(np.clip(array, 0.0, 255.0))  # the 8-bit levels an image file would hold
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # face-alignment warns "No faces were detected."
            found = self.aligner.get_landmarks_from_image(array, detected_faces=None if box is None else [box])
        return np.asarray(found[0], dtype=np.float32)[:, :2] if found else None

    def __call__(self, images: torch.Tensor, boxes: list[np.ndarray] | None = None) -> np.ndarray:
        """Landmarks of the first face per frame; ``boxes`` (one [x0, y0, x1, y1] per frame) skip detection."""
        out = []
        for i, image in enumerate(images):
            found = self._first_face(image, None if boxes is None else boxes[i], quantize=False)
            if found is None:
                raise NoFaceError(f"face-alignment found no face in frame {i}; use the data set's landmarks instead")
            out.append(found)
        return np.stack(out)

    def landmarks_or_nan(self, images: torch.Tensor) -> np.ndarray:
        """(N, 68, 2) landmarks of the first detected face of each frame, rounded to 8-bit levels first as if read
        from an image file; NaN rows where no face is found (metrics skip and count those frames)."""
        out = np.full((len(images), 68, 2), np.nan, dtype=np.float32)
        for i, image in enumerate(images):
            found = self._first_face(image, None, quantize=True)
            if found is not None:
                out[i] = found
        return out
