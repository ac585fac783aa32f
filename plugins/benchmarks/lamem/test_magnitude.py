"""`lamem-magnitude` equals a plain pipeline: each test image's L2 norm of the layer's whole output (captured
at its last call), Spearman against split k's test scores (scipy), mean over splits; nothing is fitted and the
engine stores one number per image and layer."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
import torch

import memscore
from lamem_fixture import build_lamem
from test_activations import full_activations

LAYERS = ["conv1", "layer1.0.relu", "layer3.1.bn2", "avgpool", "fc"]


def test_magnitude_equals_norms_then_scipy_spearman(tmp_path):
    from memscore.stimuli import Stimuli
    from memscore_plugins.benchmarks.lamem.data import LaMem

    root = build_lamem(tmp_path / "lamem", 120, image_size=48)
    s = memscore.score("resnet18", "lamem-magnitude", weights="none", data_root=str(root), progress=False,
                       benchmark_args={"image_size": 48, "splits": "1,2", "layers": "+".join(LAYERS)})
    assert all(r["dims"] == 1 for r in s.layers) and s.meta["activation_passes"] == 1
    data = LaMem(root)
    names = sorted({n for k in (1, 2) for p in ("train", "test") for n in data.read_part(p, k).names})
    stimuli = Stimuli.from_paths([root / "images" / n for n in names], names)
    torch.manual_seed(0)
    model = memscore.load_model("resnet18", weights="none")
    full = full_activations(model, stimuli, LAYERS)
    row = {n: i for i, n in enumerate(names)}
    for layer in s.layers:
        norms = np.linalg.norm(full[layer["layer"]], axis=1)
        rhos = []
        for k in (1, 2):
            test = data.read_part("test", k)
            rhos.append(scipy.stats.spearmanr(norms[[row[n] for n in test.names]], test.scores)[0])
        assert layer["value"] == pytest.approx(np.mean(rhos), abs=1e-9), layer["layer"]
    assert s.ci[0] <= s.value <= s.ci[1]
