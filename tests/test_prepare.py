"""``bilayer-bench prepare`` end to end: clips made from the embedded default frames become a data set that the
bench opens and evaluates; unreadable, too short and faceless clips are skipped with their reason; an
interrupted run resumes.

The clips are H.264 .mp4 files written with PyAV from the default data set's frames (``bench.prepare.samples``:
each 256x256 frame placed on a 320x256 grey canvas, so that the crop has something to do). dlib's HOG detector
finds the face in every frame of all four identities, the two photographs (astronaut, grace_hopper) and the two
procedural faces; the faceless case is a clip of noise.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.config import DataConfig, RunConfig
from bench.data import open_dataset
from bench.data.default import ensure_default_dataset
from bench.prepare import DetectConfig, PrepareConfig, prepare_clips
from bench.prepare import pipeline as prepare_pipeline
from bench.prepare import writer as prepare_writer
from bench.prepare.samples import CANVAS_WIDTH, default_video_frames, write_clip, write_default_clips
from bench.runner import run_benchmark
from bench.weights import WeightsLocations

PERSONS = ("astronaut", "grace_hopper", "procedural_00", "procedural_01")
WHERE = WeightsLocations()  # dlib's predictor comes from its package; no folder searched


def default_frames(person: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The 16 frames of the person's first default video on the canvas, and their true landmarks there."""
    return default_video_frames(ensure_default_dataset(), person, "v00")


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four good clips (one per identity), a faceless one, a too short one and two unreadable files."""
    root = tmp_path_factory.mktemp("clips") / "mp4"
    assert len(write_default_clips(root, videos=("v00",))) == len(PERSONS)
    noise = np.random.default_rng(0).integers(80, 120, (16, 256, CANVAS_WIDTH, 3), dtype=np.uint8)
    write_clip(root / "id_blank" / "v00" / "00001.mp4", list(noise))
    write_clip(root / "id_short" / "v00" / "00001.mp4", default_frames("astronaut")[0][:8])
    (root / "id_corrupt" / "v00").mkdir(parents=True)
    (root / "id_corrupt" / "v00" / "00001.mp4").write_bytes(np.random.default_rng(1).bytes(4096))
    good = (root / "id_astronaut" / "v00" / "00001.mp4").read_bytes()
    (root / "id_truncated" / "v00").mkdir(parents=True)
    (root / "id_truncated" / "v00" / "00001.mp4").write_bytes(good[: len(good) // 3])
    return root


@pytest.fixture(scope="module")
def prepared(clips: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("prepared") / "vox"
    config = PrepareConfig(layouts=("bilayer", "fomm"))
    return prepare_clips(clips, out, config, locations=WHERE, progress=False)


def test_skipped_clips_and_their_reasons(prepared) -> None:
    assert prepared.done == 4 and prepared.processed == 8 and prepared.reused == 0
    assert dict(prepared.skipped) == {"no face": 1, "too short": 1, "unreadable": 2}
    with prepared.skipped_csv.open(newline="") as handle:
        rows = {row["clip"]: row for row in csv.DictReader(handle)}
    assert {k: r["reason"] for k, r in rows.items()} == {
        "id_blank/v00/00001": "no face",
        "id_short/v00/00001": "too short",
        "id_corrupt/v00/00001": "unreadable",
        "id_truncated/v00/00001": "unreadable",
    }
    assert rows["id_blank/v00/00001"]["detail"].startswith("a face in 0 of 16 frames")
    assert rows["id_short/v00/00001"]["detail"] == "8 frames < min_frames 16"
    manifest = json.loads(prepared.manifest.read_text())
    assert manifest["summary"]["skipped"] == {"no face": 1, "too short": 1, "unreadable": 2}
    assert {s["key"] for s in manifest["skipped"]} == set(rows)


def test_manifest_records_provenance_per_clip(prepared, clips: Path) -> None:
    manifest = json.loads(prepared.manifest.read_text())
    assert manifest["schema"] == "bilayer-bench.prepare" and manifest["suite_version"] == "0.1.0"
    assert manifest["landmarks"]["backend"] == "dlib"
    assert manifest["summary"]["frames_kept"] == 64 and manifest["summary"]["frames_dropped"] == 0
    assert manifest["segmentation"]["source"] == "segmenter" and manifest["segmentation"]["sha256"]
    by_key = {c["key"]: c for c in manifest["clips"]}
    clip = by_key["id_astronaut/v00/00001"]
    source = clips / "id_astronaut" / "v00" / "00001.mp4"
    assert clip["source"] == str(source)
    assert clip["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert clip["fps"] == 25.0 and clip["frames_total"] == 16 and clip["frames_kept"] == 16
    assert clip["detections"] < 16  # the detector ran on a subsample (every 5th frame and the last)
    (sequence,) = clip["sequences"]
    assert sequence["name"] == "00001" and sequence["fomm_name"] == "id_astronaut#v00#00001#00000#00015"
    assert sequence["frames"][:2] == ["00000", "00001"] and len(sequence["boxes"]) == 16
    assert len({tuple(b) for b in sequence["boxes"]}) == 1  # one square per sequence (crop mode "clip")
    weights = clip["landmarks"]["weights"][0]
    assert weights["name"] == "dlib.shape-predictor-68" and len(weights["sha256"]) == 64


def test_bilayer_layout_opens_and_evaluates(prepared, tmp_path: Path) -> None:
    dataset = open_dataset(DataConfig(root=str(prepared.out_root), split="test"))
    assert [s.id for s in dataset.sequences] == [f"id_{p}/v00/00001" for p in PERSONS]
    frames = dataset.load(dataset.sequences[0], range(16))
    assert frames[0].image.shape == (256, 256, 3) and frames[0].segmentation is not None  # the segmenter's
    assert frames[0].landmarks is not None and frames[0].landmarks.dtype == np.float32
    config = RunConfig(data=DataConfig(root=str(prepared.out_root)), metrics=("l1", "psnr", "ssim"), threads=1)
    result = run_benchmark(config, out_root=tmp_path / "runs", progress=False)
    assert result.status == "complete" and result.failures.empty
    table = result.summary.set_index(["model", "protocol", "metric"]).value
    assert table["oracle", "self", "l1"] == 0.0 and table["oracle", "self", "psnr"] == float("inf")
    assert table["copy-source", "self", "l1"] > 0.01 and table["copy-source", "self", "ssim"] < 0.95
    counts = result.counts.groupby(["model", "protocol"]).frames.sum()
    assert counts["oracle", "self"] == 4 * 15 and counts["oracle", "cross"] == 4 * 16


def test_fomm_layout_opens_with_voxceleb_names(prepared) -> None:
    dataset = open_dataset(DataConfig(root=str(prepared.out_root), layout="fomm", split="test"))
    assert [(s.person, s.video, s.sequence) for s in dataset.sequences] == [
        (f"id_{p}", "v00", "00001#00000#00015") for p in PERSONS
    ]
    assert len(dataset.sequences[0].frames) == 16
    bilayer = np.asarray(Image.open(prepared.out_root / "imgs/test/id_astronaut/v00/00001/00003.jpg"))
    fomm = dataset.load(dataset.sequences[0], [3])[0].image
    assert np.abs(bilayer.astype(float) - fomm).mean() < 2.0  # the same crop, JPEG vs PNG


@pytest.mark.parametrize("person", ["astronaut", "procedural_00"])
def test_landmarks_are_those_of_the_crop(prepared, person: str) -> None:
    """Stored landmarks mapped back to the clip agree with the generator's exact landmarks of each frame."""
    manifest = json.loads(prepared.manifest.read_text())
    (sequence,) = {c["key"]: c for c in manifest["clips"]}[f"id_{person}/v00/00001"]["sequences"]
    _, truth = default_frames(person)
    folder = prepared.out_root / "keypoints" / "test" / f"id_{person}" / "v00" / "00001"
    errors = []
    for index, (name, (x0, y0, side)) in enumerate(zip(sequence["frames"], sequence["boxes"], strict=True)):
        stored = np.load(folder / f"{name}.npy")
        assert stored.shape == (68, 2) and stored.dtype == np.float32
        assert (stored > 0).all() and (stored < 256).all()
        back = (stored + 0.5) * side / 256 - 0.5 + np.array([x0, y0])
        errors.append(np.linalg.norm(back - truth[index], axis=1).mean())
    assert np.mean(errors) < 6.0, errors  # dlib against exact landmarks, in source pixels (face ~100 px wide)
    assert np.mean(errors) > 0.0


