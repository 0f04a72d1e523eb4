"""The provenance block a report opens with: what was measured, on what, with which weights, where and how.

Built from the records alone, as (label, text) facts per run, so that HTML and Markdown say the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench.report.latency import TIMINGS_CAVEAT, LatencyView
from bench.report.load import LatencyRecord, ReportInputs, RunRecord

__all__ = ["ProvenanceSection", "provenance_sections", "status_phrase"]

_WEIGHTS_TEXT = {
    "none": "no weights",
    "verified": "verified weights (sha256 of the release)",
    "unverified": "UNVERIFIED weights (sha256 differs from or is not pinned to a release)",
    "random": "RANDOM WEIGHTS",
}


@dataclass(frozen=True)
class ProvenanceSection:
    title: str
    facts: tuple[tuple[str, str], ...]


def status_phrase(run: RunRecord) -> str:
    jobs = run.jobs
    if run.status == "complete":
        return f"complete ({jobs.get('ok', '?')} of {jobs.get('expected', '?')} jobs)"
    if run.status == "partial":
        return (
            f"PARTIAL: {jobs.get('ok', '?')} of {jobs.get('expected', '?')} jobs finished, {jobs.get('failed', '?')} "
            "failed (see failures.csv); numbers cover the finished jobs only"
        )
    return (
        f"UNFINISHED: no results.json; {jobs.get('ok', '?')} of {jobs.get('expected', '?')} jobs finished, read "
        "from parts/ (frame metrics only); "
        f"continue with `bilayer-bench run --resume {run.path}`"
    )


def _data_facts(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    if data.get("embedded_default"):
        what = (
            "the embedded default data set: SYNTHETIC faces generated offline (not VoxCeleb2); "
            f"manifest sha256 {data.get('manifest_sha256', '?')}"
        )
    else:
        what = f"{data.get('root', '?')} ({data.get('layout', '?')} layout)"
    facts = [
        ("Data set", what),
        (
            "Split",
            f"{data.get('split', '?')}: {data.get('num_sequences', '?')} sequences, "
            f"{data.get('num_frames', '?')} frames",
        ),
    ]
    skipped = data.get("skipped") or []
    if skipped:
        facts.append(("Skipped sequences", f"{len(skipped)} (see data.json)"))
    return facts


def _protocol_fact(config: Mapping[str, Any], data: Mapping[str, Any]) -> tuple[str, str]:
    protocol = config.get("protocol", {})
    jobs = ", ".join(f"{kind}: {count} jobs" for kind, count in (data.get("jobs") or {}).items())
    drivers = protocol.get("max_drivers", 0) or "all"
    text = (
        f"{', '.join(protocol.get('kinds', []))}; source frame {protocol.get('source_frame', '?')}, driver stride "
        f"{protocol.get('driver_stride', '?')}, drivers per sequence: {drivers}; {jobs}"
    )
    return "Protocol", text


def _weights_fact(model: str, info: Mapping[str, Any]) -> tuple[str, str]:
    label = str(info.get("weights_label", "unknown"))
    files = info.get("files") or []
    detail = "; ".join(
        f"{f.get('name', f.get('file', '?'))}: {f.get('verification', f.get('verified', '?'))}" for f in files
    )
    return f"Weights of {model}", _WEIGHTS_TEXT.get(label, label) + (f" ({detail})" if detail else "")


def _model_notes(model: str, info: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The choices a model makes that a reader needs (motion rules, sampling, masks, output geometry, inputs)."""
    notes = info.get("notes") or {}
    if not notes:
        return []
    return [(f"Model notes: {model}", "; ".join(f"{key.replace('_', ' ')}: {value}" for key, value in notes.items()))]


