"""ViTMem: the model contract, its listing, vitmem's own preprocessing (no normalisation), parity with the
vitmem package (its own loader and transform, where it is installed), the published weights read from
vitmem's cache, a weights FILE round trip, and one line when the weights are missing offline.

No test touches the network: the cache is a temporary folder holding a random-init checkpoint in vitmem's
format, and any download attempt fails the test.
"""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from memscore.errors import MemscoreError, OptionError
from memscore.testing import check_model
from memscore_plugins.models.vitmem import WEIGHTS_URL
from memscore_plugins.models.vitmem import model as vm

HAVE_VITMEM = importlib.util.find_spec("vitmem") is not None
needs_vitmem = pytest.mark.skipif(not HAVE_VITMEM, reason="vitmem not installed (pip install vitmem==1.0.1)")
FILE_NAME = WEIGHTS_URL.rsplit("/", 1)[-1]


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(3)
    return [Image.fromarray(rng.integers(0, 255, size=(h, w, 3), dtype=np.uint8)) for h, w in ((180, 240), (300, 200))]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A random-init ViTMem state dict saved as the published file is (vitmem's own network where the
    package is installed, else this plugin's): ``(hub dir, file, the module it came from)``."""
    torch.manual_seed(7)
    if HAVE_VITMEM:
        import vitmem

        ref = vitmem.ViTMem_model()  # pretrained=False: builds, downloads nothing
    else:
        ref = vm.ViTMemNet()
    hub = tmp_path_factory.mktemp("torch-hub")
    path = hub / "checkpoints" / FILE_NAME
    path.parent.mkdir()
    torch.save(ref.state_dict(), path)
    return hub, path, ref.eval()


@pytest.fixture
def hub_dir(monkeypatch, tmp_path):
    """Point torch.hub (where vitmem and this plugin look for the weights) at a folder; no downloads."""
    def no_network(*args, **kwargs):
        raise AssertionError("a test tried to download")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    monkeypatch.setattr(vm, "_reachable", lambda: False)

    def point(folder):
        monkeypatch.setattr(torch.hub, "get_dir", lambda: str(folder))
        return folder
    point(tmp_path / "empty-hub")
    return point


def _score(model, imgs):
    x = torch.stack([model.transform()(im) for im in imgs])
    with torch.inference_mode():
        return model.module.eval()(x)


def test_meets_the_model_contract(memscore_home):
    check_model("vitmem")


def test_listed_by_memscore_list_models(memscore_home):
    out = subprocess.run([sys.executable, "-m", "memscore.cli", "list", "models", "--tag", "published-predictor",
                          "--json"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    entry = {e["name"]: e for e in json.loads(out.stdout)}["vitmem"]
    assert entry["available"] and {"memorability", "vit"} <= set(entry["tags"])
    assert "MIT" in entry["description"] and "ViT" in entry["description"]
    assert entry["meta"]["output"] == "memorability" and entry["meta"]["license"] == "MIT"
    assert {"lamem", "memcat"} <= set(entry["meta"]["trained_on"])
    assert entry["meta"]["arch"] == "vit_base_patch16_224_miil"


def test_preprocessing_is_vitmems_squash_without_normalisation(images):
    p = vm.preprocessing()
    assert (p.crop_size, p.resize_size, p.interpolation) == (224, 256, "bilinear")
    assert p.mean == (0.0, 0.0, 0.0) and p.std == (1.0, 1.0, 1.0) and p.to_dict()["resize_mode"] == "squash"
    white = p.transform()(Image.new("RGB", (300, 170), (255, 255, 255)))
    assert white.shape == (3, 224, 224) and torch.equal(white, torch.ones_like(white))
    # squash, not a short-side resize: a 4:1 image whose left quarter is black keeps black columns on the
    # left (a short-side resize and centre crop would keep only its white middle)
    wide = np.full((100, 400, 3), 255, dtype=np.uint8)
    wide[:, :100] = 0
    x = p.transform()(Image.fromarray(wide))
    assert x[:, :, :40].max() == 0 and x[:, :, 60:].min() == 1
    if HAVE_VITMEM:
        import vitmem

        for im in images:
            torch.testing.assert_close(p.transform()(im), vitmem.transform(im), rtol=0, atol=0)
    with pytest.raises(OptionError, match="224-pixel input only") as err:
        p.transform(image_size=128)
    assert "\n" not in str(err.value)


@needs_vitmem
def test_state_dict_keys_are_vitmems(checkpoint):
    """Same architecture and key names: either implementation's state dict loads strictly into the other."""
    _, _, ref = checkpoint
    with torch.device("meta"):
        ours = vm.ViTMemNet()
    theirs, mine = ref.state_dict(), ours.state_dict()
    assert list(theirs) == list(mine) and "vit.head.weight" in mine
    assert all(theirs[k].shape == mine[k].shape for k in mine)


def test_weights_file_round_trips(memscore_home, checkpoint, images):
    _, path, ref = checkpoint
    model = vm.build(weights=str(path))
    assert model.weights == str(path) and model.meta["output"] == "memorability"
    mine = model.module.state_dict()
    assert all(torch.equal(mine[k], v) for k, v in ref.state_dict().items())
    scores = _score(model, images)
    assert scores.shape == (2, 1) and ((scores > 0) & (scores < 1)).all()
    assert model.head == "vit.head" and model.penultimate_layer == "vit.norm"
    with pytest.raises(MemscoreError, match="no such file") as err:
        vm.build(weights=str(path.with_name("nope.pth")))
    assert "\n" not in str(err.value)


@needs_vitmem
def test_equals_vitmems_own_pipeline_on_its_cached_weights(memscore_home, checkpoint, hub_dir, images):
    """vitmem.ViTMem() (its own loading from the torch hub cache, its own transform) and our default build
    read the same cached file and give the same score per image."""
    import vitmem

    hub, _, _ = checkpoint
    hub_dir(hub)
    pkg = vitmem.ViTMem()  # finds the cached file: no download
    pkg.model.cpu()
    pkg.use_cuda = False
    model = vm.build()  # weights="default"
    assert model.weights == WEIGHTS_URL
    ours = _score(model, images)
    theirs = torch.tensor([[pkg(im)] for im in images])
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-5)


def test_missing_default_weights_offline_is_one_line(memscore_home, hub_dir):
    import memscore

    for build in (vm.build, lambda: memscore.load_model("vitmem")):
        with pytest.raises(MemscoreError) as err:
            build()
        msg = str(err.value)
        assert "\n" not in msg and FILE_NAME in msg and "missing" in msg and "--weights FILE" in msg


def test_corrupt_cached_weights_are_one_line(memscore_home, hub_dir, tmp_path):
    hub = hub_dir(tmp_path / "hub")
    (hub / "checkpoints").mkdir(parents=True)
    (hub / "checkpoints" / FILE_NAME).write_bytes(b"not a checkpoint")
    with pytest.raises(MemscoreError, match="delete the file") as err:
        vm.build()
    assert "\n" not in str(err.value)