def _three_clips(clips: Path, root: Path) -> Path:
    for person in PERSONS[:3]:
        shutil.copytree(clips / f"id_{person}", root / f"id_{person}")
    return root


FAST = PrepareConfig(detect=DetectConfig(detect_every=8, upsample=0))


def test_resume_after_a_crash_between_clips(clips: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = _three_clips(clips, tmp_path / "clips")
    real = prepare_pipeline._process

    def crash_on_second(clip, run):
        if clip.person == "id_grace_hopper":
            raise RuntimeError("killed")
        return real(clip, run)

    monkeypatch.setattr(prepare_pipeline, "_process", crash_on_second)
    with pytest.raises(RuntimeError, match="killed"):
        prepare_clips(source, tmp_path / "out", FAST, locations=WHERE, progress=False)
    assert (tmp_path / "out/imgs/test/id_astronaut/v00/00001/00015.jpg").is_file()
    assert not (tmp_path / "out/imgs/test/id_grace_hopper").exists()
    monkeypatch.setattr(prepare_pipeline, "_process", real)
    result = prepare_clips(source, tmp_path / "out", FAST, locations=WHERE, progress=False)
    assert (result.reused, result.processed, result.done) == (1, 2, 3)
    again = prepare_clips(source, tmp_path / "out", FAST, locations=WHERE, progress=False)
    assert (again.reused, again.processed, again.done) == (3, 0, 3)
    assert len(open_dataset(DataConfig(root=str(tmp_path / "out"))).sequences) == 3


def test_interrupted_commit_is_redone(clips: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Killed after the outputs were renamed into place but before the record: the clip is cleaned and redone."""
    source = _three_clips(clips, tmp_path / "clips")
    real = prepare_writer.write_json_atomic

    def die_before_record(path: Path, data: object) -> None:
        if "id_grace_hopper" in str(path) and not path.name.endswith(".pending.json"):
            raise KeyboardInterrupt
        real(path, data)

    monkeypatch.setattr(prepare_writer, "write_json_atomic", die_before_record)
    with pytest.raises(KeyboardInterrupt):
        prepare_clips(source, tmp_path / "out", FAST, locations=WHERE, progress=False)
    partial = tmp_path / "out/imgs/test/id_grace_hopper/v00/00001"
    assert len(list(partial.glob("*.jpg"))) == 16  # in place, but not recorded
    (partial / "stray.jpg").write_bytes(b"left over")
    monkeypatch.setattr(prepare_writer, "write_json_atomic", real)
    result = prepare_clips(source, tmp_path / "out", FAST, locations=WHERE, progress=False)
    assert (result.redone, result.reused, result.processed) == (1, 1, 2)
    assert not (partial / "stray.jpg").exists() and len(list(partial.glob("*.jpg"))) == 16


def test_damaged_outputs_or_new_options_are_redone(clips: Path, tmp_path: Path) -> None:
    source = _three_clips(clips, tmp_path / "clips")
    out = tmp_path / "out"
    prepare_clips(source, out, FAST, locations=WHERE, progress=False)
    (out / "imgs/test/id_astronaut/v00/00001/00004.jpg").unlink()
    result = prepare_clips(source, out, FAST, locations=WHERE, progress=False)
    assert (result.reused, result.processed) == (2, 1)
    assert (out / "imgs/test/id_astronaut/v00/00001/00004.jpg").is_file()
    changed = PrepareConfig(jpeg_quality=80, detect=FAST.detect)
    assert prepare_clips(source, out, changed, locations=WHERE, progress=False).processed == 3
    listing = tmp_path / "clips.txt"
    listing.write_text("\n".join(str(p) for p in sorted(source.rglob("*.mp4"))))
    shutil.rmtree(source / "id_astronaut")  # a source that has gone keeps what was made from it
    kept = prepare_clips(listing, out, changed, locations=WHERE, progress=False)
    assert (kept.reused, kept.processed, kept.done) == (3, 0, 3)


def _one_clip(clips: Path, root: Path, person: str = "astronaut") -> Path:
    shutil.copytree(clips / f"id_{person}", root / f"id_{person}")
    return root


def test_frames_without_a_face_are_dropped_and_counted(tmp_path: Path) -> None:
    face_frames = default_frames("astronaut")[0][:8]
    noise = list(np.random.default_rng(2).integers(80, 120, (8, 256, CANVAS_WIDTH, 3), dtype=np.uint8))
    write_clip(tmp_path / "clips" / "id_half" / "v00" / "00001.mp4", face_frames + noise)
    whole = PrepareConfig(min_frames=8, detect=FAST.detect)
    result = prepare_clips(tmp_path / "clips", tmp_path / "whole", whole, locations=WHERE, progress=False)
    (clip,) = json.loads(result.manifest.read_text())["clips"]
    assert (clip["frames_kept"], clip["frames_no_face"], clip["frames_dropped"]) == (8, 8, 8)
    assert clip["sequences"][0]["frames"] == [f"{i:05d}" for i in range(8)]
    chunked = PrepareConfig(min_frames=6, chunk_frames=6, detect=FAST.detect)  # chunks 0-5, 6-11, 12-15
    result = prepare_clips(tmp_path / "clips", tmp_path / "chunked", chunked, locations=WHERE, progress=False)
    (clip,) = json.loads(result.manifest.read_text())["clips"]
    assert [s["name"] for s in clip["sequences"]] == ["00001_00000"]
    assert (clip["frames_kept"], clip["frames_no_face"], clip["frames_in_dropped_chunks"]) == (6, 0, 10)
    faceless = PrepareConfig(min_frames=9, detect=FAST.detect)
    result = prepare_clips(tmp_path / "clips", tmp_path / "none", faceless, locations=WHERE, progress=False)
    assert result.done == 0 and dict(result.skipped) == {"no face": 1}


def test_chunks_become_sequences_in_both_layouts(clips: Path, tmp_path: Path) -> None:
    source = _one_clip(clips, tmp_path / "clips")
    config = PrepareConfig(layouts=("bilayer", "fomm"), min_frames=8, chunk_frames=8, detect=FAST.detect)
    prepare_clips(source, tmp_path / "out", config, locations=WHERE, progress=False)
    bilayer = open_dataset(DataConfig(root=str(tmp_path / "out")))
    assert [s.sequence for s in bilayer.sequences] == ["00001_00000", "00001_00008"]
    assert [f.name for f in bilayer.sequences[1].frames][:2] == ["00008", "00009"]
    fomm = open_dataset(DataConfig(root=str(tmp_path / "out"), layout="fomm"))
    assert [s.sequence for s in fomm.sequences] == ["00001#00000#00007", "00001#00008#00015"]


def test_fomm_mp4_clips(clips: Path, tmp_path: Path) -> None:
    source = _one_clip(clips, tmp_path / "clips")
    out = source / "prepared"  # inside the input folder: its .mp4 files are not taken as clips
    config = PrepareConfig(layouts=("fomm",), fomm_format="mp4", detect=FAST.detect)
    prepare_clips(source, out, config, locations=WHERE, progress=False)
    assert prepare_clips(source, out, config, locations=WHERE, progress=False).reused == 1
    assert not (out / "imgs").exists()
    video = out / "test" / "id_astronaut#v00#00001#00000#00015.mp4"
    dataset = open_dataset(DataConfig(root=str(out), layout="fomm"))
    (sequence,) = dataset.sequences
    assert sequence.frames[0].image == video and len(sequence.frames) == 16
    assert dataset.load(sequence, [0, 15])[1].image.shape == (256, 256, 3)


def test_masks_become_segs(clips: Path, tmp_path: Path) -> None:
    source = _one_clip(clips, tmp_path / "clips")
    source = _one_clip(clips, source, "grace_hopper")
    masks = tmp_path / "masks" / "id_astronaut" / "v00" / "00001"
    masks.mkdir(parents=True)
    for i in range(16):
        mask = np.zeros((256, CANVAS_WIDTH), np.uint8)
        mask[:, 160:] = 255  # right half of the canvas
        Image.fromarray(mask).save(masks / f"{i:05d}.png")
    config = PrepareConfig(masks=str(tmp_path / "masks"), detect=FAST.detect)
    result = prepare_clips(source, tmp_path / "out", config, locations=WHERE, progress=False)
    assert result.done == 1 and dict(result.skipped) == {"mask unusable": 1}  # grace_hopper has no masks
    dataset = open_dataset(DataConfig(root=str(tmp_path / "out")))
    frame = dataset.load(dataset.sequences[0], [0])[0]
    assert frame.segmentation is not None and frame.segmentation.shape == (256, 256)
    (sequence,) = json.loads(result.manifest.read_text())["clips"][0]["sequences"]
    x0, _, side = sequence["boxes"][0]
    edge = round((160 - x0 + 0.5) * 256 / side - 0.5)  # the mask's edge, mapped into the crop
    assert frame.segmentation[128, edge + 3] > 0.9 and frame.segmentation[128, edge - 3] < 0.1


def test_list_file_with_a_missing_clip(clips: Path, tmp_path: Path) -> None:
    listing = tmp_path / "clips.txt"
    listing.write_text(f"{clips}/id_astronaut/v00/00001.mp4\n{tmp_path}/id_gone/v00/00001.mp4\n")
    result = prepare_clips(listing, tmp_path / "out", FAST, locations=WHERE, progress=False)
    assert result.done == 1 and dict(result.skipped) == {"unreadable": 1}
    with result.skipped_csv.open(newline="") as handle:
        (row,) = csv.DictReader(handle)
    assert row["clip"] == "id_gone/v00/00001" and "cannot read the file" in row["detail"]


def test_cli_prepare(clips: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bench.cli import main

    source = _one_clip(clips, tmp_path / "clips")
    args = ["prepare", str(source), str(tmp_path / "out"), "--no-progress", "--detect-every", "8", "--upsample", "0"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "1 clip(s), 1 sequence(s), 16 frames kept" in out and "frames/s" in out
    assert f"bilayer-bench run --data {tmp_path / 'out'} --split test" in out
    assert main(args) == 0 and "1 already done and verified" in capsys.readouterr().out
    assert main(["prepare", str(clips / "id_blank"), str(tmp_path / "blank"), "--no-progress"]) == 1
    assert "no clip gave a sequence" in capsys.readouterr().err
    assert main(["prepare", str(source), str(tmp_path / "x"), "--layouts", "vox"]) == 2
    assert "--layouts 'vox'" in capsys.readouterr().err
    assert main(["prepare", str(source), str(tmp_path / "x"), "--min-frames", "1"]) == 2
    assert "min_frames must be >= 2" in capsys.readouterr().err


@pytest.mark.slow  # two spawned workers import torch and load dlib's models: tens of seconds on a busy CI machine
def test_workers_write_the_same_data_set(clips: Path, tmp_path: Path) -> None:
    source = _one_clip(clips, _one_clip(clips, tmp_path / "clips"), "procedural_00")
    serial = prepare_clips(source, tmp_path / "one", FAST, locations=WHERE, progress=False)
    parallel = prepare_clips(source, tmp_path / "two", FAST, locations=WHERE, progress=False, workers=2)
    assert (serial.done, parallel.done, parallel.processed) == (2, 2, 2)
    files = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one" / "keypoints").rglob("*.npy"))
    assert len(files) == 32
    for relative in files:
        np.testing.assert_array_equal(np.load(tmp_path / "one" / relative), np.load(tmp_path / "two" / relative))


def test_segmenter_writes_segs_that_cover_the_face(clips: Path, tmp_path: Path) -> None:
    """Without --masks, segs/ comes from the selfie segmenter on each crop: it covers the hull of the written
    landmarks and leaves the top corners (background) out; the manifest names the segmenter and its sha256."""
    from scipy.spatial import ConvexHull
    from skimage.draw import polygon

    from bench.masks import segmenter_info

    source = _one_clip(clips, tmp_path / "clips")
    result = prepare_clips(source, tmp_path / "out", FAST, locations=WHERE, progress=False)
    assert result.done == 1
    manifest = json.loads(result.manifest.read_text())
    assert manifest["segmentation"]["source"] == "segmenter"
    assert manifest["segmentation"]["sha256"] == segmenter_info().sha256
    dataset = open_dataset(DataConfig(root=str(tmp_path / "out")))
    for frame in dataset.load(dataset.sequences[0], [0, 8, 15]):
        assert frame.segmentation is not None and frame.landmarks is not None
        hull = frame.landmarks[ConvexHull(frame.landmarks).vertices]
        rows, cols = polygon(hull[:, 1], hull[:, 0], frame.segmentation.shape)
        assert (frame.segmentation[rows, cols] > 0.5).mean() > 0.95
        assert frame.segmentation[:8, :8].max() < 0.5 and frame.segmentation[:8, -8:].max() < 0.5
    no_segs = prepare_clips(
        source, tmp_path / "plain", PrepareConfig(segmenter=False, detect=FAST.detect), locations=WHERE, progress=False
    )
    assert no_segs.done == 1 and not (tmp_path / "plain" / "segs").exists()