def _metric_facts(run: RunRecord) -> list[tuple[str, str]]:
    metrics = ", ".join(
        f"{name} [{info.get('variant', name)}; weights {info.get('weights_label', '?')}]"
        for name, info in run.metrics.items()
    )
    facts = [("Metrics", metrics or "none")]
    for skipped in run.skipped_metrics:
        facts.append((f"Skipped metric {skipped.get('name', '?')}", str(skipped.get("reason", ""))))
    return facts


def _machine_facts(environment: Mapping[str, Any], config: Mapping[str, Any]) -> list[tuple[str, str]]:
    versions = ", ".join(f"{k} {v}" for k, v in (environment.get("versions") or {}).items() if v)
    git = environment.get("git") or {}
    commit = git.get("commit") or "unknown (not a git checkout)"
    dirty = " with uncommitted changes" if git.get("dirty") else ""
    device = environment.get("device", config.get("device", "?"))
    if environment.get("cuda_device"):
        device += f" ({environment['cuda_device']})"
    return [
        (
            "Machine",
            f"{environment.get('cpu', '?')}, {environment.get('cpu_count', '?')} CPUs, "
            f"{environment.get('platform', '?')}",
        ),
        ("Threads", str(environment.get("torch_threads", config.get("threads", "?")))),
        ("Device", str(device)),
        ("Versions", f"Python {environment.get('python', '?')}, {versions}"),
        ("Git revision", f"{commit}{dirty}"),
    ]


def _run_section(run: RunRecord, tagged: bool) -> ProvenanceSection:
    facts = [
        ("Run", f"{run.path.name} ({run.path})"),
        ("Status", status_phrase(run)),
        ("Created", str(run.environment.get("created", "?"))),
        *_data_facts(run.data),
        _protocol_fact(run.config, run.data),
        ("Evaluation space", run.space_phrase),
        *[_weights_fact(model, info) for model, info in run.weights.items()],
        *[fact for model, info in run.weights.items() for fact in _model_notes(model, info)],
        *_metric_facts(run),
        *_machine_facts(run.environment, run.config),
    ]
    title = f"Run {run.tag}: {run.path.name}" if tagged else f"Run {run.path.name}"
    return ProvenanceSection(title, tuple(facts))


_LATENCY_SETTINGS = ("device", "dtype", "threads", "resolution", "batch", "compile", "warmup", "min_runs", "min_time_s")


def _setting(value: Any) -> str:
    if isinstance(value, Mapping):
        return "(" + ", ".join(f"{k} {_setting(v)}" for k, v in value.items()) + ")"
    return str(value)


def _latency_section(tag: str, record: LatencyRecord) -> ProvenanceSection:
    shown = [k for k in _LATENCY_SETTINGS if k in record.settings]
    settings = ", ".join(f"{k} {_setting(record.settings[k])}" for k in shown)
    calibration = record.calibration
    facts = [
        ("Record", str(record.path)),
        ("Settings", settings or "?"),
        (
            "Calibration",
            f"{calibration.get('dtype', '?')} matmul of size {calibration.get('size', '?')}: "
            f"{record.flops_per_s / 1e9:.1f} GFLOP/s",
        ),
        *_machine_facts(record.environment, {}),
    ]
    return ProvenanceSection(f"Latency record {tag}", tuple(facts))


def provenance_sections(inputs: ReportInputs, view: LatencyView | None) -> list[ProvenanceSection]:
    tagged = len(inputs.runs) > 1
    sections = [_run_section(run, tagged) for run in inputs.runs]
    records: Sequence[tuple[str, LatencyRecord]] = [(f"L{i}", r) for i, r in enumerate(inputs.latency, start=1)]
    records = [*records, *[(run.tag, run.latency) for run in inputs.runs if run.latency is not None]]
    sections += [_latency_section(tag, record) for tag, record in records]
    if view is None:
        sections.append(ProvenanceSection("Latency", (("Source", "none: no latency record, no timings"),)))
    elif view.source == "timings":
        sections.append(ProvenanceSection("Latency", (("Source", f"timings.csv of the runs: {TIMINGS_CAVEAT}"),)))
    return sections
