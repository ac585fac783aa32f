"""Modules that return a tuple or list (``nn.MultiheadAttention``: ``(output, weights)``) are captured as their
tensor part, the first tensor (:func:`memscore.capture.tensor_part`)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from memscore.capture import Capture, tensor_part
from memscore.model import LayerInfo, Model, Preprocessing

SIZE = 16  # 8x8 = 64 tokens of width 8 after the stride-2 conv


class Pair(nn.Module):
    """Returns ``[None, tensor]``: the tensor part is the second element."""

    def forward(self, x):
        return [None, torch.tanh(x)]


class TokenNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.pair = Pair()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        t = self.conv(x).flatten(2).transpose(1, 2)  # batch x tokens x width
        a, _ = self.attn(t, t, t)
        return self.fc(self.pair(a)[1].mean(1))


@pytest.fixture()
def model():
    torch.manual_seed(0)
    return Model("token-net", TokenNet().eval(), Preprocessing(crop_size=SIZE, resize_size=SIZE), weights="none",
                 head="fc")


def _reference(model, x):
    """Each module's tensor part, from plain hooks."""
    out, hooks = {}, []
    for name in ("attn", "pair"):
        hooks.append(model.module.get_submodule(name).register_forward_hook(
            lambda m, i, o, name=name: out.update({name: (o[0] if name == "attn" else o[1]).detach().clone()})))
    with torch.inference_mode():
        model.module(x)
    for h in hooks:
        h.remove()
    return out


def test_tensor_part():
    t = torch.zeros(2, 3)
    assert tensor_part(t) is t
    assert tensor_part((t, None)) is t and tensor_part([None, t, torch.ones(1)]) is t
    assert tensor_part(("no", None)) is None and tensor_part(None) is None and tensor_part({"x": t}) is None


def test_capture_hands_the_sink_the_tensor_part(model, monkeypatch):
    # the layers as discover_layers lists them (see the next test), without relying on it here
    infos = [LayerInfo("attn", 64 * 8, (64, 8), 1), LayerInfo("pair", 64 * 8, (64, 8), 1)]
    monkeypatch.setattr(model, "layer_info", lambda image_size=None: infos)
    x = torch.rand(3, 3, SIZE, SIZE)
    got = {}
    with torch.inference_mode(), Capture(model, ["attn", "pair"], lambda n, t, off: got.update({n: t.clone()})) as c:
        c.run(x)
    ref = _reference(model, x)
    for name in ("attn", "pair"):
        assert got[name].shape == (3, 64 * 8)
        torch.testing.assert_close(got[name], ref[name].flatten(1))


def test_discover_layers_lists_tuple_outputs_by_their_tensor_part(model, tmp_path):
    info = {li.name: li for li in model.layer_info()}
    assert info["attn"].shape == (64, 8) and info["attn"].units == 512 and info["attn"].calls == 1
    assert info["pair"].shape == (64, 8)
    assert "attn.out_proj" not in info  # nn.MultiheadAttention never calls its out_proj module
    # end to end through the engine: the stored activations are the tensor parts
    from memscore.activations import Extractor
    from memscore.stimuli import Stimuli
    from PIL import Image

    paths = []
    rng = np.random.default_rng(0)
    for i in range(6):
        p = tmp_path / f"{i}.png"
        Image.fromarray(rng.integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8)).save(p)
        paths.append(p)
    stimuli = Stimuli.from_paths(paths, [p.name for p in paths])
    ex = Extractor(model, n_components=0, batch_size=4, image_size=SIZE, cache_dir=tmp_path / "cache",
                   progress=False)
    acts = ex.extract(stimuli, ["attn", "pair"])
    x = torch.stack([model.transform(SIZE)(Image.open(p).convert("RGB")) for p in paths])
    ref = _reference(model, x)
    for name in ("attn", "pair"):
        np.testing.assert_allclose(np.asarray(acts[name]), ref[name].flatten(1).numpy(), rtol=1e-5, atol=1e-6)
