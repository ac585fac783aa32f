"""The 64 models of Harada & Sakai (2023): registration, preprocessing, and every model end to end.

Every available zoo model is built with random init, runs two images at its own input size, and goes
through the activation engine (all layers, raw, at a small input size where the architecture allows).
Cadene-only models need the optional ``pretrainedmodels`` and are skipped without it.
"""
from __future__ import annotations

import json
import re
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from memscore.activations import Extractor
from memscore.errors import MemscoreError
from memscore.images import load_image
from memscore.pluginmanager import Plugins
from memscore.stimuli import Stimuli
import memscore_plugins.models.timm as timm_plugin
from memscore_plugins.models.zoo import table as zoo
import memscore_plugins.models.zoo as zoo_plugin
from memscore_plugins.models.cadene.model import installed as cadene_installed

PAPER = [m for m in zoo.ZOO if m.harada2023]
BUILDABLE = [m for m in zoo.ZOO if m.source != zoo.NONE]


def _family(name: str) -> str:
    return re.match(r"[a-z]+", name).group(0)  # vgg19-bn -> vgg, se-resnet50 -> se, cornet-s -> cornet


#: the default run builds the first model of each family (what tells a broken family); -m slow builds all
FIRST_OF_FAMILY = {min((m.slow, i, m.name) for i, m in enumerate(BUILDABLE) if _family(m.name) == f)[2]
                   for f in {_family(m.name) for m in BUILDABLE}}


