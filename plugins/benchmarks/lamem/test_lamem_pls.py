"""`lamem-pls` end to end on LaMem-format fixtures: planted signal recovered, shuffled scores not,
and every layer's per-split score equal to a plain reference pipeline."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.stats
import torch
from sklearn.cross_decomposition import PLSRegression
from sklearn.decomposition import PCA

import memscore
from lamem_fixture import build_lamem, split_sizes
from test_activations import full_activations

N_IMAGES = 400
SIZE = 48

#: layers from every stage: PCA-reduced (> 1000 units), below it (avgpool 512, fc 1000), a BatchNorm, a
#: downsampling branch, an in-place ReLU that ends a block (the reference pipeline is the same for each)
REFERENCE_LAYERS = ["conv1", "layer1.0.relu", "layer2.0.downsample.1", "layer3.1.bn2", "layer4.1.relu", "avgpool",
                    "fc"]


@pytest.fixture(scope="module")
def lamem(tmp_path_factory):
    return build_lamem(tmp_path_factory.mktemp("lamem"), N_IMAGES, image_size=64)


@pytest.fixture(scope="module")
def lamem_shuffled(tmp_path_factory):
    return build_lamem(tmp_path_factory.mktemp("lamem-shuffled"), N_IMAGES, image_size=64, shuffled=True)


def run(root, **kw):
    return memscore.score("resnet18", "lamem-pls", weights="none", data_root=root, batch_size=50,
                          progress=False, benchmark_args={"image_size": SIZE, **kw.pop("bargs", {})}, **kw)


def test_planted_signal_is_recovered(lamem):
    s = run(lamem)
    assert s.value > 0.5, s.summary()
    assert len(s.layers) == 52 and len(s.splits) == 5  # resnet18's 67 modules with an output less 15 aliases
    assert s.meta["layer"] == max(s.layers, key=lambda r: r["value"])["layer"]
    best = next(r for r in s.layers if r["layer"] == s.meta["layer"])
    assert s.value == pytest.approx(np.mean(best["splits"]))
    assert s.error == pytest.approx(np.std(best["splits"], ddof=1))
    assert [r["split"] for r in s.splits] == [1, 2, 3, 4, 5]
    # LaMem's published human consistency is the ceiling; the value stays the raw rho (the paper's)
    assert s.ceiling == 0.68 and s.raw == s.value and s.meta["normalised"] == pytest.approx(s.value / 0.68)
    assert "Khosla" in s.meta["ceiling_source"]
    n_train, _, n_test = split_sizes(N_IMAGES)
    assert all(r["n_train"] == n_train and r["n_test"] == n_test for r in s.splits)
    # the reported layer's per-item outputs give its value, and the bootstrap CI holds it
    from memscore.items import Items

    items = Items.from_dict(s.items)
    assert [len(g.ids) for g in items.groups] == [n_test] * 5 and items.point() == pytest.approx(s.value, abs=1e-12)
    assert s.ci[0] < s.value < s.ci[1] and s.meta["bootstrap"]["seed"] == 0 and s.meta["select"] == "test"
    truth = LaMemTruth(lamem)
    assert all(np.array_equal(g.target, truth(k, g.ids)) for k, g in zip(range(1, 6), items.groups))


def test_shuffled_scores_give_no_signal(lamem_shuffled):
    s = run(lamem_shuffled, bargs={"layers": "+".join(REFERENCE_LAYERS)})  # a layer of every stage
    assert abs(s.value) < 0.2, s.summary()


def LaMemTruth(root):
    """Split k's test score of each image, read straight from test_k.txt."""
    def truth(k, ids):
        rows = dict(line.split() for line in (root / "splits" / f"test_{k}.txt").read_text().splitlines())
        return np.array([float(rows[i]) for i in ids])
    return truth


def test_select_val_has_no_selection_bias_on_shuffled_scores(lamem_shuffled):
    """Best-on-test over 52 noisy layers is biased upwards on a shuffled set; the layer chosen on the val
    images and scored on test is not, and the meta says which layer best-on-test would have been."""
    s = run(lamem_shuffled, bargs={"select": "val"})
    assert s.meta["select"] == "val" and abs(s.value) < 0.15, s.summary()
    best = next(r for r in s.layers if r["layer"] == s.meta["layer"])
    assert best["val"] == max(r["val"] for r in s.layers) and s.value == best["value"]
    top = max(s.layers, key=lambda r: r["value"])
    assert s.meta["best_on_test"] == {"layer": top["layer"], "value": top["value"]} and top["value"] >= s.value
    assert s.meta["config"]["benchmark_args"]["select"] == "val"  # keyed: never served for a select=test run


