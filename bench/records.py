"""Run records (a contract): one directory per run, written incrementally and atomically.

Layout of ``RUN_DIR``::

    config.toml        resolved config (rerun with `bilayer-bench run RUN_DIR/config.toml`)
    environment.json   versions, machine, threads, device, git revision
    data.json          data set root, layout, split, sequences, skipped sequences
    weights.json       per model: weights label (none/verified/unverified/random) and every file's provenance
    parts/MODEL/*.json one file per (model, job), written atomically when the job ends: the resume state; its name
                       escapes the job id injectively (:func:`file_stem`), and it carries the run's fingerprint
                       (config, data set, code version) that ``--resume`` checks (:class:`RunFingerprint`)
    frames.csv         per-frame metrics (deterministic: no timings)
    sequences.csv      per-sequence means
    timings.csv        wall-clock of every prepare/animate call (ms)
    metric_timings.csv wall-clock of every metric call (ms; side: pair, generated or real)
    cost.csv           per model: its own ms per generated frame against the metrics' (bench.costs)
    failures.csv       jobs that failed: model, job, file, error
    results.json       schema "bilayer-bench/results" version RESULTS_SCHEMA_VERSION: summary rows + all of the above
    samples/           generated frames in the evaluation space (PNG) for qualitative figures and videos:
                       samples/MODEL/PROTOCOL/JOB/NN_FRAME.png per saved job (:func:`sample_folder`), and
                       samples/_inputs/PROTOCOL/JOB/ (source.png, NN_FRAME.png: the reference each output is
                       compared with, i.e. the ground truth in self-reenactment, the driving frame in cross);
                       NN is frames.csv's frame_index, FRAME its driver_frame; MODEL and JOB as in parts/

Paths in every record (JSON, parts, CSV) are written relative to the run folder, else from a named machine folder
(``$BILAYER_BENCH_CACHE``, ``$TORCH_HUB``, ``$SITE_PACKAGES``, ``~``...; what each stood for is in
``environment.json``'s ``machine_paths``), else absolute: :mod:`bench.portable`.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import itertools
import json
import logging
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.atomic import DISK_FULL, atomic_write
from bench.config import RunConfig, config_to_dict, config_to_toml, load_config
from bench.errors import ConfigError, RecordError
from bench.portable import PathStyle

if TYPE_CHECKING:
    import pandas as pd

    from bench.data import Dataset
    from bench.protocols import Job

__all__ = [
    "INPUTS",
    "RESULTS_SCHEMA",
    "RESULTS_SCHEMA_VERSION",
    "RunDirectory",
    "RunFingerprint",
    "atomic_write",
    "file_stem",
    "json_safe",
    "sample_folder",
    "sample_frame_name",
]

logger = logging.getLogger(__name__)

RESULTS_SCHEMA = "bilayer-bench/results"
RESULTS_SCHEMA_VERSION = 1


def json_safe(value: Any) -> Any:
    """Replace non-finite floats by the strings "inf", "-inf", "nan" so the file is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


INPUTS = "_inputs"
"""The owner of the saved inputs (source and references) under samples/; never a model name (they need a dot
or a letter first, and file_stem keeps the underscore, so no model folder can be named so)."""


def sample_frame_name(frame_index: int, driver_frame: str) -> str:
    """The file name of one saved frame: frames.csv's frame_index (two digits at least) and driver_frame."""
    return f"{frame_index:02d}_{file_stem(driver_frame)}.png"


def sample_folder(run_dir: Path, owner: str, protocol: str, job_id: str) -> Path:
    """``RUN/samples/OWNER/PROTOCOL/JOB``: the saved frames of one job (see the module docstring)."""
    return Path(run_dir) / "samples" / file_stem(owner, dots=True) / file_stem(protocol) / file_stem(job_id)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")


_KEPT = {False: re.compile(r"[A-Za-z0-9_-]"), True: re.compile(r"[A-Za-z0-9._-]")}
_MAX_STEM = 150


def file_stem(name: str, *, dots: bool = False) -> str:
    """The file name of a job id (or, ``dots=True``, a folder name for a model): injective, never dropping a
    character. Letters, digits, ``_`` and ``-`` (and ``.`` with ``dots``) stay; every other character is written
    as ``%XX`` per UTF-8 byte, so ``s 1`` and ``s_1`` stay apart. A stem longer than file systems allow ends in a
    hash of the whole name after a ``~``, which escaping never produces."""
    kept = _KEPT[dots]
    stem = "".join(
        ch if kept.fullmatch(ch) else "".join(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass")) for ch in name
    )
    if len(stem) <= _MAX_STEM:
        return stem
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:24]
    return f"{stem[: _MAX_STEM - 25]}~{digest}"


