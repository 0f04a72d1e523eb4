"""CPU speed of the FOMM vox-256 reimplementation (a script, not a test).

    python tests/benchmarks/fomm_speed.py [--threads 2] [--runs 15]

Reports median and IQR of ``prepare`` and ``animate`` (batch 1, 256x256, random weights, absolute mode), the
per-frame FLOPs (multiply-adds count 2, ``torch.utils.flop_counter``), and the machine's float32 matmul rate
(2048x2048, before and after) measured in the same process, so that a time can be read against what the CPU
does. Note: torch's sgemm is MKL, which may run below oneDNN's convolutions on AMD CPUs, so the achieved/matmul
ratio can exceed 1 there. Other processes on the machine make the numbers noisy: compare IQRs and the matmul rates.
Also times the original per-frame call pattern (keypoints + full generator, source encoder included) for context.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics

import torch
from speed_common import flops, matmul_rate, samples, summary

from baselines.fomm.factory import create_vox256
from bench.models import Frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--channels-first", action="store_true", help="NCHW instead of the default NHWC layout")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = create_vox256(seed=0)
    if args.channels_first:
        model = model.to(memory_format=torch.contiguous_format)
        model.memory_format = torch.contiguous_format
    clip = torch.rand(2, 3, 256, 256, generator=torch.Generator().manual_seed(0))
    source, driver = Frames(clip[:1]), Frames(clip[1:])
    state = model.prepare(source)
    rate_before = matmul_rate(10)
    animate = samples(lambda: model.animate(state, driver), args.runs)
    prepare = samples(lambda: model.prepare(source), max(5, args.runs // 2))
    with torch.inference_mode():
        kp_source = model.kp_detector(source.image)
        original = samples(
            lambda: model.generator(source.image, model.kp_detector(driver.image), kp_source), max(5, args.runs // 2)
        )
    rate_after = matmul_rate(10)
    with torch.inference_mode():
        animate_flops = flops(lambda: model.animate(state, driver))
        prepare_flops = flops(lambda: model.prepare(source))
        original_flops = flops(lambda: model.generator(source.image, model.kp_detector(driver.image), kp_source))
    median = statistics.median(animate)
    report = {
        "machine": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "threads": args.threads,
        "layout": "NCHW" if args.channels_first else "NHWC (channels_last)",
        "animate": summary(animate),
        "prepare": summary(prepare),
        "original_per_frame_call": summary(original),
        "gflop_per_frame_animate": animate_flops / 1e9,
        "gflop_prepare": prepare_flops / 1e9,
        "gflop_original_per_frame_call": original_flops / 1e9,
        "matmul_2048_gflops_before_after": [rate_before, rate_after],
        "animate_achieved_gflops": animate_flops / 1e9 / median,
        "animate_fraction_of_matmul_rate": animate_flops / 1e9 / median / max(rate_before, rate_after),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
