"""Tests of the embedded synthetic talking-head data set generator."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from bench.data.synth import (
    GENERATOR_VERSION,
    MANIFEST_NAME,
    MotionState,
    SynthSpec,
    clear_identity_cache,
    control_points,
    eyelid_gap,
    fit_tps,
    frame_landmarks,
    frame_warp,
    generate_dataset,
    inner_lip_gap,
    load_identity,
    render_frames,
    video_states,
)
from bench.data.synth.motion import similarity_for

SMALL = SynthSpec(
    persons=("astronaut", "procedural_00"), videos_per_person=1, sequences_per_video=1, frames_per_sequence=3
)
ALL_PERSONS = ("astronaut", "grace_hopper", "procedural_00", "procedural_01")


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _ncc(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    return float((a * b).sum() / (np.sqrt((a * a).sum() * (b * b).sum()) + 1e-12))


def _gray_patch(
    image: np.ndarray, x: float, y: float, half: int, angle_deg: float = 0.0, scale: float = 1.0
) -> np.ndarray:
    """Sub-pixel patch around ``(x, y)`` whose axes are rotated / scaled like the frame's similarity."""
    gray = np.asarray(image, np.float64).mean(axis=2)
    v, u = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float64)
    a = np.deg2rad(angle_deg)
    px = x + scale * (np.cos(a) * u - np.sin(a) * v)
    py = y + scale * (np.sin(a) * u + np.cos(a) * v)
    return ndimage.map_coordinates(gray, [py, px], order=1)


def test_determinism(tmp_path: Path) -> None:
    first = generate_dataset(tmp_path / "a", SMALL)
    clear_identity_cache()
    second = generate_dataset(tmp_path / "b", SMALL)
    files_a, files_b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert files_a.keys() == files_b.keys()
    assert all(files_a[k] == files_b[k] for k in files_a)
    assert first == second
    other = generate_dataset(tmp_path / "c", replace(SMALL, seed=1))
    assert other["sha256"].keys() == first["sha256"].keys()
    for person in SMALL.persons:
        keys = [k for k in first["sha256"] if f"/{person}/" in k]
        changed = [k for k in keys if first["sha256"][k] != other["sha256"][k]]
        assert changed, f"seed does not change {person}"


def test_layout_and_manifest(tmp_path: Path) -> None:
    root = tmp_path / "data"
    manifest = generate_dataset(root, SMALL)
    assert manifest["version"] == GENERATOR_VERSION
    assert json.loads((root / MANIFEST_NAME).read_text()) == manifest
    jpgs = sorted((root / "imgs").rglob("*.jpg"))
    expected = len(SMALL.persons) * SMALL.videos_per_person * SMALL.frames_per_video
    assert len(jpgs) == expected == len(manifest["frames"])
    assert jpgs[0].relative_to(root).as_posix() == "imgs/test/astronaut/v00/s00/00000.jpg"
    for jpg in jpgs:
        rel = jpg.relative_to(root / "imgs").with_suffix("")
        npy = root / "keypoints" / rel.with_suffix(".npy")
        png = root / "segs" / rel.with_suffix(".png")
        keypoints = np.load(npy)
        assert keypoints.shape == (68, 2) and keypoints.dtype == np.float32
        assert np.isfinite(keypoints).all()
        assert (keypoints >= 0).all() and (keypoints <= SMALL.size - 1).all()
        with Image.open(jpg) as image, Image.open(png) as seg:
            assert image.mode == "RGB" and image.size == (SMALL.size, SMALL.size)
            assert seg.mode == "L" and seg.size == (SMALL.size, SMALL.size)
            assert set(np.unique(np.asarray(seg)).tolist()) <= {0, 255}
    for rel, digest in manifest["sha256"].items():
        assert hashlib.sha256((root / rel).read_bytes()).hexdigest() == digest
    with pytest.raises(FileExistsError):
        generate_dataset(root, SMALL)


