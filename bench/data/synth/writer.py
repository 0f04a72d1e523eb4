"""Writing a synthetic data set in the bi-layer authors' layout.

``ROOT/imgs/<split>/<person>/<video>/<sequence>/<frame>.jpg`` (RGB JPEG, quality 95, 4:4:4),
``ROOT/keypoints/<split>/.../<frame>.npy`` (float32 ``(68, 2)`` pixel ``(x, y)``) and
``ROOT/segs/<split>/.../<frame>.png`` (8-bit, 255 = person), plus ``ROOT/MANIFEST.json``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm import tqdm

from .render import SynthFrame, render_frames
from .spec import GENERATOR_VERSION, SynthSpec

logger = logging.getLogger(__name__)

MANIFEST_NAME = "MANIFEST.json"


def video_name(video: int) -> str:
    return f"v{video:02d}"


def sequence_name(sequence: int) -> str:
    return f"s{sequence:02d}"


def frame_name(frame: int) -> str:
    return f"{frame:05d}"


def encode_frame(frame: SynthFrame) -> tuple[bytes, bytes, bytes]:
    """JPEG image, ``.npy`` keypoints and PNG mask bytes of a frame (deterministic)."""
    jpg = io.BytesIO()
    rgb = Image.fromarray(np.ascontiguousarray(frame.image, dtype=np.uint8))
    rgb.save(jpg, format="JPEG", quality=95, subsampling=0)
    npy = io.BytesIO()
    np.save(npy, np.ascontiguousarray(frame.landmarks, dtype=np.float32), allow_pickle=False)
    png = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(frame.mask, dtype=np.uint8)).save(png, format="PNG")
    return jpg.getvalue(), npy.getvalue(), png.getvalue()


def _prepare_root(root: Path) -> None:
    if root.exists():
        if not root.is_dir():
            raise NotADirectoryError(f"{root} exists and is not a directory")
        if any(root.iterdir()):
            raise FileExistsError(f"{root} is not empty")
    root.mkdir(parents=True, exist_ok=True)


def generate_dataset(root: Path | str, spec: SynthSpec | None = None, *, progress: bool = False) -> dict[str, Any]:
    """Generate the data set of ``spec`` (default ``SynthSpec()``) under ``root`` (absent or empty).

    Returns the manifest (spec, generator version, per-frame entries and the sha256 of every written
    file, keyed by the path relative to ``root``), which is also written to ``root/MANIFEST.json``.
    Identical specs give byte-identical files.
    """
    spec = SynthSpec() if spec is None else spec
    root = Path(root)
    _prepare_root(root)
    frames: list[dict[str, Any]] = []
    digests: dict[str, str] = {}
    videos = [(person, video) for person in spec.persons for video in range(spec.videos_per_person)]
    bar = tqdm(videos, desc="generating data set", unit="video", disable=None if progress else True)
    for person, video in bar:
        # one video timeline: its sequences are consecutive segments
        for index, frame in enumerate(render_frames(person, video, spec)):
            sequence, number = divmod(index, spec.frames_per_sequence)
            parts = (spec.split, person, video_name(video), sequence_name(sequence), frame_name(number))
            rel = "/".join(parts)
            entry = {
                "person": person,
                "video": video_name(video),
                "sequence": sequence_name(sequence),
                "frame": frame_name(number),
                "image": f"imgs/{rel}.jpg",
                "keypoints": f"keypoints/{rel}.npy",
                "seg": f"segs/{rel}.png",
            }
            for key, payload in zip(("image", "keypoints", "seg"), encode_frame(frame), strict=True):
                path = root / entry[key]
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(payload)
                digests[entry[key]] = hashlib.sha256(payload).hexdigest()
            frames.append(entry)
    spec_dict = dataclasses.asdict(spec)
    spec_dict["persons"] = list(spec.persons)
    manifest: dict[str, Any] = {
        "generator": "bench.data.synth",
        "version": GENERATOR_VERSION,
        "spec": spec_dict,
        "layout": "{imgs,keypoints,segs}/<split>/<person>/<video>/<sequence>/<frame>.{jpg,npy,png}",
        "frames": frames,
        "sha256": dict(sorted(digests.items())),
    }
    text = json.dumps(manifest, indent=1, sort_keys=True) + "\n"
    (root / MANIFEST_NAME).write_text(text, encoding="utf-8")
    if progress:
        logger.info("synth: wrote %d frames to %s", len(frames), root)
    return manifest
