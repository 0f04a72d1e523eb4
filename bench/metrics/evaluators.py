"""Building metrics for a run: factories, availability, and the provenance of their weights."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import torch

from bench.errors import ConfigError, WeightsError
from bench.metrics import ALL, METRICS, MetricSpec, functional
from bench.registry import import_object
from bench.weights import WEIGHTS_ENV, ResolvedWeight, WeightsLocations, resolve

__all__ = ["BuiltMetric", "SkippedMetric", "build_metrics"]

# (predicted, reference, predicted landmarks or None, reference landmarks or None) -> per-frame values (N,)
Score = Callable[[torch.Tensor, torch.Tensor, "torch.Tensor | None", "torch.Tensor | None"], torch.Tensor]


@dataclass(frozen=True)
class BuiltMetric:
    """``score`` is a frame metric's ``(pred, reference, pred_lm, ref_lm) -> (N,)``, or a set metric's
    ``images -> features (N, D)``. ``records`` replaces the file provenance where weights do not come from the
    registry alone (FID's shipped network)."""

    spec: MetricSpec
    score: Callable[..., object]
    weights: tuple[ResolvedWeight, ...] = ()
    records: tuple[dict[str, object], ...] = ()
    verified: bool | None = None

    @property
    def weights_label(self) -> str:
        if self.verified is not None:
            return "verified" if self.verified else "unverified"
        if not self.weights:
            return "none"
        verified = all(w.verification in ("verified", "verified-prefix") for w in self.weights)
        return "verified" if verified else "unverified"

    def provenance(self) -> dict[str, object]:
        return {
            "variant": self.spec.variant,
            "kind": self.spec.kind,
            "higher_is_better": self.spec.higher_is_better,
            "description": self.spec.description,
            "weights_label": self.weights_label,
            "files": list(self.records) or [w.provenance() for w in self.weights],
        }


@dataclass(frozen=True)
class SkippedMetric:
    name: str
    reason: str


def _plain(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Score:
    return lambda pred, ref, _pl, _rl: fn(pred, ref)


def create_l1(locations: WeightsLocations, device: str) -> tuple[Score, tuple[ResolvedWeight, ...]]:
    return _plain(functional.l1), ()


def create_psnr(locations: WeightsLocations, device: str) -> tuple[Score, tuple[ResolvedWeight, ...]]:
    return _plain(functional.psnr), ()


def create_ssim(locations: WeightsLocations, device: str) -> tuple[Score, tuple[ResolvedWeight, ...]]:
    return _plain(functional.ssim), ()


def _create_lpips(trunk: str, locations: WeightsLocations, device: str) -> tuple[Score, tuple[ResolvedWeight, ...]]:
    from bench.metrics.lpips_metric import load_lpips, lpips_distance, lpips_features, lpips_from_features
    from bench.metrics.reference import ReferenceMemo

    network = load_lpips(trunk, locations, device)  # type: ignore[arg-type]
    reference_features = ReferenceMemo(partial(lpips_features, network))  # once per real frame and job

    def score(pred: torch.Tensor, ref: torch.Tensor, _pl: torch.Tensor | None, _rl: torch.Tensor | None):
        if pred.shape != ref.shape:
            return lpips_distance(network, pred, ref)  # refuses with the shapes
        return lpips_from_features(network, lpips_features(network, pred), reference_features(ref))

    score.reference_memo = reference_features  # type: ignore[attr-defined]  # the tests count its frames
    return score, (network.trunk,)


create_lpips_alex = partial(_create_lpips, "alex")
create_lpips_vgg = partial(_create_lpips, "vgg")


def _create_csim(alignment: str, locations: WeightsLocations, device: str) -> tuple[Score, tuple[ResolvedWeight, ...]]:
    from bench.metrics.arcface import load_arcface
    from bench.metrics.csim import csim, embed_faces
    from bench.metrics.reference import ReferenceMemo

    model, resolved = load_arcface(locations, device)
    reference = ReferenceMemo(partial(_embed_reference, embed_faces, model, alignment))  # once per real frame

    def score(pred: torch.Tensor, ref: torch.Tensor, pred_lm: torch.Tensor | None, ref_lm: torch.Tensor | None):
        return csim(model, pred, pred_lm, ref, ref_lm, alignment, embed_reference=reference)

    score.reference_memo = reference  # type: ignore[attr-defined]  # the tests count its frames
    return score, (resolved,)


def _embed_reference(embed, model, alignment: str, images: torch.Tensor, landmarks: torch.Tensor) -> torch.Tensor:
    return embed(model, images, landmarks, alignment)


create_csim_arcface = partial(_create_csim, "arcface")
create_csim_bilayer = partial(_create_csim, "bilayer")


def create_fid(locations: WeightsLocations, device: str) -> BuiltMetric:
    from bench.metrics.fid import extract_features
    from bench.metrics.inception import load_fid_inception

    network = load_fid_inception(locations, device=device)

    def features(images: torch.Tensor) -> object:
        return extract_features(network.model, images, batch_size=16).double().cpu().numpy()

    record = network.weights.as_record()
    return BuiltMetric(METRICS.get(network.variant), features, records=(record,), verified=network.weights.verified)


def _unavailable(spec: MetricSpec, locations: WeightsLocations) -> str | None:
    for name in spec.weights:
        found = resolve(name, locations, verify=False)
        if not found.present:
            return (
                f"{found.entry.filename} not found ({locations.describe()}); put it in the weights folder "
                f"(--weights-dir DIR or ${WEIGHTS_ENV}; from {found.entry.url}) to report {spec.name}"
            )
    return None


def build_metrics(
    names: Sequence[str], locations: WeightsLocations, device: str = "cpu", *, allow_missing: bool = False
) -> tuple[list[BuiltMetric], list[SkippedMetric]]:
    """Metrics named in a config; ``"all"`` means every registered one, skipping those whose files are missing.

    Metrics asked for by name whose files are missing are one :class:`~bench.errors.WeightsError` naming every
    missing file and where it goes, before any metric is built; with ``allow_missing`` they are skipped (listed,
    with the same reasons) and the others run.
    """
    everything = ALL in names
    wanted = METRICS.in_order() if everything else list(dict.fromkeys(names))
    for name in wanted:
        source = METRICS.get(name).derived_from
        if source and not everything and source not in wanted:
            raise ConfigError(f"metric {name} is computed from {source}'s features: name {source} too")
    specs = [spec for spec in (METRICS.get(name) for name in wanted) if not spec.derived_from]
    reasons = {spec.name: reason for spec in specs if (reason := _unavailable(spec, locations)) is not None}
    if reasons and not everything and not allow_missing:
        listed = "; ".join(f"{name}: {reason}" for name, reason in reasons.items())
        raise WeightsError(
            f"{len(reasons)} metric(s) asked for have missing weights ({listed}); or pass --allow-missing-metrics "
            "to run the others"
        )
    built, skipped = [], [SkippedMetric(name, reason) for name, reason in reasons.items()]
    for spec in specs:
        if spec.name in reasons:
            continue
        made = import_object(spec.factory)(locations, device)
        built.append(made if isinstance(made, BuiltMetric) else BuiltMetric(spec, made[0], tuple(made[1])))
    return built, skipped


def _create_dlib(kind: str, locations: WeightsLocations, device: str) -> tuple[Score, tuple[ResolvedWeight, ...]]:
    from bench.metrics.dlib_metrics import create_dlib_metric

    return create_dlib_metric(kind, locations)  # type: ignore[arg-type]


def _create_dlib_descriptor(kind: str, locations: WeightsLocations, device: str) -> BuiltMetric:
    """``csim.dlib-resnet`` / ``aed.dlib-resnet``: the descriptor network (our port) on the run's device; the record
    of the network's file says which code computed the descriptors."""
    from bench.metrics.dlib_metrics import DESCRIPTOR_IMPLEMENTATION, create_dlib_metric

    score, (predictor, recognizer) = create_dlib_metric(kind, locations, device)  # type: ignore[arg-type]
    records = (predictor.provenance(), {**recognizer.provenance(), "implementation": DESCRIPTOR_IMPLEMENTATION})
    return BuiltMetric(METRICS.get(f"{kind}.dlib-resnet"), score, (predictor, recognizer), records)


create_akd_dlib = partial(_create_dlib, "akd")
create_npe_dlib = partial(_create_dlib, "npe")
create_csim_dlib = partial(_create_dlib_descriptor, "csim")
create_aed_dlib = partial(_create_dlib_descriptor, "aed")


def _create_fan(kind: str, locations: WeightsLocations, device: str) -> tuple[Score, tuple[ResolvedWeight, ...]]:
    from bench.metrics.fan_metrics import create_fan_metric

    return create_fan_metric(kind, locations, device)  # type: ignore[arg-type]


create_akd_fan = partial(_create_fan, "akd")
create_npe_fan = partial(_create_fan, "npe")