def test_written_keypoints_match_render(tmp_path: Path) -> None:
    generate_dataset(tmp_path / "d", SMALL)
    frames = list(render_frames("procedural_00", 0, SMALL))
    saved = np.load(tmp_path / "d/keypoints/test/procedural_00/v00/s00/00002.npy")
    np.testing.assert_array_equal(saved, frames[2].landmarks)


def test_tps_interpolates_random_points() -> None:
    rng = np.random.default_rng(3)
    dst = rng.uniform(0, 256, (40, 2))
    src = dst + rng.normal(0, 5, (40, 2))
    dst = np.concatenate([dst, dst[:3]])  # duplicates with equal src are merged
    src = np.concatenate([src, src[:3]])
    tps = fit_tps(dst, src)
    assert np.abs(tps(dst) - src).max() < 0.01
    ys, xs = np.mgrid[0:20, 0:30].astype(np.float64)
    np.testing.assert_allclose(tps.grid(20, 30), tps(np.stack([xs, ys], axis=-1)), atol=1e-9)
    with pytest.raises(ValueError):
        fit_tps(dst, np.concatenate([src[:-1], src[-1:] + 1.0]))


@pytest.mark.parametrize("person", ALL_PERSONS)
def test_frame_tps_interpolates_control_points(person: str) -> None:
    spec = SynthSpec(persons=(person,))
    base = load_identity(person, spec)
    states = video_states(person, 0, spec)[:2]
    closed = MotionState(roll=4.0, yaw=-9.0, pitch=5.0, tx=3.0, ty=-2.0, scale=1.04, mouth=0.0, blink=0.0)
    for state in [*states, closed]:
        landmarks, tps = frame_warp(base, state)
        dst, src = control_points(base.landmarks, landmarks, similarity_for(base.landmarks, state), spec.size)
        assert np.abs(tps(dst) - src).max() < 0.01
        assert np.abs(tps(landmarks) - base.landmarks).max() < 0.01


def test_motion_moves_opens_mouth_and_blinks() -> None:
    spec = SynthSpec(persons=("astronaut",), sequences_per_video=1, frames_per_sequence=60)
    base = load_identity("astronaut", spec).landmarks
    states = video_states("astronaut", 0, spec)
    marks = [frame_landmarks(base, s) for s in states]
    assert np.abs(marks[0] - base).max() > 0.5
    lips = np.array([inner_lip_gap(m) for m in marks])
    lids = np.array([eyelid_gap(m) for m in marks])
    assert lips.max() > inner_lip_gap(base) + 5.0
    assert lids.min() < 0.5 * eyelid_gap(base)
    assert lids.max() <= eyelid_gap(base) * 1.1
    for s in states:
        assert abs(s.roll) <= 10 and abs(s.yaw) <= 15 and abs(s.pitch) <= 8
        assert 0.93 <= s.scale <= 1.07 and 0 <= s.mouth <= 1 and 0 <= s.blink <= 0.8


@pytest.mark.parametrize("person", ALL_PERSONS)
def test_image_consistent_with_landmarks_and_mask(person: str) -> None:
    spec = SynthSpec(persons=(person,), sequences_per_video=1, frames_per_sequence=3)
    base = load_identity(person, spec)
    reference = _gray_patch(base.frame_image, *base.landmarks[30], half=8)
    frames = list(render_frames(person, 0, spec))
    assert len(frames) == 3
    for frame in frames:
        assert frame.image.shape == (256, 256, 3) and frame.mask.shape == (256, 256)
        assert frame.state is not None
        patch = _gray_patch(
            frame.image, *frame.landmarks[30], half=8, angle_deg=frame.state.roll, scale=frame.state.scale
        )
        assert _ncc(patch, reference) > 0.8
        rows = np.round(frame.landmarks[:, 1]).astype(int)
        cols = np.round(frame.landmarks[:, 0]).astype(int)
        assert (frame.mask[rows, cols] == 255).all()
        assert 0.05 < (frame.mask == 255).mean() < 0.9


def test_spec_validation() -> None:
    with pytest.raises(ValueError):
        SynthSpec(persons=("nobody",))
    with pytest.raises(ValueError):
        SynthSpec(frames_per_sequence=0)
    assert SynthSpec().frames_per_video == 16
