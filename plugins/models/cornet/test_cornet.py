"""CORnet: area layers, recurrent last-call capture, published-checkpoint loading (offline), errors."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from memscore.activations import Extractor
from memscore.errors import MemscoreError
from memscore.stimuli import Stimuli
from memscore_plugins.models.cornet import model as cornet


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    root = tmp_path_factory.mktemp("cornet-images")
    rng = np.random.default_rng(1)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, size=(70, 90, 3), dtype=np.uint8)).save(root / f"{i}.png")
    return Stimuli.from_folder(root)


@pytest.mark.parametrize("arch", ["z", "r", "rt", "s"])
def test_areas_are_scoreable_layers(arch):
    torch.manual_seed(0)
    model = cornet.build(arch, weights="none")
    layers = model.layers()
    info = {li.name: li for li in model.layer_info()}
    # an area (and its `output` Identity) hands on its last operation's output unmodified: aliases of that
    # layer, which is scored under the innermost module's name
    areas = [model.canonical(area) for area in ("V1", "V2", "V4", "IT")]
    for area, layer in zip(("V1", "V2", "V4", "IT"), areas):
        assert layer in layers and area not in layers and f"{area}.output" not in layers
        assert layer.startswith(area + ".") and {area, f"{area}.output"} <= set(info[layer].aliases)
    assert layers.index(areas[0]) < layers.index(areas[1]) < layers.index(areas[2]) < layers.index(areas[3])
    assert model.penultimate_layer == "decoder.avgpool"  # decoder.flatten only reshapes it: an alias
    assert info["decoder.flatten"].alias_of == "decoder.avgpool"
    assert info["IT"].shape == (512, 7, 7)
    steps = {"z": 1, "r": 5, "rt": 5, "s": 1}[arch]
    assert info["V4"].calls == steps
    if arch == "s":
        assert info["V4.conv1"].calls == 4 and info["V2.output"].calls == 2


@pytest.mark.parametrize("arch", ["rt", "s"])
def test_engine_captures_each_area_after_its_last_time_step(arch, images, tmp_path):
    """The engine's value of a module run T times is its T-th call: the area's final state."""
    torch.manual_seed(0)
    model = cornet.build(arch, weights="none")
    size = 64
    names = ["V1", "V2", "V4", "IT", "V4.output", "V4.conv1"]
    calls = {li.name: li.calls for li in model.layer_info(size)}
    seen: dict[str, list] = {n: [] for n in names}
    hooks = [model.module.get_submodule(n).register_forward_hook(
        lambda _m, _i, o, n=n: seen[n].append(o.detach().flatten(1).clone())) for n in names]
    tf = model.transform(size)
    from memscore.images import load_image

    x = torch.stack([tf(load_image(p)) for p in images.paths])
    with torch.inference_mode():
        model.module(x)
    for h in hooks:
        h.remove()
    acts = Extractor(model, n_components=None, batch_size=3, device="cpu", image_size=size, cache_dir=tmp_path,
                     progress=False).extract(images, names)
    for n in names:
        assert len(seen[n]) == calls[n]
        np.testing.assert_allclose(acts[n], seen[n][-1].numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(acts["V4"], acts["V4.output"])  # the block returns its output's final call
    if arch == "rt":  # the first step differs from the last: capturing the last call matters
        assert not np.allclose(seen["IT"][0].numpy(), seen["IT"][-1].numpy())


def _write_published_format(model, path: Path) -> None:
    """The published files: {'epoch', 'arch', 'state_dict': {'module.<name>': tensor}, ...}."""
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {f"module.{k}": v for k, v in model.module.state_dict().items()}
    torch.save({"epoch": 1, "arch": "CORnet", "state_dict": state}, path)


def test_default_weights_load_from_the_torch_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    torch.manual_seed(1)
    src = cornet.build("z", weights="none")
    _write_published_format(src, Path(torch.hub.get_dir()) / "checkpoints" / cornet.WEIGHTS["z"])
    torch.manual_seed(2)
    model = cornet.build("z")  # default: the published file, found in the cache, no network
    assert model.weights == cornet.BASE_URL + "cornet_z-5c427c9c.pth"
    for (k, a), b in zip(src.module.state_dict().items(), model.module.state_dict().values()):
        assert torch.equal(a, b), k


def test_missing_weights_offline_is_one_clear_line(tmp_path, monkeypatch):
    import urllib.error

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def offline(*a, **k):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(MemscoreError) as err:
        cornet.build("s")
    msg = str(err.value)
    assert "\n" not in msg and "cornet_s-1d3f7974.pth" in msg and "--weights PATH" in msg
    assert str(tmp_path / "torch") in msg


def test_weights_path_loads_and_bad_files_fail_in_one_line(tmp_path):
    torch.manual_seed(3)
    src = cornet.build("rt", weights="none")
    good = tmp_path / "rt.pth"
    _write_published_format(src, good)
    model = cornet.build("rt", weights=str(good))
    assert torch.equal(model.module.V4.conv1.weight, src.module.V4.conv1.weight)

    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"\x80\x02 definitely not a checkpoint")
    wrong = tmp_path / "z.pth"
    _write_published_format(cornet.build("z", weights="none"), wrong)
    for bad in (corrupt, wrong, tmp_path / "missing.pth"):
        with pytest.raises(MemscoreError) as err:
            cornet.build("rt", weights=str(bad))
        assert "\n" not in str(err.value) and str(bad) in str(err.value)


def test_weights_path_takes_a_one_unit_finetuned_checkpoint(tmp_path):
    torch.manual_seed(4)
    src = cornet.build("z", weights="none")
    src.replace_head(1)
    path = tmp_path / "ft.pt"
    torch.save({"output": "memorability", "state_dict": src.module.state_dict()}, path)
    model = cornet.build("z", weights=str(path))
    assert model.weights == str(path) and model.meta["output"] == "memorability"
    assert torch.equal(model.module.decoder.linear.weight, src.module.decoder.linear.weight)
    with torch.no_grad():
        assert model.module(torch.zeros(2, 3, 64, 64)).shape == (2, 1)


def test_times_is_a_model_arg_of_the_recurrent_variants():
    model = cornet.build("r", weights="none", times=2)
    assert {li.name: li.calls for li in model.layer_info(64)}["IT"] == 2
    with pytest.raises(MemscoreError, match="times"):
        cornet.build("z", weights="none", times=2)


def test_times_keys_the_activation_cache(tmp_path):
    """Same parameters, other recurrence: CORnet-R with times=2 and times=3 must not share cached activations."""
    import memscore
    from lamem_fixture import build_lamem
    from memscore.activations import model_fingerprint

    stimuli = Stimuli.from_folder(build_lamem(tmp_path / "lamem", 8, image_size=48) / "images")
    two = memscore.load_model("cornet-r", weights="none", times=2)
    three = memscore.load_model("cornet-r", weights="none", times=3)
    assert model_fingerprint(two) == model_fingerprint(three)  # the parameters are the same
    kw = dict(n_components=None, batch_size=4, image_size=48, cache_dir=tmp_path / "cache", progress=False)
    a = Extractor(two, **kw).extract(stimuli, ["IT"])
    b = Extractor(three, **kw).extract(stimuli, ["IT"])
    assert b.report["computed"] and not np.allclose(a["IT"], b["IT"])
