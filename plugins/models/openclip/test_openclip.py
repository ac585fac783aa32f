"""The ``openclip:<arch>/<pretrained>`` family: registration (also without open_clip), the model contract,
open_clip's own preprocessing, the tower's layers, weights (default through open_clip's cache, other tags,
local files, one line offline) and a random-init CLIP tower recovering the planted LaMem signal."""
from __future__ import annotations

import importlib.util
import time

import numpy as np
import pytest
import torch
from PIL import Image

import memscore
from memscore.errors import MemscoreError, UnknownNameError
from memscore.pluginmanager import Plugins
from memscore.testing import check_model
import memscore_plugins.models.openclip as openclip_plugin

HAVE_OPEN_CLIP = importlib.util.find_spec("open_clip") is not None
needs_open_clip = pytest.mark.skipif(not HAVE_OPEN_CLIP, reason="pip install memscore[openclip]")

NAME = "ViT-B-32/openai"
SIZE = 64  # ViT-B-32 built for 64-pixel input: 2x2 patches + the class token
LATE = ["visual.transformer.resblocks.10", "visual.transformer.resblocks.11", "visual.ln_post", "visual"]


@pytest.fixture(scope="module")
def oc():
    if not HAVE_OPEN_CLIP:
        pytest.skip("pip install memscore[openclip]")
    from memscore_plugins.models.openclip import model

    return model


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(3)
    return Image.fromarray(rng.integers(0, 255, size=(150, 210, 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def small(oc):
    torch.manual_seed(0)
    return oc.build(NAME, weights="none", image_size=SIZE)


@pytest.fixture(scope="module")
def clip_checkpoint(tmp_path_factory):
    """A full open_clip ViT-B-32 state dict (random weights), as open_clip's own files hold it."""
    if not HAVE_OPEN_CLIP:
        pytest.skip("pip install memscore[openclip]")
    import open_clip

    torch.manual_seed(5)
    clip = open_clip.create_model("ViT-B-32", pretrained=None, force_quick_gelu=True)
    path = tmp_path_factory.mktemp("clip") / "open_clip_pytorch_model.bin"
    torch.save(clip.state_dict(), path)
    return path, {k.removeprefix("visual."): v for k, v in clip.state_dict().items() if k.startswith("visual.")}


def test_without_open_clip_the_family_is_listed_unavailable_with_the_fix(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "open_clip" else real(n, *a))
    plugins = Plugins()
    assert plugins.add("openclip", openclip_plugin).error == ""
    entry, args = plugins.registry.get("model", f"openclip:{NAME}")
    assert entry.prefix and args == (NAME,) and not entry.available
    assert entry.reason == "pip install memscore[openclip]"
    with pytest.raises(MemscoreError, match=r"unavailable: pip install memscore\[openclip\]"):
        entry.create(*args, weights="none")


@needs_open_clip
def test_model_contract():
    check_model(f"openclip:{NAME}")  # weights none, at the tower's 224-pixel input


def test_prefix_resolves_and_names_are_checked(oc):
    plugins = Plugins()
    assert plugins.add("openclip", openclip_plugin).error == ""
    entry, args = plugins.registry.get("model", f"openclip:{NAME}")
    assert entry.prefix and entry.available and "clip" in entry.tags and entry.meta["packages"] == ["open_clip_torch"]
    with pytest.raises(UnknownNameError, match="did you mean.*openclip:ViT-B-32/"):
        oc.build("ViT-B-33/openai", weights="none")
    with pytest.raises(MemscoreError, match="no pretrained tag 'nope' for ViT-B-32 .*laion2b_s34b_b79k"):
        oc.build("ViT-B-32/nope", weights="none")
    with pytest.raises(MemscoreError) as err:  # default weights need a tag
        oc.build("ViT-B-32")
    assert "openclip:ViT-B-32/<tag>" in str(err.value) and "openai" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(MemscoreError, match="image_size"):
        oc.build(NAME, weights="none", image_size="big")


@pytest.mark.parametrize("name", [NAME, "ViT-B-16/laion2b_s34b_b88k",
                                  "PE-Core-B-16/meta"])  # 'squash' + bilinear: open_clip's own transform is kept
def test_preprocessing_equals_open_clip_eval_transform(oc, name, image):
    from open_clip.transform import image_transform

    arch, tag = oc.split_name(name)
    cfg = oc.preprocess_cfg(arch, tag)
    prep = oc.preprocessing_of(cfg)
    ref = image_transform(cfg["size"], is_train=False, mean=cfg["mean"], std=cfg["std"],
                          resize_mode=cfg["resize_mode"], interpolation=cfg["interpolation"],
                          fill_color=cfg["fill_color"])
    torch.testing.assert_close(prep.transform()(image), ref(image), rtol=0, atol=1e-6)
    assert prep.exact == (cfg["resize_mode"] == "shortest")
    size = cfg["size"][0] if isinstance(cfg["size"], (tuple, list)) else cfg["size"]
    assert prep.crop_size == size
    if prep.exact:
        assert prep.resize_size == size and prep.interpolation == "bicubic"
    small = image_transform(96, is_train=False, mean=cfg["mean"], std=cfg["std"], resize_mode=cfg["resize_mode"],
                            interpolation=cfg["interpolation"])(image)
    torch.testing.assert_close(prep.transform(image_size=96)(image), small, rtol=0, atol=1e-6)


def test_the_tower_its_layers_penultimate_and_head(oc, small):
    m = small
    assert m.identifier == f"openclip:{NAME}" and m.weights == "none" and m.head == "head"
    assert m.preprocessing.crop_size == SIZE and m.meta["source"] == "openclip"
    layers = m.layers()
    # token-shaped outputs (batch x tokens x width) are layers: 2x2 patches + the class token
    blk = next(li for li in m.layer_info() if li.name == "visual.transformer.resblocks.11")
    assert blk.shape == (5, 768) and blk.units == 5 * 768
    assert m.penultimate_layer == "visual" and "head" not in layers  # the 1-unit head is never scored
    assert not any(n.endswith("out_proj") for n in layers)  # nn.MultiheadAttention never calls its out_proj
    x = torch.rand(2, 3, SIZE, SIZE)
    with torch.inference_mode():
        emb = m.module.visual(x)
        assert emb.shape == (2, 512) and m.module(x).shape == (2, 1)
    new = m.module.head  # replace_head on a copy keeps the fixture intact
    import copy

    c = copy.deepcopy(m)
    c.replace_head(1)
    assert c.module.head is not new and c.module.head.in_features == 512


def test_attention_modules_are_layers_captured_as_their_tensor_part(small):
    """nn.MultiheadAttention returns (output, weights): its layer is the output."""
    from memscore.capture import Capture

    m = small
    attn = "visual.transformer.resblocks.11.attn"
    assert attn in m.layers()
    assert next(li for li in m.layer_info() if li.name == attn).shape == (5, 768)
    x = torch.rand(3, 3, SIZE, SIZE)
    seen = {}
    h = m.module.get_submodule(attn).register_forward_hook(lambda mod, i, o: seen.update(ref=o[0].detach().clone()))
    got = {}
    try:
        with torch.inference_mode(), Capture(m, [attn], lambda name, t, off: got.update({name: t.clone()})) as cap:
            cap.run(x)
    finally:
        h.remove()
    torch.testing.assert_close(got[attn], seen["ref"].flatten(1))


def test_a_wrong_input_size_is_one_line(small):
    with pytest.raises(MemscoreError) as err, torch.inference_mode():
        small.module(torch.zeros(1, 3, 224, 224))
    assert "--model-args image_size=224" in str(err.value) and "\n" not in str(err.value)


@pytest.fixture(scope="module")
def lamem_roots(tmp_path_factory):
    from lamem_fixture import build_lamem

    root = tmp_path_factory.mktemp("lamem-clip")
    return build_lamem(root / "planted", 200, image_size=48), build_lamem(root / "shuffled", 200, image_size=48,
                                                                          shuffled=True)


def _score(root):
    return memscore.score(f"openclip:{NAME}", "lamem-pls", weights="none", model_args={"image_size": SIZE},
                          data_root=root, benchmark_args={"splits": "1,2", "pca": 50, "image_size": SIZE,
                                                          "layers": "+".join(LATE)},
                          device="cpu", progress=False)


@needs_open_clip
def test_random_clip_tower_recovers_the_planted_lamem_signal(lamem_roots):
    s = _score(lamem_roots[0])
    # measured: 0.74-0.76 on every late layer (shuffled scores: -0.27 .. -0.17)
    assert s.value > 0.5, s.summary()
    assert [r["layer"] for r in s.layers] == LATE and all(r["value"] > 0.4 for r in s.layers)
    assert s.meta["layer"] in LATE


@needs_open_clip
def test_random_clip_tower_finds_no_signal_in_shuffled_scores(lamem_roots):
    s = _score(lamem_roots[1])
    assert s.value < 0.35, s.summary()  # the best of 4 layers on 2 x 34 test images: noise only


def test_missing_weights_offline_is_one_fast_line(oc, tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    t0 = time.perf_counter()
    with pytest.raises(MemscoreError) as err:
        oc.build(NAME)
    msg = str(err.value)
    assert time.perf_counter() - t0 < 20
    assert "\n" not in msg and "timm/vit_base_patch32_clip_224.openai" in msg and "--weights PATH" in msg
    assert str(tmp_path / "hub") in msg and "open_clip_pytorch_model.bin" in msg
    with pytest.raises(MemscoreError, match="laion/CLIP-ViT-B-32-laion2B-s34B-b79K"):  # another tag as weights
        oc.build(NAME, weights="laion2b_s34b_b79k")


def test_a_failing_download_is_one_line(oc, monkeypatch):
    import open_clip.factory

    def fail(*a, **k):
        raise ConnectionError("connection reset by peer\nretry 2 of 5")

    monkeypatch.setattr(oc, "_cached", lambda cfg: False)
    monkeypatch.setattr(oc, "_reachable", lambda cfg: True)
    monkeypatch.setattr(open_clip.factory, "download_pretrained", fail)
    with pytest.raises(MemscoreError) as err:
        oc.build(NAME)
    msg = str(err.value)
    assert "\n" not in msg and "RuntimeError" in msg and "timm/vit_base_patch32_clip_224.openai" in msg


def test_default_weights_load_through_open_clip(oc, clip_checkpoint, monkeypatch):
    """What open_clip downloads (here: a file it is handed) is loaded into the tower; preprocessing is the
    config open_clip itself attaches to the model."""
    import open_clip.factory
    from open_clip.transformer import QuickGELU

    path, visual = clip_checkpoint
    monkeypatch.setattr(oc, "_cached", lambda cfg: True)
    monkeypatch.setattr(open_clip.factory, "download_pretrained", lambda cfg, **k: str(path))
    m = oc.build(NAME)
    assert m.weights == NAME and m.meta["pretrained"] == "openai"
    own = m.module.visual.state_dict()
    assert all(torch.equal(own[k], v) for k, v in visual.items())
    assert isinstance(m.module.visual.transformer.resblocks[0].mlp.gelu, QuickGELU)  # as OpenAI trained it
    assert m.preprocessing == oc.preprocessing_of(m.module.visual.preprocess_cfg)


def test_weights_path_takes_an_open_clip_checkpoint_or_a_memscore_export(oc, clip_checkpoint, tmp_path):
    path, visual = clip_checkpoint
    m = oc.build(NAME, weights=str(path))
    assert m.weights == str(path)
    assert torch.equal(m.module.visual.conv1.weight, visual["conv1.weight"])
    # a lamem-finetune style export of this model: one-unit head, output and preprocessing described
    m.replace_head(1)
    prep = {"crop_size": 160, "resize_size": 160, "interpolation": "bicubic", "mean": [0.5] * 3, "std": [0.25] * 3}
    export = tmp_path / "ft.pt"
    torch.save({"output": "memorability", "preprocessing": prep, "state_dict": m.module.state_dict()}, export)
    ft = oc.build(NAME, weights=str(export))
    assert ft.meta["output"] == "memorability" and ft.preprocessing.crop_size == 160
    assert torch.equal(ft.module.head.weight, m.module.head.weight)
    assert torch.equal(ft.module.visual.conv1.weight, visual["conv1.weight"])


def test_bad_weights_files_are_one_line(oc, tmp_path):
    import open_clip

    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"PK\x03\x04 truncated")
    wrong = tmp_path / "vit-s-32.pt"
    torch.save(open_clip.create_model("ViT-S-32", pretrained=None).state_dict(), wrong)
    for bad in (corrupt, wrong, tmp_path / "missing.pt", tmp_path):
        with pytest.raises(MemscoreError) as err:
            oc.build(NAME, weights=str(bad))
        assert "\n" not in str(err.value) and str(bad) in str(err.value), str(err.value)
