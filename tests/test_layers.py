"""Layers that are layers: aliases (modules handing on another layer's output unmodified) are folded into
their canonical layer, every layer carries its relative depth, `memscore layers` shows both, and a
layer-by-layer benchmark's table lists each layer once with its aliases and depth."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

import memscore
from lamem_fixture import build_lamem
from memscore.capture import Capture
from memscore.cli import main
from memscore.model import Model, Preprocessing


# -- a network built for the test ---------------------------------------------------------------------
class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.stem_bn = nn.BatchNorm2d(8)
        self.act = nn.ReLU(inplace=True)  # in-place after a BatchNorm: changes its output, a layer of its own
        self.ident = nn.Identity()  # hands on act's output: an alias
        self.features = nn.Sequential(  # a container returning its last child's output: an alias of it
            nn.Conv2d(8, 8, 3, padding=1),
            nn.Dropout(0.5),  # eval mode: hands on its input, an alias of features.0
            nn.ReLU(),
        )
        self.twice = nn.ReLU()  # runs twice: captured at its last call
        self.after_first = nn.Identity()  # hands on twice's first, uncaptured output: a placeholder, no layer
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.flatten = nn.Flatten(1)  # only reshapes pool's output: an alias
        self.drop = nn.Dropout(0.2)  # an alias
        self.fc = nn.Linear(32, 10)  # 10 units: a layer, excluded from scoring (< 24)

    def forward(self, x):
        x = self.ident(self.act(self.stem_bn(self.stem(x))))
        x = self.features(x)
        y = self.after_first(self.twice(x - 1.0))
        x = self.twice(x + y)
        return self.fc(self.drop(self.flatten(self.pool(x))))


CANONICAL = ["stem", "stem_bn", "act", "features.0", "features.2", "twice", "pool", "fc"]
ALIASES = {"act": ("ident",), "features.0": ("features.1",), "features.2": ("features",),
           "pool": ("flatten", "drop")}


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return Model("tiny", Tiny(), Preprocessing(crop_size=16, resize_size=16))


def test_exactly_the_expected_layers_and_aliases(tiny):
    info = {li.name: li for li in tiny.layer_info()}
    assert [li.name for li in tiny.canonical_info()] == CANONICAL
    assert tiny.layers() == CANONICAL[:-1]  # fc has 10 units
    assert tiny.excluded_layers() == [("fc", 10)]
    assert tiny.aliases() == ALIASES
    for layer, aliases in ALIASES.items():
        for a in aliases:
            assert info[a].alias_of == layer and info[a].is_alias and info[a].depth == info[layer].depth
            assert tiny.canonical(a) == layer
    assert info["flatten"].shape == (32,) and info["pool"].shape == (8, 2, 2)  # an alias keeps its own shape
    # every module with a tensor output is described, aliases included, but for a placeholder handing on an
    # uncaptured tensor (an Identity): never a layer under its own name (LAYER_RULE 3)
    assert set(info) == set(CANONICAL) | {a for v in ALIASES.values() for a in v}
    assert "after_first" not in info
    assert info["twice"].calls == 2 and info["stem"].calls == 1
    assert [info[n].depth for n in CANONICAL] == pytest.approx(np.linspace(0, 1, len(CANONICAL)))
    assert tiny.penultimate_layer == "pool"  # canonical, not its alias `drop`


def test_inplace_relu_and_its_batchnorm_are_both_kept_and_differ(tiny):
    got = {}
    x = torch.randn(4, 3, 16, 16)
    with torch.no_grad(), Capture(tiny, ["stem_bn", "act", "ident"],
                                  lambda name, t, off: got.update({name: t.clone()})) as cap:
        cap.run(x)
    assert not torch.equal(got["stem_bn"], got["act"])
    torch.testing.assert_close(got["act"], torch.relu(got["stem_bn"]))
    torch.testing.assert_close(got["ident"], got["act"], rtol=0, atol=0)  # the alias is the same activation


# -- real models: no two scored layers are the same activation -------------------------------------------
def _captured(model, size, n=2):
    """Every module's captured output on ``n`` random images (aliases included), the scored layers, and the
    order in which the scored layers' captures fired."""
    layers = model.layers(image_size=size)
    got, order, scored = {}, [], set(layers)

    def sink(name, t, _off):
        got[name] = t.detach().clone()
        if name in scored:
            order.append(name)

    torch.manual_seed(1)
    with torch.no_grad(), Capture(model, [li.name for li in model.layer_info(size)], sink, image_size=size) as cap:
        cap.run(torch.randn(n, 3, size, size))
    return layers, got, order


@pytest.mark.parametrize("name,args,size", [
    ("timm:vit_tiny_patch16_224", {"img_size": 64}, 64),
    ("timm:swin_tiny_patch4_window7_224", {"img_size": 64, "window_size": 2}, 64),
    ("timm:convnext_atto", {}, 64),
], ids=["vit", "swin", "convnext"])
def test_transformers_and_convnext_score_no_layer_twice(name, args, size):
    model = memscore.load_model(name, weights="none", **args)
    layers, got, order = _captured(model, size)
    info = {li.name: li for li in model.layer_info(size)}
    assert any(li.is_alias for li in info.values()) and not any(info[n].is_alias for n in layers)
    # no two scored layers hold the same numbers, not even reordered (what PCA and PLS could not tell apart)
    by_size: dict[int, list[str]] = {}
    for n in layers:
        by_size.setdefault(got[n].shape[1], []).append(n)
    for names in by_size.values():
        rows = {n: got[n].sort(1).values for n in names}
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                assert not torch.equal(rows[a], rows[b]), (name, a, b)
    # every alias's output is its layer's output (the same numbers, a reshape or transpose at most)
    for li in info.values():
        if li.is_alias:
            assert torch.equal(got[li.name].sort(1).values, got[li.alias_of].sort(1).values), (name, li.name)
    canon = model.canonical_info(size)
    depth = [li.depth for li in canon]
    assert depth[0] == 0.0 and depth[-1] == 1.0 and all(0 <= d <= 1 for d in depth)
    assert all(a < b for a, b in zip(depth, depth[1:]))  # strictly increasing in forward order
    assert order == layers  # layers are listed in the order their captured outputs are made
    assert [info[n].depth for n in layers] == sorted(info[n].depth for n in layers)


