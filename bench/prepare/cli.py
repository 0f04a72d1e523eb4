"""``bilayer-bench prepare VIDEOS OUT_ROOT``: the command line of :mod:`bench.prepare` (light imports)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import MISSING, fields
from pathlib import Path

from bench.errors import ConfigError
from bench.prepare.config import CropConfig, DetectConfig, PrepareConfig

__all__ = ["add_parser", "build_config", "run"]

EXAMPLES = """\
examples:
  bilayer-bench prepare vox2/test/mp4 data/vox2-test          # VoxCeleb2 test split, bi-layer layout
  bilayer-bench prepare clips.txt data/vox2 --layouts bilayer,fomm --fomm-format mp4
  bilayer-bench run --data data/vox2-test --split test        # evaluate what prepare wrote
Run the same command again to resume: clips done and verified are kept, interrupted ones are redone.
"""


def _defaults(cls: type) -> dict[str, object]:
    return {f.name: f.default for f in fields(cls) if f.default is not MISSING}


def add_parser(sub: argparse._SubParsersAction) -> None:
    crop, detect, top = _defaults(CropConfig), _defaults(DetectConfig), _defaults(PrepareConfig)
    p = sub.add_parser(
        "prepare",
        help="turn raw VoxCeleb2-style clips into the bi-layer (and FOMM) data layouts",
        description="Detect the face and its 68 landmarks in every frame, crop head-centred squares and write the "
        "bi-layer layout (imgs/, keypoints/) and/or FOMM's, with MANIFEST.json and skipped.csv. Resumable.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("videos", type=Path, help="folder of .mp4 clips (ROOT/idPERSON/VIDEO/00001.mp4) or a list file")
    p.add_argument("out_root", type=Path, help="where the data set is written")
    p.add_argument("--split", default=top["split"], help="split folder written (default: %(default)s)")
    p.add_argument("--layouts", default="bilayer", help="comma-separated: bilayer, fomm (default: %(default)s)")
    p.add_argument("--fomm-format", choices=["png", "mp4"], default=top["fomm_format"],
                   help="FOMM clips as PNG frame folders or H.264 .mp4 files (default: %(default)s)")
    p.add_argument("--landmarks", choices=["auto", "dlib", "face-alignment"], default=detect["backend"],
                   help="auto: face-alignment when its weights are found, else dlib (default: %(default)s)")
    p.add_argument("--weights-dir", help="folder with weight files (face-alignment's S3FD and 2D-FAN-4)")
    p.add_argument("--accept-hash-mismatch", action="store_true", help="use weight files with another sha256")
    p.add_argument("--device", default=detect["device"], help="face-alignment's device (default: %(default)s)")
    p.add_argument("--size", type=int, default=crop["size"], help="crop side in pixels (default: %(default)s)")
    p.add_argument("--crop-scale", type=float, default=crop["scale"],
                   help="multiplies the bi-layer crop's half side (default: %(default)s)")
    p.add_argument("--crop-mode", choices=["clip", "smooth", "frame"], default=crop["mode"],
                   help="one square per sequence (clip), smoothed or per-frame squares (default: %(default)s)")
    p.add_argument("--smooth-window", type=int, default=crop["smooth_window"], help="frames, for --crop-mode smooth")
    p.add_argument("--detect-every", type=int, default=detect["detect_every"],
                   help="run the face detector every N frames (default: %(default)s)")
    p.add_argument("--upsample", type=int, default=detect["upsample"],
                   help="dlib detector upsampling (default: %(default)s)")
    p.add_argument("--min-frames", type=int, default=top["min_frames"],
                   help="frames with a face a sequence needs to be written (default: %(default)s)")
    p.add_argument("--chunk-frames", type=int, default=top["chunk_frames"], help="split clips into N-frame sequences")
    p.add_argument("--max-frames", type=int, default=top["max_frames"], help="read at most N frames per clip")
    p.add_argument("--masks", default=top["masks"], help="folder of masks MASKS/<clip path>/<frame>.png (segs/)")
    p.add_argument(
        "--no-segmenter",
        action="store_true",
        help="without --masks, write no segs/ (default: MediaPipe's selfie segmenter on every crop)",
    )
    p.add_argument("--jpeg-quality", type=int, default=top["jpeg_quality"], help="of the bi-layer frames")
    p.add_argument("--workers", type=int, default=1, help="clips prepared in parallel processes (default: 1)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def build_config(args: argparse.Namespace) -> PrepareConfig:
    layouts = tuple(v.strip() for v in args.layouts.split(",") if v.strip())
    if not layouts or any(layout not in ("bilayer", "fomm") for layout in layouts):
        raise ConfigError(f"--layouts {args.layouts!r}: use bilayer, fomm or bilayer,fomm")
    return PrepareConfig(
        split=args.split,
        layouts=layouts,  # type: ignore[arg-type]
        fomm_format=args.fomm_format,
        min_frames=args.min_frames,
        chunk_frames=args.chunk_frames,
        max_frames=args.max_frames,
        jpeg_quality=args.jpeg_quality,
        masks=args.masks,
        segmenter=not args.no_segmenter,
        crop=CropConfig(args.size, args.crop_scale, args.crop_mode, args.smooth_window),
        detect=DetectConfig(args.landmarks, args.detect_every, args.upsample, device=args.device),
    )


def run(args: argparse.Namespace) -> int:
    from bench.config import check_device
    from bench.prepare.pipeline import prepare_clips
    from bench.weights import WeightsLocations

    config = build_config(args)
    if args.workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {args.workers}")
    check_device(config.detect.device)
    where = WeightsLocations.from_environment(args.weights_dir, accept_mismatch=args.accept_hash_mismatch)
    result = prepare_clips(
        args.videos, args.out_root, config, locations=where, progress=not args.no_progress, workers=args.workers
    )
    print(f"this run: {result.processed} clip(s) prepared or skipped, {result.reused} already done and verified, "
          f"{result.redone} interrupted and redone")
    print(f"data set: {result.done} clip(s), {result.sequences} sequence(s), {result.frames_kept} frames kept, "
          f"{result.frames_dropped} dropped (no face)")
    skipped = ", ".join(f"{reason}: {count}" for reason, count in result.skipped)
    if skipped:
        print(f"skipped clips: {skipped} (details in {result.skipped_csv})")
    if result.median_fps is not None:
        print(f"speed: median {result.median_fps:.1f} frames/s over {len(result.fps)} clip(s) prepared this run")
    print(f"manifest: {result.manifest}")
    if result.done == 0:
        print(f"bilayer-bench prepare: no clip gave a sequence; see {result.skipped_csv}", file=sys.stderr)
        return 1
    if "bilayer" in config.layouts:
        print(f"evaluate with: bilayer-bench run --data {args.out_root} --split {config.split}")
    if "fomm" in config.layouts:
        print(f"evaluate FOMM's layout with: bilayer-bench run --data {args.out_root} --layout fomm "
              f"--split {config.split}")
    return 0
