"""The ``timm:<name>`` family: resolution, preprocessing equal to timm's eval transform, weights handling."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from memscore.errors import MemscoreError, UnknownNameError
from memscore.pluginmanager import Plugins
from memscore_plugins.models.timm import models as timm_models
import memscore_plugins.models.timm as timm_plugin


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(2)
    return Image.fromarray(rng.integers(0, 255, size=(150, 210, 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def registry():
    plugins = Plugins()
    assert plugins.add("timm", timm_plugin).error == ""
    return plugins.registry


def test_prefix_resolves_any_timm_name(registry):
    entry, args = registry.get("model", "timm:resnet18.a1_in1k")
    assert entry.prefix and args == ("resnet18.a1_in1k",) and "timm" in entry.tags
    model = entry.create(*args, weights="none")
    assert model.identifier == "timm:resnet18.a1_in1k" and model.weights == "none" and model.head == "fc"
    with torch.inference_mode():
        assert model.module(torch.zeros(2, 3, 64, 64)).shape == (2, 1000)


def test_unknown_names_say_what_exists():
    with pytest.raises(UnknownNameError, match="did you mean.*timm:resnet18"):
        timm_models.build("resnet18x", weights="none")
    with pytest.raises(MemscoreError, match="no pretrained tag 'nope'.*a1_in1k"):
        timm_models.build("resnet18.nope", weights="none")


@pytest.mark.parametrize("name", [
    "resnet18.a1_in1k",  # bicubic, crop_pct 0.95
    "dpn92.mx_in1k",  # DPN mean/std
    "inception_v4.tf_in1k",  # 299, mean/std 0.5
    "convnext_base.fb_in22k_ft_in1k_384",  # crop_mode squash: timm's own transform is kept
])
def test_preprocessing_equals_timm_eval_transform(name, image):
    from timm.data import create_transform

    cfg = timm_models.data_config(name)
    prep = timm_models.preprocessing_of(cfg)
    ref = create_transform(**cfg)(image)
    ours = prep.transform()(image)
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-6)
    assert prep.exact == (cfg.get("crop_mode") in (None, "center"))
    if prep.exact:
        import math

        assert prep.resize_size == math.floor(cfg["input_size"][1] / cfg["crop_pct"])
    # a smaller image size keeps the same recipe, scaled
    small = create_transform(**{**cfg, "input_size": (3, 96, 96)})(image)
    assert prep.transform(image_size=96)(image).shape == small.shape


def test_built_model_carries_its_pretrained_cfg_preprocessing():
    model = timm_models.build("legacy_seresnet50.in1k", weights="none")
    cfg = timm_models.data_config("legacy_seresnet50.in1k")
    assert model.preprocessing == timm_models.preprocessing_of(cfg)
    assert model.head == "last_linear" and model.meta["source"] == "timm"


def test_missing_pretrained_weights_offline_is_one_fast_line(tmp_path, monkeypatch):
    import time

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t0 = time.perf_counter()
    with pytest.raises(MemscoreError) as err:
        timm_models.build("resnet18.a1_in1k")
    msg = str(err.value)
    assert time.perf_counter() - t0 < 20
    assert "\n" not in msg and "timm/resnet18.a1_in1k" in msg and "--weights PATH" in msg


def test_url_only_weights_name_the_file_when_offline(tmp_path, monkeypatch):
    import socket

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def no_dns(*a, **k):
        raise socket.gaierror("offline")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    with pytest.raises(MemscoreError) as err:
        timm_models.build("legacy_xception.tf_in1k")
    msg = str(err.value)
    assert "xception-43020ad28.pth" in msg and str(tmp_path / "torch") in msg and "\n" not in msg


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_weights_path_loads_a_local_checkpoint(tmp_path, suffix):
    torch.manual_seed(0)
    src = timm_models.build("resnet18", weights="none")
    path = tmp_path / f"r18{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(src.module.state_dict(), str(path))
    else:
        torch.save({"state_dict": src.module.state_dict()}, path)
    torch.manual_seed(1)
    model = timm_models.build("resnet18", weights=str(path))
    assert model.weights == str(path)
    assert torch.equal(model.module.conv1.weight, src.module.conv1.weight)


def test_weights_path_takes_a_one_unit_finetuned_checkpoint(tmp_path):
    """A lamem-finetune export: head replaced by one unit, output marked memorability, its preprocessing used."""
    torch.manual_seed(0)
    src = timm_models.build("resnet18", weights="none")
    src.replace_head(1)
    prep = {"crop_size": 160, "resize_size": 182, "interpolation": "bilinear", "mean": [0.5] * 3, "std": [0.25] * 3}
    path = tmp_path / "ft.pt"
    torch.save({"format": 1, "output": "memorability", "preprocessing": prep, "state_dict": src.module.state_dict()},
               path)
    model = timm_models.build("resnet18", weights=str(path))
    assert model.module.fc.out_features == 1 and model.meta["output"] == "memorability"
    assert torch.equal(model.module.fc.weight, src.module.fc.weight)
    assert model.preprocessing.crop_size == 160 and model.preprocessing.mean == (0.5, 0.5, 0.5)
    with torch.no_grad():
        assert model.module(torch.zeros(2, 3, 64, 64)).shape == (2, 1)


def test_bad_checkpoints_fail_in_one_line(tmp_path):
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"PK\x03\x04 truncated")
    wrong = tmp_path / "resnet34.pth"
    torch.save(timm_models.build("resnet34", weights="none").module.state_dict(), wrong)
    bad_st = tmp_path / "bad.safetensors"
    bad_st.write_bytes(b"\x00" * 16)
    for bad in (corrupt, wrong, bad_st, tmp_path / "missing.pth"):
        with pytest.raises(MemscoreError) as err:
            timm_models.build("resnet18", weights=str(bad))
        assert "\n" not in str(err.value) and str(bad) in str(err.value), str(err.value)


def test_a_pretrained_tag_as_weights_selects_that_config():
    model = timm_models.build("resnet18", weights="none")
    other = timm_models.preprocessing_of(timm_models.data_config("resnet18.tv_in1k"))
    assert model.preprocessing != other  # default tag a1_in1k: bicubic, crop 0.95
    with pytest.raises(MemscoreError, match="no pretrained tag"):
        timm_models.build("resnet18", weights="not_a_tag")


def test_vit_placeholders_are_no_layers():
    """timm's ViT attention keeps disabled norms as ``nn.Identity`` placeholders (q_norm, k_norm, norm) that
    hand on q, k, v sliced from qkv: never layers under their own name; the real ones stay, in order."""
    from memscore.api import load_model

    model = load_model("timm:vit_tiny_patch16_224", weights="none")
    names = model.layers(image_size=224)
    assert not [n for n in names if n.endswith(("q_norm", "k_norm", "attn.norm"))]
    block = [n[len("blocks.3."):] for n in names if n.startswith("blocks.3.")]
    assert block == ["norm1", "attn.qkv", "attn.proj", "norm2", "mlp.fc1", "mlp.act", "mlp.fc2"]
    assert names[-3:] == ["blocks.11", "norm", "head"]  # fc_norm (an Identity for token pooling) is left out