def _read_part_file(path: Path) -> dict[str, Any] | None:
    """A part file's content, or None when it is missing or unreadable (a corrupt part: its job is redone)."""
    try:
        part = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        logger.warning("%s: unreadable part file (%s); its job is run again", path, error)
        return None
    if not isinstance(part, dict) or "status" not in part:
        logger.warning("%s: not a part file; its job is run again", path)
        return None
    return part


def _job_digest(job: Job) -> str:
    """The frames a job reads: its source and driver sequences and frame names."""
    source, driver = job.source, job.driver
    names = [source.frames[job.source_index].name if source.frames else ""]
    names += [driver.frames[i].name for i in job.driver_indices]
    text = "\n".join([job.protocol, source.id, driver.id, *names])
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _flat(mapping: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


@dataclass(frozen=True)
class RunFingerprint:
    """What the parts of a run depend on besides the weights: the configuration, the data set (root, layout,
    split, the sha256 of its ``MANIFEST.json``, and per job a digest of the frames it reads) and the code (suite
    version and git commit). Every part file stores its job's; ``--resume`` refuses to mix finished parts made
    under another (:meth:`RunDirectory.check_resume`). Fixing the data of a failed job, the README's way to
    use ``--resume``, changes only that job's frames, so it is allowed."""

    config: RunConfig
    data: tuple[tuple[str, str | None], ...]
    code: tuple[tuple[str, str | None], ...]
    jobs: tuple[tuple[str, str], ...]  # job id -> digest of its frames

    @classmethod
    def of(cls, config: RunConfig, dataset: Dataset, jobs: Sequence[Job]) -> RunFingerprint:
        from bench.environment import git_revision
        from bench.weights import file_sha256

        manifest = dataset.root / "MANIFEST.json"
        data = (
            ("root", str(dataset.root)),
            ("layout", dataset.layout),
            ("split", dataset.split),
            ("manifest_sha256", file_sha256(manifest) if manifest.is_file() else None),
        )
        code = (("version", importlib.metadata.version("bilayer-bench")), ("git_commit", git_revision()["commit"]))
        return cls(config, data, code, tuple((job.id, _job_digest(job)) for job in jobs))

    @cached_property
    def _frames(self) -> dict[str, str]:
        return dict(self.jobs)

    @cached_property
    def _config(self) -> dict[str, Any]:
        return config_to_dict(self.config)

    def stamp(self, job_id: str) -> dict[str, Any]:
        """What a part of ``job_id`` stores (``fingerprint``)."""
        data = {**dict(self.data), "frames": self._frames.get(job_id)}
        return {"config": self._config, "data": data, "code": dict(self.code)}

    def differences(
        self, stored: Any, job_id: str, written: Callable[[Any], Any] = lambda stamp: stamp
    ) -> list[str]:
        """What differs between ``stored`` (the ``fingerprint`` of a part of ``job_id``) and this run's, as
        short phrases; empty when nothing does. ``written``: how the part wrote its stamp (its paths' style)."""
        if not isinstance(stored, dict):
            return ["bilayer-bench that did not record what they were made with (an older version)"]
        ours = written(self.stamp(job_id))
        out = []
        for section, label in (("config", "configuration"), ("data", "data set"), ("code", "code version")):
            now, then = _flat(ours[section]), _flat(stored.get(section) or {})
            changed = [
                f"{key} {then.get(key)!r} -> {now.get(key)!r}" if key != "frames" else f"frames of {job_id}"
                for key in sorted(set(now) | set(then))
                if now.get(key) != then.get(key)
            ]
            if changed:
                out.append(f"{label} ({', '.join(changed)})")
        return out


def _make_folder(out_root: Path, name: str) -> Path:
    """Create ``out_root/name`` (or ``name-2``, ``name-3``, ...): ``mkdir`` without ``exist_ok`` is atomic, so
    two runs started at once on one ``--out`` never share a folder. OS errors become one line naming ``--out``."""
    try:
        out_root.mkdir(parents=True, exist_ok=True)
        for suffix in itertools.count(1):
            path = out_root / _slug(name if suffix == 1 else f"{name}-{suffix}")
            try:
                path.mkdir()
            except FileExistsError:
                continue
            return path
    except (FileExistsError, NotADirectoryError) as error:
        file = next((p for p in (out_root, *out_root.parents) if p.exists() and not p.is_dir()), out_root)
        raise RecordError(
            f"--out {out_root}: {file} is a file, not a folder; pass --out with a folder (run directories are "
            "made inside it)"
        ) from error
    except OSError as error:
        full = " (disk full)" if error.errno in DISK_FULL else ""
        raise RecordError(
            f"--out {out_root}: cannot create a run directory there{full} ({error.strerror}); pass --out with a "
            "writable folder"
        ) from error
    raise AssertionError("unreachable")  # pragma: no cover


class RunDirectory:
    """A run directory. ``fingerprint``, when given, is stored in every part written (:meth:`write_part`)."""

    def __init__(self, path: Path, fingerprint: RunFingerprint | None = None) -> None:
        self.path = path
        self.fingerprint = fingerprint

    @cached_property
    def paths(self) -> PathStyle:
        """How its records write paths: relative to the run, else from a machine folder's name (bench.portable)."""
        return PathStyle.for_run(self.path)

    @classmethod
    def create(cls, out_root: Path, config: RunConfig, run_id: str) -> RunDirectory:
        path = _make_folder(out_root, f"{run_id}-{config.name}")
        record = cls(path)
        atomic_write(path / "config.toml", config_to_toml(config))
        return record

    @classmethod
    def open(cls, path: Path) -> RunDirectory:
        if not (path / "config.toml").is_file():
            raise ConfigError(
                f"{path}: not a run directory (no config.toml); pass a folder made by `bilayer-bench run`"
            )
        return cls(path)

    def config(self) -> RunConfig:
        return load_config(self.path / "config.toml")

    def check_resume(self, fingerprint: RunFingerprint) -> None:
        """Refuse, in one line, to continue a run whose finished parts were made under another configuration,
        data set or code version than ``fingerprint``; unreadable parts are left to be redone."""
        differing: dict[str, int] = {}
        for path in sorted((self.path / "parts").glob("*/*.json")):
            part = _read_part_file(path)
            if part is None or part.get("status") != "ok":
                continue
            job = str(part.get("job"))
            differences = "; another ".join(fingerprint.differences(part.get("fingerprint"), job, self.paths.value))
            if differences:
                differing[differences] = differing.get(differences, 0) + 1
        if differing:
            what, count = next(iter(differing.items()))
            others = sum(differing.values()) - count
            more = f" (and {others} more with other differences)" if others else ""
            raise RecordError(
                f"--resume {self.path}: {count} finished part(s){more} were made with another {what}; resuming "
                f"would mix them. Undo the change, or start a new run with it: bilayer-bench run "
                f"{self.path / 'config.toml'}"
            )

    def write_json(self, name: str, payload: Any) -> None:
        text = json.dumps(self.paths.value(json_safe(payload)), indent=2, sort_keys=False)
        atomic_write(self.path / name, text + "\n")

    def write_table(self, name: str, table: pd.DataFrame) -> None:
        """A CSV table of the run, its paths written as the records write them."""
        atomic_write(self.path / name, self.paths.text(table.to_csv(index=False)))

    def read_json(self, name: str) -> Any:
        return json.loads((self.path / name).read_text(encoding="utf-8"))

    def _part(self, model: str, job_id: str) -> Path:
        return self.path / "parts" / file_stem(model, dots=True) / f"{file_stem(job_id)}.json"

    def job_done(self, model: str, job_id: str) -> bool:
        part = _read_part_file(self._part(model, job_id))
        return part is not None and part.get("status") == "ok"

    def write_part(self, model: str, job_id: str, payload: dict[str, Any]) -> None:
        stamped = payload if self.fingerprint is None else {**payload, "fingerprint": self.fingerprint.stamp(job_id)}
        atomic_write(self._part(model, job_id), json.dumps(self.paths.value(json_safe(stamped)), indent=1) + "\n")

    def read_parts(self) -> list[dict[str, Any]]:
        """Every readable part file (unreadable ones are skipped with a warning)."""
        parts = (_read_part_file(p) for p in sorted((self.path / "parts").glob("*/*.json")))
        return [p for p in parts if p is not None]

    def read_part(self, model: str, job_id: str) -> dict[str, Any] | None:
        """The part of (model, job), or None when that job has not ended yet (or its part is unreadable)."""
        return _read_part_file(self._part(model, job_id))

    def sort_parts(self, parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Parts (e.g. gathered from several processes) in the order :meth:`read_parts` gives them."""
        return sorted(parts, key=lambda part: self._part(part["model"], part["job"]))

    def array_path(self, model: str, job_id: str, name: str) -> Path:
        """Per-job arrays beside the parts (set metrics' features); ``model`` "_real" for the real frames."""
        stem = f"{file_stem(job_id)}.{file_stem(name, dots=True)}"
        return self.path / "parts" / file_stem(model, dots=True) / f"{stem}.npy"

    def write_array(self, model: str, job_id: str, name: str, array: np.ndarray) -> None:
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(array), allow_pickle=False)
        atomic_write(self.array_path(model, job_id, name), buffer.getvalue())

    def read_array(self, model: str, job_id: str, name: str) -> np.ndarray:
        return np.load(self.array_path(model, job_id, name), allow_pickle=False)

    def sample_file(self, owner: str, protocol: str, job_id: str, name: str) -> Path:
        """Where a saved frame goes (its folder created): ``owner`` is a model or :data:`INPUTS`."""
        path = sample_folder(self.path, owner, protocol, job_id) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path