def _param(rec):
    marks = [pytest.mark.slow] if rec.slow or rec.name not in FIRST_OF_FAMILY else []
    if rec.source == zoo.CADENE:
        marks.append(pytest.mark.skipif(not cadene_installed(), reason="needs pip install memscore[cadene]"))
    return pytest.param(rec.name, marks=marks, id=rec.name)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Two non-square RGB images with structure (so activations are not constant)."""
    root = tmp_path_factory.mktemp("zoo-images")
    rng = np.random.default_rng(0)
    for i, (w, h) in enumerate([(96, 72), (80, 100)]):
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack([(xx * (3 + i)) % 256, (yy * 5) % 256, ((xx + yy) * 2) % 256], -1)
        arr = np.clip(base + rng.integers(0, 40, size=(h, w, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(arr).save(root / f"img{i}.png")
    return Stimuli.from_folder(root)


@pytest.fixture(scope="module")
def registry():
    plugins = Plugins()
    info = plugins.add("zoo", zoo_plugin)
    plugins.add("timm", timm_plugin)
    assert info.error == ""
    return plugins.registry


# -- registration ---------------------------------------------------------------------------------
def test_table_has_the_papers_64_with_unique_names():
    assert len(PAPER) == 64
    assert len({m.name for m in zoo.ZOO}) == len(zoo.ZOO)
    assert len({m.paper for m in PAPER}) == 64
    for m in PAPER:
        assert m.name == m.name.lower() and " " not in m.name and ":" not in m.name


def test_tag_lists_exactly_the_64(registry):
    tagged = registry.entries("model", tag="harada2023")
    assert sorted(e.name for e in tagged) == sorted(m.name for m in PAPER)
    by_name = {e.name: e for e in tagged}
    assert by_name["dpn92"].meta["source"] == "timm" and "timm" in by_name["dpn92"].tags
    assert by_name["cornet-s"].tags == ("harada2023", "cornet", "imagenet")  # source and family: one tag, once
    assert by_name["alexnet"].meta["imagenet_top1"] == 56.522
    # the paper's DualPathNet113 does not exist anywhere: listed, unavailable, with the reason
    dpn113 = by_name["dpn113"]
    assert not dpn113.available and "dpn131" in dpn113.reason
    with pytest.raises(MemscoreError, match="dpn113.*unavailable"):
        dpn113.create()
    cadene = [e for e in tagged if e.meta["source"] == "cadene"]
    assert len(cadene) == 5
    for e in cadene:
        assert e.available == cadene_installed()
        assert e.available or "pip install memscore[cadene]" in e.reason


def test_cli_tag_filter_lists_exactly_the_64():
    env = {**os.environ, "MEMSCORE_PLUGINS": "zoo,timm"}
    proc = subprocess.run([sys.executable, "-m", "memscore.cli", "list", "models", "--tag", "harada2023", "--json"],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert sorted(m["name"] for m in json.loads(proc.stdout)) == sorted(m.name for m in PAPER)


def test_registering_imports_no_torch():
    code = ("import sys\nfrom memscore.pluginmanager import Plugins\n"
            "import memscore_plugins.models.zoo as z, memscore_plugins.models.timm as t\n"
            "p = Plugins(); p.add('zoo', z); p.add('timm', t)\n"
            "print(len(p.registry.entries('model')), 'torch' in sys.modules, 'timm' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == [str(len(zoo.ZOO) + 1), "False", "False"]


def test_top1_of_torchvision_entries_is_the_weights_own():
    import torchvision

    for m in (m for m in zoo.ZOO if m.source == zoo.TV):
        w = torchvision.models.get_weight(zoo._tv_enum_name(m))
        assert w.meta["_metrics"]["ImageNet-1K"]["acc@1"] == m.top1, m.name


def test_timm_entries_name_existing_pretrained_tags():
    import timm

    pretrained = set(timm.list_pretrained())
    for m in (m for m in zoo.ZOO if m.source == zoo.TIMM):
        assert m.arch in pretrained, m.arch


# -- preprocessing equals the source library's own eval transform -----------------------------------
@pytest.mark.parametrize("name", [m.name for m in zoo.ZOO if m.source in (zoo.TV, zoo.TIMM)])
def test_preprocessing_equals_source_transform(name, images):
    rec = zoo.get(name)
    img = load_image(images.paths[0])
    ours = zoo.preprocessing(name).transform()(img)
    if rec.source == zoo.TV:
        import torchvision

        ref = torchvision.models.get_weight(zoo._tv_enum_name(rec)).transforms()(img)
    else:
        from timm.data import create_transform

        from memscore_plugins.models.timm.models import data_config

        ref = create_transform(**data_config(rec.arch))(img)
    assert ours.shape == ref.shape
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-5)


@pytest.mark.skipif(not cadene_installed(), reason="needs pip install memscore[cadene]")
@pytest.mark.parametrize("arch", ["bninception", "nasnetamobile"])
def test_cadene_preprocessing_equals_transform_image(arch, images):
    import pretrainedmodels.utils as pu

    from memscore_plugins.models.cadene import model as cm

    s = cm.settings(arch)
    img = load_image(images.paths[1])
    ref = pu.TransformImage(s)(img)
    ours = cm.preprocessing_of(s).transform()(img)
    if s["input_space"] == "BGR":  # the model's pre-hook does this flip
        ours = cm.rgb_to_bgr(None, (ours[None],))[0][0]
    scale = 255.0 if max(s["input_range"]) == 255 else 1.0
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-4 * scale)


# -- every model end to end -------------------------------------------------------------------------
@pytest.mark.parametrize("name", [_param(m) for m in BUILDABLE])
def test_model_builds_runs_and_extracts_all_layers(name, images, tmp_path, request):
    if name not in FIRST_OF_FAMILY and "slow" not in (request.config.getoption("-m") or ""):
        pytest.skip("one model per family by default; every model with -m slow")
    rec = zoo.get(name)
    torch.manual_seed(0)
    model = zoo.build(name, weights="none")
    assert model.identifier == name and model.weights == "none"
    assert model.meta["source"] == rec.source and "imagenet_top1" not in model.meta  # random init
    size = model.preprocessing.crop_size
    x = torch.stack([model.transform()(load_image(p)) for p in images.paths])
    assert x.shape == (2, 3, size, size)
    with torch.inference_mode():
        y = model.module(x)
    assert y.shape == (2, 1000) and torch.isfinite(y).all()

    small = size if rec.source == zoo.CADENE else rec.test_size  # Cadene's fixed pools need full size
    layers = model.layers(image_size=small)
    units = {li.name: li.units for li in model.layer_info(small)}
    ex = Extractor(model, n_components=None, batch_size=2, device="cpu", image_size=small, cache_dir=tmp_path,
                   progress=False)
    acts = ex.extract(images, layers)
    assert list(acts) == layers and len(layers) >= 14  # cornet-z at 64 px: 14 layers (aliases not counted)
    for n in layers:
        assert acts[n].shape == (2, units[n]), n
    assert model.replace_head(1) is not None  # the head is found for fine-tuning


# -- model details ------------------------------------------------------------------------------------
def test_model_stats_are_computed_once_and_cached(monkeypatch):
    from memscore import api, modelinfo

    stats = modelinfo.model_stats("cornet-z")
    # 25 modules of at least 24 units, 11 of them aliases (each area, its `output` Identity, decoder.flatten)
    assert stats["layers"] == 14 and stats["penultimate"] == "decoder.avgpool" and stats["aliases"] == 11
    assert stats["params"] == sum(p.numel() for p in zoo.build("cornet-z", weights="none").module.parameters())
    assert modelinfo.cache_file().is_file()

    def boom(*a, **k):
        raise AssertionError("rebuilt although cached")

    monkeypatch.setattr(api, "load_model", boom)
    assert modelinfo.model_stats("cornet-z") == stats


def test_details_rows(registry):
    from memscore import modelinfo

    entries = [e for e in registry.entries("model") if e.name in ("cornet-z", "dpn113", "timm")]
    rows = {r["name"]: r for r in modelinfo.details_rows(entries)}
    assert rows["cornet-z"]["layers"] == 14 and rows["cornet-z"]["params"] > 1_000_000
    assert rows["dpn113"]["layers"] is None and "dpn131" in rows["dpn113"]["error"]
    assert rows["timm:<name>"]["layers"] is None and rows["timm:<name>"]["error"] == ""
