"""Faces for the tests of dlib's pipeline and its port: real portraits, frames of the embedded data set, and
generated-looking versions of them (noise, blur, JPEG, a small warp, a colour cast), with dlib as the reference."""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

from bench.weights import WeightsLocations, require

SIZE = 256
UPSAMPLE = 1  # as bench.metrics.dlib_metrics


@cache
def model_paths() -> tuple[Path, Path]:
    """(68-point predictor, recognition ResNet) as the installed face-recognition-models package ships them."""
    locations = WeightsLocations()  # packages only
    predictor, recognizer = require("dlib.shape-predictor-68", locations), require("dlib.resnet-v1", locations)
    assert predictor.path is not None and recognizer.path is not None
    return predictor.path, recognizer.path


@cache
def dlib_models() -> tuple[Any, Any, Any]:
    """dlib's (HOG detector, 68-point predictor, face_recognition_model_v1): the reference."""
    import dlib

    predictor, recognizer = model_paths()
    return (
        dlib.get_frontal_face_detector(),
        dlib.shape_predictor(str(predictor)),
        dlib.face_recognition_model_v1(str(recognizer)),
    )


def dlib_shape(image: np.ndarray) -> Any:
    """dlib's 68-point shape in the largest detected face (None without one), as bench.metrics.dlib_metrics."""
    detector, predictor, _ = dlib_models()
    faces = detector(image, UPSAMPLE)
    return None if len(faces) == 0 else predictor(image, max(faces, key=lambda r: r.width() * r.height()))


def shape_points(shape: Any) -> np.ndarray:
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)


def detection(points: np.ndarray) -> Any:
    """A dlib ``full_object_detection`` of integer (x, y) points (dlib's shapes have integer parts)."""
    import dlib

    parts = [dlib.point(int(x), int(y)) for x, y in np.round(points)]
    return dlib.full_object_detection(dlib.rectangle(0, 0, 1, 1), parts)


@cache
def portraits() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Real portraits: name -> (RGB uint8 image, 68 integer landmarks); the originals, the embedded data set's
    256x256 crops and crops at other sizes."""
    from bench.data.synth.portraits import crop_portrait, load_portrait

    out = {}
    for name in ("astronaut", "grace_hopper"):
        image, landmarks = load_portrait(name)
        out[name] = (image, landmarks.astype(np.float64))
        for size in (SIZE, 144, 400):
            crop, points = crop_portrait(image, landmarks, size, 0)
            out[f"{name}-{size}"] = (np.ascontiguousarray(crop), np.asarray(points, dtype=np.float64))
    return out


@cache
def dataset_frames() -> dict[str, np.ndarray]:
    """Frames of the embedded default data set's real identities, rendered by its generator (video 0, frame 0 and 1)."""
    from itertools import islice

    from bench.data.synth.render import render_frames

    out = {}
    for person in ("astronaut", "grace_hopper"):
        for index, frame in enumerate(islice(render_frames(person, 0), 2)):
            out[f"data-{person}-{index}"] = np.ascontiguousarray(frame.image)
    return out


def perturbed(image: np.ndarray, kind: str, seed: int = 0) -> np.ndarray:
    """A generated-looking version of a frame: ``noise``, ``blur``, ``jpeg``, ``warp`` or ``cast``."""
    rng = np.random.default_rng(seed)
    pil = Image.fromarray(image)
    if kind == "noise":
        out = np.clip(image + rng.normal(0, 10, image.shape), 0, 255)
    elif kind == "blur":
        out = np.asarray(pil.filter(ImageFilter.GaussianBlur(1.5)))
    elif kind == "jpeg":
        buffer = io.BytesIO()
        pil.save(buffer, "JPEG", quality=25)
        out = np.asarray(Image.open(buffer).convert("RGB"))
    elif kind == "warp":
        out = np.asarray(pil.rotate(7, resample=Image.Resampling.BILINEAR, translate=(3, -2)))
    elif kind == "cast":
        out = np.clip(image * np.array([1.1, 0.95, 0.85]) + 6, 0, 255)
    else:
        raise ValueError(f"unknown perturbation {kind!r}")
    return np.ascontiguousarray(out.astype(np.uint8))


PERTURBATIONS = ("noise", "blur", "jpeg", "warp", "cast")


@cache
def face_frames() -> dict[str, np.ndarray]:
    """256x256 frames with a face dlib detects: the real crops, data set frames, and perturbed versions of both."""
    real = {name: image for name, (image, _) in portraits().items() if name.endswith(f"-{SIZE}")}
    frames = {**real, **dataset_frames()}
    for index, (name, image) in enumerate(list(frames.items())):
        kind = PERTURBATIONS[index % len(PERTURBATIONS)]
        frames[f"{name}+{kind}"] = perturbed(image, kind, seed=index)
    for name in (f"astronaut-{SIZE}", f"grace_hopper-{SIZE}"):
        for kind in PERTURBATIONS:
            frames.setdefault(f"{name}+{kind}", perturbed(real[name], kind, seed=7))
    return frames
