"""Loading (and writing) bi-layer checkpoints in the released on-disk layout.

Layout: ``runs/EXPERIMENT/checkpoints/EPOCH_NETWORK.pth``, each ``torch.save(wrapper.state_dict())``: a flat
mapping of key to tensor in which every ``Conv2d`` and ``Linear`` carries spectral norm as ``X.weight_orig``,
``X.weight_u``, ``X.weight_v`` (+ ``X.bias``). At inference the original removes spectral norm with the stored
vectors and no power iteration: ``W = weight_orig / dot(u, weight_orig.reshape(out, -1) @ v)``; loading does
exactly that. Files are read with ``torch.load(weights_only=True)``; every failure names the file and the fix.
"""

from __future__ import annotations

import pickle
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import nn

__all__ = [
    "MAIN_EPOCH",
    "MAIN_RUN",
    "NETWORKS",
    "BilayerCheckpointError",
    "RunFiles",
    "fold_spectral_norm",
    "is_harmonic",
    "load_network",
    "read_state",
    "save_released",
]

NetworkName = Literal[
    "identity_embedder", "texture_generator", "keypoints_embedder", "inference_generator", "texture_enhancer"
]
NETWORKS: tuple[NetworkName, ...] = (
    "identity_embedder",
    "texture_generator",
    "keypoints_embedder",
    "inference_generator",
    "texture_enhancer",
)
MAIN_RUN, MAIN_EPOCH = "vc2-hq_adrianb_paper_main", 2225
ENHANCER_RUN, ENHANCER_EPOCH = "vc2-hq_adrianb_paper_enhancer", 1225
_SN = (".weight_orig", ".weight_u", ".weight_v")
REFUSED = "this file contains code objects; refusing to load it"  # a pickle that weights_only refuses
_LISTED = 5  # keys shown per category in mismatch errors


class BilayerCheckpointError(ValueError):
    """A bi-layer checkpoint is missing, unreadable, of another model, or does not fit the network."""


@dataclass(frozen=True)
class RunFiles:
    """The five checkpoint files (and the two args.txt) of a bi-layer model."""

    files: Mapping[str, Path]
    main_args: Path | None = None
    enhancer_args: Path | None = None

    @classmethod
    def from_runs_dir(
        cls,
        runs: Path | str,
        *,
        main_run: str = MAIN_RUN,
        main_epoch: int = MAIN_EPOCH,
        enhancer_run: str = ENHANCER_RUN,
        enhancer_epoch: int = ENHANCER_EPOCH,
    ) -> RunFiles:
        """Files under ``runs/`` (the folder holding both experiment folders)."""
        runs = Path(runs)
        files = {}
        for net in NETWORKS:
            run, epoch = (enhancer_run, enhancer_epoch) if net == "texture_enhancer" else (main_run, main_epoch)
            files[net] = runs / run / "checkpoints" / f"{epoch}_{net}.pth"
        return cls(files, runs / main_run / "args.txt", runs / enhancer_run / "args.txt")

    def check(self) -> None:
        missing = [f"{net}: {self.files.get(net)}" for net in NETWORKS if not self._exists(net)]
        if missing:
            raise BilayerCheckpointError(
                "bi-layer checkpoint file(s) missing: " + "; ".join(missing) + ". The released runs "
                f"(runs/{MAIN_RUN}/checkpoints/{MAIN_EPOCH}_*.pth and runs/{ENHANCER_RUN}/checkpoints/"
                f"{ENHANCER_EPOCH}_texture_enhancer.pth) must all be present; copy the whole runs/ folder"
            )

    def _exists(self, net: str) -> bool:
        path = self.files.get(net)
        return path is not None and Path(path).is_file()


