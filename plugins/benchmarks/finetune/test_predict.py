"""`memscore predict`: one CSV row per readable image, unreadable ones named, skipped and counted.

The model is a ``tiny-cnn`` (tests/finetune_toy.py) with a one-unit head, exported as a fine-tuned model
(no training needed: predictions only have to be consistent between the ways of loading it).
"""
from __future__ import annotations

import csv
import io
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from finetune_toy import subprocess_env, toy  # noqa: F401 (toy is a fixture)
from lamem_fixture import build_bad_images, build_lamem

from memscore.api import load_model
from memscore_plugins.benchmarks.finetune.predict import predict

BROKEN = {"corrupt", "truncated", "empty", "not_an_image"}


@pytest.fixture
def finetuned(toy, memscore_home):
    """A fine-tuned `tiny-cnn` in this test's MEMSCORE_HOME: its name and file."""
    from memscore_plugins.benchmarks.finetune.store import export_finetuned
    from memscore_plugins.benchmarks.finetune.trainer import cpu_state

    m = load_model("tiny-cnn", weights="none", seed=3)
    m.replace_head(1)
    with torch.no_grad():
        m.module.fc.bias.fill_(0.5)
    name = "tiny-cnn@lamem1-deadbeef"
    meta = {"name": name, "base_model": "tiny-cnn", "base_weights": "none", "model_args": {}, "head": "fc",
            "preprocessing": m.preprocessing.to_dict(), "output": "memorability", "split": 1,
            "train_hash": "deadbeef" * 2, "test_rho": 0.5, "best_epoch": 1, "created": time.time()}
    path = export_finetuned(name, cpu_state(m.module), meta)
    return f"finetuned:{name}", path


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict_images")
    build_lamem(root / "lamem", 6, image_size=40, n_splits=1)
    bad = build_bad_images(root / "lamem" / "images" / "odd")
    return root / "lamem" / "images", bad


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_one_row_per_readable_image_and_unreadable_ones_named(finetuned, images):
    name, _ = finetuned
    folder, bad = images
    r = CliRunner().invoke(predict, ["--model", name, str(folder), "--no-progress", "--batch-size", "4"])
    assert r.exit_code == 0, r.output
    rows = rows_of(r.stdout)
    assert rows[0] == ["file", "score"]
    files = [row[0] for row in rows[1:]]
    readable = 6 + len(bad) - len(BROKEN)
    assert len(files) == readable == len(set(files))
    assert all(np.isfinite(float(row[1])) for row in rows[1:])
    for kind, path in bad.items():
        if kind in BROKEN:
            assert str(path) not in files
            assert f"skipped {path}:" in r.stderr
        else:
            assert str(path) in files
    assert f"{readable} image(s) scored, {len(BROKEN)} unreadable image(s) skipped" in r.stderr


def test_out_file_and_weights_path_on_the_base_model_agree(finetuned, images, tmp_path):
    name, path = finetuned
    folder, _ = images
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    r1 = CliRunner().invoke(predict, ["-m", name, str(folder / "00000001.jpg"), str(folder / "00000002.jpg"),
                                      "--out", str(a), "--no-progress"])
    r2 = CliRunner().invoke(predict, ["-m", "tiny-cnn", "--weights", str(path), str(folder / "00000001.jpg"),
                                      str(folder / "00000002.jpg"), "--out", str(b), "--no-progress"])
    assert r1.exit_code == 0 and r2.exit_code == 0, (r1.output, r2.output)
    assert r1.stdout == "" and f"wrote {a}" in r1.stderr
    ra, rb = rows_of(a.read_text()), rows_of(b.read_text())
    assert len(ra) == 3 and ra == rb


def test_a_classifier_is_refused_in_one_line(toy, images):
    folder, _ = images
    r = CliRunner().invoke(predict, ["-m", "tiny-cnn", "--weights", "none", str(folder), "--no-progress"])
    assert r.exit_code != 0
    msg = str(r.exception)
    assert "does not predict memorability" in msg and "\n" not in msg


def test_no_readable_image_fails(finetuned, images):
    name, _ = finetuned
    _, bad = images
    r = CliRunner().invoke(predict, ["-m", name, str(bad["corrupt"]), str(bad["empty"]), "--no-progress"])
    assert r.exit_code != 0 and "no readable image" in str(r.exception)
    assert f"skipped {bad['corrupt']}" in r.stderr


def test_predict_module_imports_no_torch(toy, tmp_path):
    code = "import sys, memscore_plugins.benchmarks.finetune.predict; print('torch' in sys.modules)"
    p = subprocess.run([sys.executable, "-c", code], env=subprocess_env(toy, tmp_path), capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "False"