def test_vit_blocks_hand_on_their_projection(tmp_path):
    m = memscore.load_model("timm:vit_tiny_patch16_224", weights="none", img_size=64)
    aliases = m.aliases(64)
    assert aliases["blocks.11.attn.proj"] == ("blocks.11.attn.proj_drop", "blocks.11.attn", "blocks.11.ls1",
                                              "blocks.11.drop_path1")
    assert "blocks.11.attn" not in m.layers(image_size=64) and "blocks.11" in m.layers(image_size=64)


# -- the CLI ---------------------------------------------------------------------------------------------
def test_layers_command_text_and_json():
    runner = CliRunner()
    args = ["layers", "torchvision:resnet18", "--image-size", "32", "--min-units", "600"]
    text = runner.invoke(main, args)
    assert text.exit_code == 0, text.output
    lines = text.output.splitlines()
    # 32 px: layer4 and avgpool have 512 units, below --min-units 600; resnet18's 67 modules hold 52 layers
    assert lines[0].startswith("torchvision:resnet18 at 32 px: 39 layers scored (>= 600 units), 13 excluded, "
                               "15 aliases")
    assert lines[1].split() == ["depth", "layer", "units", "shape", "aliases"]
    assert lines[3].split() == ["0.000", "conv1", "16384", "64x16x16"]
    row = next(ln for ln in lines if ln.split()[1:2] == ["layer4.1.relu"])
    assert row.split()[0] == "0.961" and row.endswith("layer4.1, layer4")
    assert not any(ln.split()[1:2] in (["layer4"], ["layer4.1"]) for ln in lines[1:])  # aliases are no rows
    excluded_at = lines.index("excluded (< 600 units):")
    assert lines.index(row) > excluded_at and lines[-1].split()[1:3] == ["avgpool", "512"]

    out = runner.invoke(main, [*args, "--json"])
    assert out.exit_code == 0, out.output
    d = json.loads(out.stdout)
    assert d["image_size"] == 32 and d["min_units"] == 600 and d["penultimate"] == "avgpool"
    assert d["weights"].startswith("none") and d["counts"] == {"layers": 39, "excluded": 13, "aliases": 15}
    names = [r["name"] for r in d["layers"]]
    assert names[0] == "conv1" and names[-1] == "fc" and "layer3" not in names and "layer3.1.relu" in names
    assert all(r["units"] >= 600 for r in d["layers"]) and all(r["units"] < 600 for r in d["excluded"])
    last = next(r for r in d["excluded"] if r["name"] == "layer4.1.relu")
    assert last == {"name": "layer4.1.relu", "units": 512, "shape": [512, 1, 1], "depth": pytest.approx(49 / 51),
                    "calls": 2, "aliases": ["layer4.1", "layer4"]}
    depths = [r["depth"] for r in sorted(d["layers"] + d["excluded"], key=lambda r: r["depth"])]
    assert depths[0] == 0.0 and depths[-1] == 1.0 and len(depths) == 52


def test_layers_command_unknown_model_is_one_line():
    out = CliRunner().invoke(main, ["layers", "no-such-model"])
    assert out.exit_code != 0
    assert out.output.strip().count("\n") == 0 and "unknown model 'no-such-model'" in out.output


# -- a layer-by-layer benchmark's table --------------------------------------------------------------------
@pytest.fixture(scope="module")
def lamem(tmp_path_factory):
    return build_lamem(tmp_path_factory.mktemp("lamem"), 60, image_size=32)


def _score(lamem, extra=""):
    out = CliRunner().invoke(main, ["score", "-m", "torchvision:resnet18", "-b", "lamem-pls", "--weights", "none",
                                    "--data-root", str(lamem), "--no-progress", "--format", "json",
                                    "--benchmark-args", "splits=1,pca=20,image_size=32" + extra])
    assert out.exit_code == 0, out.output
    return json.loads(out.stdout)


def test_lamem_table_lists_each_layer_once_with_depth_and_aliases(lamem):
    s = _score(lamem)
    rows = {r["layer"]: r for r in s["layers"]}
    model = memscore.load_model("torchvision:resnet18", weights="none")
    assert list(rows) == model.layers(image_size=32) and len(rows) == 52  # 67 modules, 15 of them aliases
    assert "layer4" not in rows and "layer4.1" not in rows
    assert rows["layer4.1.relu"]["aliases"] == ["layer4.1", "layer4"]
    assert rows["conv1"]["aliases"] == [] and rows["conv1"]["depth"] == 0.0 and rows["fc"]["depth"] == 1.0
    depths = [r["depth"] for r in s["layers"]]
    assert all(a < b for a, b in zip(depths, depths[1:]))
    assert all({"value", "error", "splits", "dims", "depth", "aliases"} <= set(r) for r in s["layers"])
    assert s["meta"]["layer"] in rows


def test_an_alias_asked_for_is_scored_as_its_layer(lamem):
    s = _score(lamem, ",layers=layer4+avgpool+layer4.1")
    assert [r["layer"] for r in s["layers"]] == ["layer4.1.relu", "avgpool"]
    assert s["layers"][0]["aliases"] == ["layer4.1", "layer4"]