def read_state(path: Path, network: str) -> OrderedDict[str, torch.Tensor]:
    """``torch.load`` a released network file safely and check it is a flat bi-layer state_dict."""
    path = Path(path)
    if not path.is_file():
        raise BilayerCheckpointError(f"{path}: {network} checkpoint not found; put the released file there")
    if path.stat().st_size == 0:
        raise BilayerCheckpointError(
            f"{path}: the {network} checkpoint is empty (0 bytes), an interrupted copy; copy the released file again"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "GLOBAL" in str(error):  # an import the weights-only unpickler refuses: code, never run
            raise BilayerCheckpointError(f"{path}: {REFUSED}; the released {network} is a plain state_dict") from error
        raise BilayerCheckpointError(
            f"{path}: cannot read the {network} checkpoint, not a torch checkpoint (or truncated); download it again"
        ) from error
    except (RuntimeError, EOFError, OSError, ValueError, IndexError) as error:
        raise BilayerCheckpointError(
            f"{path}: cannot read the {network} checkpoint, the file is truncated or not a torch checkpoint "
            f"({type(error).__name__}: {str(error).splitlines()[0][:120]}); download it again"
        ) from error
    except Exception as error:  # the unpickler's refusals (weights_only) have several types
        raise BilayerCheckpointError(
            f"{path}: not a plain tensor checkpoint ({type(error).__name__}); only released state_dicts load"
        ) from error
    if isinstance(state, Mapping) and {"generator", "kp_detector"} <= set(state):
        raise BilayerCheckpointError(
            f"{path}: this is a First Order Motion Model checkpoint (keys generator, kp_detector, ...), not the "
            f"bi-layer {network}; use it with fomm.vox256, and pass runs/{MAIN_RUN}/checkpoints/ files here"
        )
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BilayerCheckpointError(f"{path}: expected a flat state_dict of tensors for {network}")
    return OrderedDict(state)


def fold_spectral_norm(state: Mapping[str, torch.Tensor]) -> OrderedDict[str, torch.Tensor]:
    """Replace every ``weight_orig/_u/_v`` triple by the effective ``weight`` (no power iteration)."""
    folded: OrderedDict[str, torch.Tensor] = OrderedDict()
    for key, value in state.items():
        if key.endswith((".weight_u", ".weight_v")):
            continue
        if key.endswith(".weight_orig"):
            prefix = key[: -len(".weight_orig")]
            u, v = state.get(prefix + ".weight_u"), state.get(prefix + ".weight_v")
            if u is None or v is None:
                folded[key] = value  # left for the strict key check to report
                continue
            matrix = value.reshape(value.shape[0], -1)
            sigma = torch.dot(u, torch.mv(matrix, v))
            folded[prefix + ".weight"] = value / sigma
        else:
            folded[key] = value
    return folded


def is_harmonic(state: Mapping[str, torch.Tensor]) -> bool:
    """Whether a keypoints_embedder checkpoint uses harmonic encoding (it stores ``frequencies``)."""
    return "frequencies" in state


def _mismatch(path: Path, network: str, expected: Mapping[str, torch.Tensor], found: Mapping[str, torch.Tensor]) -> str:
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    shapes = [
        f"{k} expected {tuple(expected[k].shape)} found {tuple(found[k].shape)}"
        for k in expected
        if k in found and expected[k].shape != found[k].shape
    ]
    parts = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", shapes)):
        if items:
            more = f" (+{len(items) - _LISTED} more)" if len(items) > _LISTED else ""
            parts.append(f"{len(items)} {label}: {', '.join(items[:_LISTED])}{more}")
    return (
        f"{path}: does not fit the {network} network ({'; '.join(parts)}); check that the file is the "
        f"{network} of the released run and that args.txt matches it"
    )


def load_network(module: nn.Module, path: Path, network: str) -> None:
    """Load a released file into ``module`` strictly (keys and shapes), folding spectral norm."""
    state = fold_spectral_norm(read_state(path, network))
    expected = module.state_dict()
    if set(state) != set(expected) or any(state[k].shape != expected[k].shape for k in expected):
        raise BilayerCheckpointError(_mismatch(Path(path), network, expected, state))
    module.load_state_dict(state, strict=True)


def _power_iteration(matrix: torch.Tensor, steps: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    u = torch.randn(matrix.shape[0], generator=generator, dtype=matrix.dtype)
    v = torch.empty(matrix.shape[1], dtype=matrix.dtype)
    for _ in range(steps):
        v = torch.nn.functional.normalize(torch.mv(matrix.t(), u), dim=0, eps=1e-12)
        u = torch.nn.functional.normalize(torch.mv(matrix, v), dim=0, eps=1e-12)
    return u, v


def save_released(module: nn.Module, path: Path, *, seed: int = 0, steps: int = 30) -> None:
    """Write ``module`` in the released layout (spectral-norm triples for every Conv2d/Linear weight).

    ``weight_orig`` is the module's weight and ``u``, ``v`` come from power iteration on it, as the original
    training code leaves them; loading the file therefore yields ``weight / sigma``, as a released file does.
    """
    generator = torch.Generator().manual_seed(seed)
    normed = {name for name, m in module.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    metadata: OrderedDict[str, dict] = OrderedDict()
    for name, _ in module.named_modules():
        metadata[name] = {"version": 1}
        if name in normed:
            metadata[name]["spectral_norm"] = {"weight.version": 1}
    for key, value in module.state_dict().items():
        prefix, _, leaf = key.rpartition(".")
        if prefix in normed and leaf == "weight":
            u, v = _power_iteration(value.detach().reshape(value.shape[0], -1), steps, generator)
            out[prefix + ".weight_orig"], out[prefix + ".weight_u"], out[prefix + ".weight_v"] = value, u, v
        else:
            out[key] = value
    out._metadata = metadata  # type: ignore[attr-defined]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save(out, path)
