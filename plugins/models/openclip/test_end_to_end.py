"""A CLIP image tower (random init) through every benchmark kind and `predict`: neural-it, lamem-it
(its commitment), lamem-finetune (one epoch) and the fine-tuned model predicting from the CLI."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from click.testing import CliRunner

import memscore

pytestmark = pytest.mark.skipif(importlib.util.find_spec("open_clip") is None,
                                reason="open_clip is not installed (pip install memscore[openclip])")
MODEL, SIZE = "openclip:ViT-B-32/openai", 64
LAYERS = "visual.transformer.resblocks.10+visual.transformer.resblocks.11+visual.ln_post"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from lamem_fixture import build_lamem
    from neural_fixture import build_neural

    root = tmp_path_factory.mktemp("e2e")
    planter = memscore.load_model("torchvision:resnet18", weights="none")
    return build_lamem(root / "lamem", 80, image_size=40), build_neural(
        root / "neural", planter, n_objects=4, per_object=12, n_sites=8, clean=4, noise=1.0, size=SIZE)


def test_clip_tower_on_neural_it_lamem_it_finetune_and_predict(data, tmp_path):
    lamem, neural = data
    kw = dict(weights="none", model_args={"image_size": SIZE}, device="cpu", progress=False)
    layers = LAYERS
    nargs = {"dataset": str(neural["manifest"]), "image_size": SIZE, "layers": layers, "pca": 30}
    it = memscore.score(MODEL, "neural-it", benchmark_args=nargs, **kw)
    assert it.meta["layer"] in layers.split("+") and np.isfinite(it.raw) and 0 < it.ceiling <= 1
    mem = memscore.score(MODEL, "lamem-it", data_root=lamem, benchmark_args={
        "splits": "1", "image_size": SIZE, "pca": 30, **{f"neural_{k}": v for k, v in nargs.items()}}, **kw)
    assert mem.meta["commitment"]["layer"] == it.meta["layer"] and mem.meta["commitment"]["from_store"]
    ft = memscore.score(MODEL, "lamem-finetune", data_root=lamem, limit=60,
                        benchmark_args={"splits": "1", "epochs": 1, "patience": 1, "image_size": SIZE,
                                        "batch_size": 16}, **kw)
    assert len(ft.splits) == 1 and ft.splits[0]["epochs_run"] == 1
    from memscore.cli import main

    out = tmp_path / "preds.csv"
    images = sorted((lamem / "images").glob("*.jpg"))[:5]
    r = CliRunner().invoke(main, ["predict", "-m", ft.splits[0]["model"], *map(str, images), "--out", str(out),
                                  "--device", "cpu", "--no-progress"])
    assert r.exit_code == 0, r.output
    rows = out.read_text().splitlines()
    assert len(rows) == 6 and all(np.isfinite(float(x.split(",")[-1])) for x in rows[1:])
