"""The ``transformers`` tag: about ten well-known transformers under plain names, each mapping to an
existing timm pretrained tag or open_clip (arch, pretrained) pair, listed by ``memscore list models --tag
transformers``, built by the timm / openclip plugins' own builders."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from memscore.pluginmanager import Plugins
from memscore.testing import check_model
import memscore_plugins.models.transformers as transformers_plugin
from memscore_plugins.models.transformers.table import OPENCLIP, TIMM, TRANSFORMERS

HAVE_OPEN_CLIP = importlib.util.find_spec("open_clip") is not None


def test_about_ten_names_each_pinned_to_weights_that_exist():
    import timm

    from memscore_plugins.models.timm import models as timm_models

    assert 8 <= len(TRANSFORMERS) <= 14 and len({t.name for t in TRANSFORMERS}) == len(TRANSFORMERS)
    families = {t.family for t in TRANSFORMERS}
    assert {"vit", "deit", "swin", "convnext", "eva", "clip"} <= families
    for t in TRANSFORMERS:
        if t.source == TIMM:
            arch, _, tag = t.arch.partition(".")
            assert tag, f"{t.name}: weights not pinned by a tag"
            timm_models.check_name(t.arch)
            cfg = timm_models.pretrained_cfg(t.arch)
            assert cfg.get("hf_hub_id") and cfg.get("num_classes"), f"{t.name}: no hub weights or no classifier"
            assert t.arch in timm.list_pretrained(arch + ".*")
        else:
            assert t.source == OPENCLIP and t.arch.count("/") == 1
            if HAVE_OPEN_CLIP:
                import open_clip

                assert tuple(t.arch.split("/")) in open_clip.list_pretrained(), t.arch


def test_registered_under_the_tag_with_their_source():
    plugins = Plugins()
    assert plugins.add("transformers", transformers_plugin).error == ""
    entries = {e.name: e for e in plugins.registry.entries("model", tag="transformers")}
    assert set(entries) == {t.name for t in TRANSFORMERS}
    clip = entries["clip-vit-b32"]
    assert clip.params == {"name": "ViT-B-32/openai", "identifier": "clip-vit-b32"}
    assert clip.meta["packages"] == ["open_clip_torch"] and clip.available == HAVE_OPEN_CLIP
    if not HAVE_OPEN_CLIP:
        assert clip.reason == "pip install memscore[openclip]"
    assert entries["deit-s"].params["name"] == "deit_small_patch16_224.fb_in1k"


def test_memscore_list_models_tag_transformers():
    out = subprocess.run([sys.executable, "-m", "memscore.cli", "list", "models", "--tag", "transformers", "--json"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    listed = {e["name"]: e for e in json.loads(out.stdout)}
    assert set(listed) == {t.name for t in TRANSFORMERS}
    assert listed["swin-t"]["meta"]["arch"] == "swin_tiny_patch4_window7_224.ms_in1k"


def test_model_contract_of_a_timm_transformer():
    check_model("deit-s")  # weights none, 224-pixel input


@pytest.mark.skipif(not HAVE_OPEN_CLIP, reason="pip install memscore[openclip]")
def test_a_clip_name_builds_its_openclip_tower():
    import memscore

    m = memscore.load_model("clip-vit-b32", weights="none", image_size=64)
    assert m.identifier == "clip-vit-b32" and m.meta["arch"] == "ViT-B-32" and m.meta["source"] == "openclip"
    assert m.penultimate_layer == "visual" and m.preprocessing.crop_size == 64