def test_per_layer_scores_equal_plain_reference_pipeline(lamem):
    from memscore_plugins.benchmarks.lamem.data import LaMem

    s = run(lamem, bargs={"splits": "1,2", "layers": "+".join(REFERENCE_LAYERS)})
    torch.manual_seed(0)  # load_model seeds with the run's seed (0): the same random weights
    model = memscore.load_model("resnet18", weights="none")
    data = LaMem(lamem)
    # the benchmark's stimuli (and PCA reference set): the union of train/test names of the splits
    names = sorted({n for k in (1, 2) for p in ("train", "test") for n in data.read_part(p, k).names})
    from memscore.stimuli import Stimuli

    stimuli = Stimuli.from_paths([lamem / "images" / n for n in names], names)
    layers = REFERENCE_LAYERS
    assert [r["layer"] for r in s.layers] == layers
    full = full_activations(model, stimuli, layers)
    row = {n: i for i, n in enumerate(names)}
    ours = {r["layer"]: r["splits"] for r in s.layers}
    for name in layers:
        feats = full[name]
        if feats.shape[1] > 1000:
            feats = PCA(min(1000, len(names) - 1), svd_solver="full").fit_transform(feats)
        for j, k in enumerate((1, 2)):
            tr, te = data.read_part("train", k), data.read_part("test", k)
            pls = PLSRegression(25, scale=False).fit(feats[[row[n] for n in tr.names]], tr.scores)
            pred = pls.predict(feats[[row[n] for n in te.names]]).ravel()
            rho = scipy.stats.spearmanr(pred, te.scores).statistic
            assert ours[name][j] == pytest.approx(rho, abs=1e-4), (name, k)


def test_limit_and_cli_json(lamem):
    env = {**os.environ}
    out = subprocess.run([sys.executable, "-m", "memscore.cli", "score", "-m", "resnet18", "-b", "lamem-pls",
                          "--weights", "none", "--data-root", str(lamem), "--limit", "200", "--no-progress",
                          "--benchmark-args", f"image_size={SIZE},splits=1,3,layers=layer4+avgpool",
                          "--pca-bases", "refit", "--format", "json"], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert [r["layer"] for r in result["layers"]] == ["layer4.1.relu", "avgpool"]  # layer4 is its alias
    assert result["layers"][0]["aliases"] == ["layer4.1", "layer4"]
    assert result["layers"][0]["dims"] < 2048  # layer4 was PCA-reduced, with bases that were never written
    assert not list(Path(os.environ["MEMSCORE_HOME"]).rglob("*.pt"))
    assert [r["split"] for r in result["splits"]] == [1, 3]
    assert result["meta"]["n_stimuli"] == 200
    assert result["meta"]["config"]["benchmark_args"]["splits"] == [1, 3]
    assert result["meta"]["config"]["limit"] == 200


def test_a_limit_that_cuts_nothing_is_a_full_run(lamem):
    """--limit above the data set's size leaves the data as they are: the run is keyed, stored and shown as
    the full run (not hidden as a smoke run); a limit that cuts stays one."""
    from memscore.api import plan

    args = dict(weights="none", data_root=str(lamem), benchmark_args={"image_size": SIZE, "splits": [1]})
    full = plan("resnet18", "lamem-pls", **args)
    n = full.data.counts["images"]
    loose = plan("resnet18", "lamem-pls", limit=n + 1, **args)
    cut = plan("resnet18", "lamem-pls", limit=n - 100, **args)
    assert loose.key == full.key and loose.config["limit"] is None and loose.options.limit is None
    assert cut.key != full.key and cut.config["limit"] == n - 100 and cut.data.counts["images"] == n - 100
    # the data's name on boards: its folder's, or --data-name's; never part of the key
    named = plan("resnet18", "lamem-pls", data_name="lamem-mine", **args)
    assert full.data.label == lamem.name and named.data.label == "lamem-mine" and named.key == full.key


def test_bad_benchmark_args_are_one_line(lamem):
    from click.testing import CliRunner

    from memscore.cli import main

    base = ["score", "-m", "resnet18", "-b", "lamem-pls", "--weights", "none", "--data-root", str(lamem)]
    r = CliRunner().invoke(main, [*base, "--benchmark-args", "epochs=3"])
    assert r.exit_code == 2 and r.stderr.strip().count("\n") == 0
    assert "unknown key 'epochs'" in r.stderr and "splits" in r.stderr
    r = CliRunner().invoke(main, [*base, "--benchmark-args", "splits=7"])
    assert r.exit_code == 2 and "splits=7" in r.stderr


def test_skip_bad_images_drops_them_from_every_split(tmp_path):
    root = build_lamem(tmp_path / "lamem", 120, image_size=48)
    (root / "images" / "00000007.jpg").write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(memscore.MemscoreError, match="00000007.jpg"):
        run(root, bargs={"layers": "avgpool", "splits": "1"})
    s = run(root, bargs={"layers": "avgpool", "splits": "1"}, skip_bad_images=True)
    assert s.meta["skipped_images"] == ["00000007.jpg"]
    part = [ln.split()[0] for p in ("train", "test") for ln in (root / "splits" / f"{p}_1.txt").read_text().splitlines()]
    assert "00000007.jpg" in part
    assert s.splits[0]["n_train"] + s.splits[0]["n_test"] == len(part) - 1
