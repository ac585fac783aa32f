"""--batch-size auto: a power of two that fits the memory budget (CPU), remembered; an out-of-memory forward
is split in halves with the right offsets; the CLI accepts auto and refuses nonsense in one line."""
from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from memscore.batching import MAX_BATCH, auto_batch_size, forward_halving
from memscore.cli import main
from memscore_plugins.models.torchvision.models import build


def test_auto_batch_size_fits_the_budget_and_is_remembered(tmp_path):
    model = build("resnet18", weights="none")
    per_image = 4 * sum(li.units for li in model.layer_info(64)) + 4 * 3 * 64 * 64
    b = auto_batch_size(model, torch.device("cpu"), 64, budget=40 * per_image, cache=tmp_path)
    assert b == 8  # the largest power of two with b x per_image <= budget / 4
    assert json.loads((tmp_path / "batch_sizes.json").read_text()) == {"resnet18|64|cpu": 8}
    assert auto_batch_size(model, torch.device("cpu"), 64, budget=10**15, cache=tmp_path) == 8  # remembered
    assert auto_batch_size(model, torch.device("cpu"), 32, budget=10**15, cache=tmp_path) == MAX_BATCH


def test_an_out_of_memory_forward_is_split_in_halves():
    ran = []

    def run(x, offset):
        if len(x) > 3:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        ran.append((offset, x[:, 0].tolist()))

    x = torch.arange(10, dtype=torch.float32)[:, None]
    assert forward_halving(run, x, offset=100) == 2
    rows = [r for _, rs in sorted(ran) for r in rs]
    assert rows == list(range(10)) and [o for o, _ in sorted(ran)][0] == 100  # every row once, in place
    assert all(o == 100 + rs[0] for o, rs in ran)

    def never(x, offset):
        raise torch.OutOfMemoryError("simulated")

    with pytest.raises(torch.OutOfMemoryError):
        forward_halving(never, x[:2], 0)


def test_the_cli_takes_auto_and_refuses_nonsense(tmp_path):
    r = CliRunner().invoke(main, ["score", "-m", "resnet18", "-b", "lamem-pls", "--batch-size", "zero"])
    assert r.exit_code == 2 and "give a whole number ≥ 1, or auto" in r.output
    r = CliRunner().invoke(main, ["score", "-m", "resnet18", "-b", "lamem-pls", "--batch-size", "auto",
                                  "--data-root", str(tmp_path / "none"), "--weights", "none"])
    assert "batch" not in r.output and r.exit_code == 1  # accepted; the missing data is what stops it


def test_the_engine_resolves_auto_before_its_first_pass(tmp_path):
    from lamem_fixture import build_lamem
    from memscore.activations import Extractor
    from memscore.stimuli import Stimuli

    model = build("resnet18", weights="none")
    images = Stimuli.from_folder(build_lamem(tmp_path / "l", 20, image_size=32) / "images")
    ex = Extractor(model, n_components=None, batch_size="auto", image_size=32, cache_dir=tmp_path / "c",
                   progress=False, device="cpu")
    assert isinstance(ex.batch_size, int) and ex.batch_size >= 1
    acts = ex.extract(images, ["layer4.1.relu"])
    assert acts["layer4.1.relu"].shape[0] == 20


def test_dry_run_says_what_a_run_would_do_and_runs_nothing(tmp_path, monkeypatch):
    from lamem_fixture import build_lamem
    from memscore.api import dry_run
    from memscore.store import ResultStore

    root = build_lamem(tmp_path / "l", 60, image_size=32)
    report = dry_run("resnet18", "lamem-pls", weights="none", data_root=str(root), progress=False,
                     benchmark_args={"image_size": 32, "pca": 8, "splits": "1"})
    (e,) = report["estimates"]
    assert not report["stored"] and e["cost"]["layers"] == 52 and e["cost"]["pca"] == "gram"
    assert e["disk_bytes"] == e["cost"]["activations_bytes"] > 0 and e["memory_bytes"] > 0
    assert e["seconds"]["total_s"] > 0 and "timed forward" in e["seconds"]["how"]
    from memscore import paths

    assert not ResultStore().query() and not list(paths.cache_dir().rglob("*.npy"))  # nothing ran or was stored
    r = CliRunner().invoke(main, ["score", "-m", "resnet18", "-b", "lamem-pls", "--weights", "none", "--data-root",
                                  str(root), "--benchmark-args", "image_size=32,pca=8,splits=1", "--dry-run"])
    assert r.exit_code == 0 and "52 layers to compute" in r.output and "estimated" in r.output
