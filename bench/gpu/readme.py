"""``OUT/README.md`` of ``python -m bench.gpu``: where and when it ran, on what, what ran (or why not), how long
each step took, and the table and figure. Its first line names the tool (the CLI checks it before reusing a
folder) and says whether the folder is a GPU run or a CPU dry run."""

from __future__ import annotations

import platform
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.gpu.default_run import SUMMARY_FILE, DefaultRun
from bench.gpu.matrix import CellResult, MatrixSettings
from bench.gpu.tables import short_status, status_notes
from bench.report.formats import md_escape

__all__ = ["DRY_RUN_TITLE", "GPU_TITLE", "RunInfo", "device_facts", "readme_text"]

GPU_TITLE = "# GPU latency matrix (`python -m bench.gpu`)"
DRY_RUN_TITLE = "# CPU dry run of the GPU latency matrix (`python -m bench.gpu`)"


@dataclass(frozen=True)
class RunInfo:
    command: str
    started: str  # UTC, ISO
    seconds: float
    budget_s: float
    data: str  # where the frames come from (and how long the embedded data set took to generate)
    environment: dict[str, Any]  # bench.environment.collect_environment
    device: dict[str, str]  # device_facts
    files: dict[str, str]  # table / csv / figure paths relative to OUT


def device_facts(device: str) -> dict[str, str]:
    """The device's name and the torch, CUDA and cuDNN versions (CPU: the processor; CUDA: "none")."""
    import torch

    facts = {"torch": torch.__version__, "cuda": str(torch.version.cuda or "none"), "cudnn": "none"}
    if device.startswith("cuda"):
        index = torch.device(device).index or 0
        properties = torch.cuda.get_device_properties(index)
        memory = f"{properties.total_memory / 2**30:.0f} GiB"
        facts |= {
            "name": f"{properties.name} ({device}, {memory}, compute capability {properties.major}.{properties.minor})",
            "cudnn": str(torch.backends.cudnn.version()),
        }
    else:
        facts["name"] = f"CPU ({platform.processor() or platform.machine()}), {torch.get_num_threads()} torch threads"
    return facts


def _dry_run_note(results: Sequence[CellResult]) -> list[str]:
    skipped = dict.fromkeys(r.planned.skip for r in results if r.planned.skip)
    return [
        "**This is a CPU dry run, not a GPU measurement.** It runs the GPU run's code up to the CUDA calls, with the "
        "tiny models (`bilayer.tiny`, `fomm.tiny`, 64x64, random weights by design) instead of `bilayer.paper` and "
        "`fomm.vox256`, and checks that the folder is written. What it leaves out:",
        "",
        *(f"- {md_escape(reason)}" for reason in skipped),
        "- the CUDA calls themselves: CUDA events, synchronisation, `torch.cuda.max_memory_allocated`, "
        "`torch.cuda.empty_cache`.",
        "",
    ]


def _steps(results: Sequence[CellResult], default: DefaultRun, settings: MatrixSettings) -> list[str]:
    """The steps' table; a status other than ok is its kind and the number of its note under the latency table."""
    notes = status_notes(r.status(m) for m in settings.models for r in results)  # the latency table's order
    lines = ["| step | status | seconds | output |", "|:--|:--|--:|:--|"]
    for r in results:
        short = {m: short_status(r.status(m), notes) for m in settings.models}
        status = (
            "; ".join(f"{m}: {s}" for m, s in short.items()) if len(set(short.values())) > 1 else short.popitem()[1]
        )
        seconds = f"{r.seconds:.1f}" if r.record is not None else "–"
        output = f"`{r.folder}/`" if r.folder else "–"
        lines.append(f"| latency {r.planned.cell.key} | {status} | {seconds} | {output} |")
    output = f"`{default.run_dir}/` (summary: `default/{SUMMARY_FILE}`)" if default.ran else "–"
    status = default.status + (f", {default.failed_jobs} failed job(s)" if default.failed_jobs else "")
    seconds = f"{default.seconds:.1f}" if default.seconds else "–"
    lines.append(f"| default run | {md_escape(status)} | {seconds} | {output} |")
    return [*lines, "", "Notes [n]: under the latency table below."] if notes else lines


def readme_text(
    info: RunInfo,
    settings: MatrixSettings,
    results: Sequence[CellResult],
    default: DefaultRun,
    table: str,
    labels: Sequence[str],
) -> str:
    """The whole README; ``table`` is the Markdown table, ``labels`` the models as the records name them."""
    env, dev = info.environment, info.device
    dry = settings.device == "cpu"
    git = env.get("git") or {}
    revision = f"{git.get('commit') or 'unknown'}{' (uncommitted changes)' if git.get('dirty') else ''}"
    lines = [
        DRY_RUN_TITLE if dry else GPU_TITLE,
        "",
        f"Made by `{info.command}` on {info.started} (UTC) in {info.seconds:.0f} s"
        + (f" (time budget {info.budget_s:g} s)." if info.budget_s else " (no time budget)."),
        "",
        *(_dry_run_note(results) if dry else []),
        f"- device: {md_escape(dev['name'])}",
        f"- torch {dev['torch']}, CUDA {dev['cuda']}, cuDNN {dev['cudnn']}; Python {env.get('python')}; "
        f"{md_escape(str(env.get('platform')))}",
        f"- host CPU: {md_escape(str(env.get('cpu')))}, {env.get('cpu_count')} cores; git revision {revision}",
        f"- models: {', '.join(md_escape(label) for label in labels)}"
        " (latency does not depend on weight values; random weights are labelled `[RANDOM WEIGHTS]`)",
        f"- matrix: dtype float32 / float16 / bfloat16 (float16 and bfloat16 by `torch.autocast`, weights float32) x "
        f"eager / `torch.compile` x batch 1 / 8, {settings.sampling.resolution}x{settings.sampling.resolution} frames "
        "of the data set, `torch.inference_mode`; a latency record per configuration holding both models",
        f"- sampling: {md_escape(settings.sampling.label())}",
        f"- frames: {md_escape(info.data)}",
        f"- default run: `bench/configs/default.toml` on {settings.device} ({', '.join(default.config.models)}), "
        f"{default.followups()}",
        "",
        "## What ran",
        "",
        *_steps(results, default, settings),
        "",
        "## Per-frame latency",
        "",
        f"Table: [`{info.files['table']}`]({info.files['table']}) (CSV: [`{info.files['csv']}`]({info.files['csv']})). "
        "`animate` is the model's per-frame work (call time / batch; no landmark extraction, no host/device copies); "
        "end-to-end adds the bi-layer's driver landmark extraction (on the CPU). Each record's `latency.json` "
        "has every raw sample, FLOPs, peak memory and the matmul calibration; "
        "`bilayer-bench report default/RUN records/KEY --out DIR` sets one beside the default run in a report.",
        "",
        table.rstrip("\n"),
        "",
        f"![per-frame latency by configuration]({info.files['figure']})",
        "",
    ]
    return "\n".join(lines)
