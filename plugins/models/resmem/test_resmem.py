"""ResMem: listed unavailable without the package; with it, equal to resmem's own pipeline."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
from PIL import Image

from memscore.pluginmanager import Plugins
import memscore_plugins.models.resmem as resmem_plugin

HAVE_RESMEM = importlib.util.find_spec("resmem") is not None
needs_resmem = pytest.mark.skipif(not HAVE_RESMEM, reason="resmem not installed (pip install memscore[resmem])")


def test_listed_unavailable_with_install_hint_without_the_package(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "resmem" else real(n, *a))
    plugins = Plugins()
    assert plugins.add("resmem", resmem_plugin).error == ""
    entry, _ = plugins.registry.get("model", "resmem")
    assert not entry.available and entry.reason == "pip install memscore[resmem]"
    assert "non-commercial" in entry.description.lower()


@needs_resmem
def test_listed_available_with_the_package():
    plugins = Plugins()
    plugins.add("resmem", resmem_plugin)
    entry, _ = plugins.registry.get("model", "resmem")
    assert entry.available and entry.meta["output"] == "memorability"


@needs_resmem
@pytest.mark.slow
def test_prediction_equals_resmems_own_forward():
    import resmem

    from memscore_plugins.models.resmem.model import build

    rng = np.random.default_rng(3)
    imgs = [Image.fromarray(rng.integers(0, 255, size=(h, w, 3), dtype=np.uint8)) for h, w in ((300, 400), (256, 200))]
    model = build()
    assert model.meta["output"] == "memorability" and model.weights.startswith("resmem-")
    x = torch.stack([model.transform()(im) for im in imgs])
    with torch.inference_mode():
        ours = model.module(x)

    ref_net = resmem.ResMem(pretrained=True).eval()  # the package's own loading and transform
    ref_x = torch.stack([resmem.transformer(im) for im in imgs])
    torch.testing.assert_close(x, ref_x, rtol=0, atol=1e-6)
    with torch.inference_mode():
        ref = ref_net(ref_x)
    assert ours.shape == (2, 1)
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-5)
    # each is a layer, or an alias scored as its layer (features.layer4 hands on its last block's output)
    assert {model.canonical(n) for n in ("conv5", "features.layer4", "fc11")} <= set(model.layers())


def test_only_227_pixel_input():
    from memscore.errors import MemscoreError
    from memscore_plugins.models.resmem.model import preprocessing

    with pytest.raises(MemscoreError, match="227"):
        preprocessing().transform(image_size=128)
