"""Console rendering of a latency record: the per-stage table, the calibration, what each number includes, the
side-by-side ratios, and the papers' figures labelled "reported in paper"."""

from __future__ import annotations

from bench.latency.record import LatencyRecord, StageRow
from bench.table import format_table

__all__ = ["format_latency", "format_ms"]

HEADER = [
    "model",
    "stage",
    "per",
    "median ms",
    "IQR ms",
    "p90 ms",
    "p99 ms",
    "n",
    "GFLOP",
    "% of cal.",
    "peak MiB",
    "params M",
]


def format_ms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    ms = seconds * 1e3
    if ms == 0:
        return "0"
    if abs(ms) < 0.1:
        return f"{ms:.4f}"
    if abs(ms) < 100:
        return f"{ms:.2f}"
    return f"{ms:.1f}"


def _gflop(flops: int | None) -> str:
    return "-" if flops is None else f"{flops / 1e9:.3f}"


def _percent(fraction: float | None) -> str:
    if fraction is None:
        return "-"
    return "0" if fraction == 0 else f"{fraction * 100:.2f}"


def _cells(row: StageRow) -> list[str]:
    stage = f"{row.stage} (= {row.same_as})" if row.same_as else row.stage
    memory = "-" if row.peak_memory_bytes is None else f"{row.peak_memory_bytes / 2**20:.1f}"
    params = f"{sum(row.params.values()) / 1e6:.2f}" if row.params else "0"
    return [
        row.label,
        stage,
        row.per if row.batch == 1 else f"{row.per} (batch {row.batch})",
        format_ms(row.median_s),
        format_ms(row.iqr_s),
        format_ms(row.p90_s),
        format_ms(row.p99_s),
        str(row.n),
        _gflop(row.flops),
        _percent(row.achieved_fraction),
        memory,
        params,
    ]


def _includes(record: LatencyRecord) -> list[str]:
    lines = ["what each stage includes:"]
    for row in record.stages:
        extra = f" [{'; '.join(row.notes)}]" if row.notes else ""
        lines.append(f"  {row.model} {row.stage} (per {row.per}): {row.includes}{extra}")
    return lines


def _networks(record: LatencyRecord) -> list[str]:
    lines, seen = ["parameters per network:"], set()
    for row in record.stages:
        if row.model in seen:
            continue
        seen.add(row.model)
        parts = ", ".join(f"{name} {count / 1e6:.2f}M" for name, count in row.params.items()) or "none (no network)"
        lines.append(f"  {row.label}: {parts}")
    return lines


def _calibration(record: LatencyRecord) -> str:
    c = record.calibration
    chunks = c.get("chunk_flops_per_s") or []
    drift = f", per chunk {' / '.join(f'{rate / 1e9:.0f}' for rate in chunks)}" if len(chunks) > 1 else ""
    return (
        f"calibration: {c['size']}x{c['size']} {c['dtype']} matmul on {c['device']}: "
        f"{c['flops_per_s'] / 1e9:.1f} GFLOP/s median (IQR {c['iqr'] / 1e9:.1f}{drift}; {len(c['samples'])} samples); "
        "'% of cal.' = FLOPs / median time / this rate (above 100 where a stage's kernels beat this matmul)"
    )


def format_latency(record: LatencyRecord, *, brief: bool = False) -> str:
    """The whole console report of a record; ``brief``: the heading, the table, the side-by-side comparison and
    the failures only (the record and the report hold the rest)."""
    s = record.settings
    head = (
        f"latency on {s['device']}, {s['dtype']}, {s['threads']} threads, {s['resolution']}x{s['resolution']}, "
        f"batch {s['batch']}{', compiled' if s.get('compile') else ''}; times per avatar (prepare) or per frame"
        + (f"; samples spread over {s['rounds']} interleaved rounds" if s.get("rounds") else "")
        + (f"; {s['sampling_label']}" if s.get("sampling_label") else "")
    )
    lines = [head]
    if record.stages:
        lines += format_table(HEADER, (_cells(row) for row in record.stages), "<<<" + ">" * (len(HEADER) - 3))
    else:
        lines.append("(no stage measured)")
    if brief:
        lines += [f"  {c['text']}" for c in record.comparisons if c.get("measured")]
        return "\n".join(lines + [f"FAILED {f['model']}: {f['error']}" for f in record.failures])
    first = record.stages[0] if record.stages else None
    lines.append(_calibration(record))
    load = record.machine_load
    if load.get("before") and load.get("after"):
        lines.append(
            f"machine load (1-min average) before {load['before'][0]:g}, after {load['after'][0]:g}, on "
            f"{load.get('cpu_count')} CPUs (a load near or above the CPU count means other processes competed)"
        )
    if first is not None:
        lines.append(f"FLOPs: {first.flops_convention}; counted by {first.flops_counted}")
        for method in dict.fromkeys(r.memory_method for r in record.stages):
            lines.append(f"peak memory: {method}")
    lines += _includes(record) + _networks(record)
    measured = [c for c in record.comparisons if c.get("measured")]
    where = f"{s['device']}, {s['dtype']}, {s['threads']} threads"
    lines.append(f"side by side, measured here ({where}):")
    lines += [f"  {c['text']}" for c in measured] or ["  (no bi-layer and FOMM pair in this run)"]
    for c in record.comparisons:
        if not c.get("measured"):
            lines.append(f"  {c['text']}")
    lines.append("reported in paper (other hardware and model sizes; not comparable to the rows above):")
    for p in record.published:
        size = f" ({p['model_size']})" if p.get("model_size") else ""
        lines.append(f"  {p['method']}{size}: {p['value_ms']:g} ms/frame, {p['label']}; {p['source']}, {p['verified']}")
    lines += [f"note: {n}" for n in record.notes]
    lines += [f"FAILED {f['model']}: {f['error']}" for f in record.failures]
    return "\n".join(lines)
