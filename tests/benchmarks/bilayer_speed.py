"""CPU speed of bilayer.paper at 256x256 (a script, not a test).

    python tests/benchmarks/bilayer_speed.py [--threads 2] [--runs 30]

Reports median and IQR of ``animate`` (per frame, batch 1) and ``prepare`` (per avatar), random weights
(spectrally normalised, as released weights are), ``torch.inference_mode``; the FLOPs of each (a multiply-add
counts 2, torch.utils.flop_counter); the machine's float32 matmul rate measured in the same process; and, for
comparison at equal numbers, the original's per-frame operations run layer by layer (unfolded norms,
upsampling then convolution), which is what the released code computes per frame.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics

import numpy as np
import torch
from speed_common import flops, matmul_rate, samples, summary

from bench.models import Frames
from bilayer.factory import create_paper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    wrapper = create_paper(None, seed=0)
    net = wrapper.model.requires_grad_(False)
    angles = np.linspace(0, 2 * np.pi, 68, endpoint=False)
    points = np.stack([128 + 60 * np.cos(angles), 140 + 70 * np.sin(angles)], 1).astype(np.float32)
    jitter = np.random.default_rng(0).normal(0, 2, points.shape).astype(np.float32)
    source = Frames(torch.rand(1, 3, 256, 256), torch.from_numpy(points)[None], torch.ones(1, 1, 256, 256))
    driver = Frames(torch.rand(1, 3, 256, 256), torch.from_numpy(points + jitter)[None])
    rate_before = matmul_rate(10)
    with torch.inference_mode():
        state = wrapper.prepare(source)
        embeds = net.keypoints_embedder(driver.landmarks.reshape(1, -1) / 128 - 1)

        def layer_by_layer() -> None:
            uvs, lf, _ = net.inference_generator(embeds)
            grid = net.inference_generator.identity_grid + uvs.permute(0, 2, 3, 1)
            lf + torch.nn.functional.grid_sample(state.avatar.texture, grid, align_corners=False)

        animate = samples(lambda: wrapper.animate(state, driver), args.runs)
        reference = samples(layer_by_layer, args.runs)
        prepare = samples(lambda: wrapper.prepare(source), max(5, args.runs // 6), warmup=1)
        counts = {
            "animate": flops(lambda: wrapper.animate(state, driver)),
            "prepare": flops(lambda: wrapper.prepare(source)),
            "layer_by_layer_frame": flops(layer_by_layer),
        }
    rate = max(rate_before, matmul_rate(10))
    report = {
        "machine": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "threads": args.threads,
        "matmul_2048_gflops": rate,
    }
    for name, times in (("animate", animate), ("layer_by_layer_frame", reference), ("prepare", prepare)):
        achieved = counts[name] / 1e9 / statistics.median(times)
        report[name] = {
            **summary(times),
            "gflop": counts[name] / 1e9,
            "achieved_gflops": achieved,
            "fraction_of_matmul_rate": achieved / rate,
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
