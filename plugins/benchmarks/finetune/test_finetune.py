"""`lamem-finetune`: recipe, schedule, early stopping, test split read last, real learning, resume after
SIGKILL, finished splits reused, fine-tuned models as models, options.

Model: ``tiny-cnn`` (tests/finetune_toy.py), a two-convolution CNN at 32 px installed as a throwaway
plugin distribution, trained from random init on the planted-signal LaMem fixture (40 px JPEGs).
"""
from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from finetune_toy import subprocess_env, toy  # noqa: F401 (toy is a fixture)
from lamem_fixture import build_lamem

from memscore.api import load_benchmark, load_model, score
from memscore.errors import DataError, MemscoreError, OptionError
from memscore.images import load_image
from memscore_plugins.benchmarks.finetune import trainer as ft
from memscore_plugins.benchmarks.finetune.benchmark import LamemFinetune
from memscore_plugins.benchmarks.finetune.benchmark import load_finetuned_file
from memscore_plugins.benchmarks.finetune.trainer import (BaseImages, EpochSampler, Finetuner, Geometry, ImageCache,
                                                         Recipe, make_optimizer, make_scheduler)
from memscore_plugins.benchmarks.lamem.data import LaMem

QUICK = {"epochs": 3, "patience": 3, "splits": "1"}


def one_line(exc) -> str:
    msg = str(exc.value)
    assert "\n" not in msg, msg
    return msg


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    return build_lamem(tmp_path_factory.mktemp("lamem_planted"), 400, image_size=40, seed=0)


@pytest.fixture(scope="module")
def trained(toy, planted, tmp_path_factory):
    """One short fine-tuning (split 1, 3 epochs, the paper's lr) in its own MEMSCORE_HOME."""
    home = tmp_path_factory.mktemp("ft_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEMSCORE_HOME", str(home))
        s = score("tiny-cnn", "lamem-finetune", weights="none", benchmark_args=QUICK, data_root=planted,
                  progress=False)
    return home, s


def tiny_model(toy, seed: int = 0):
    m = load_model("tiny-cnn", weights="none", seed=seed)
    torch.manual_seed(seed)
    m.replace_head(1)
    return m


def state_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ------------------------------------------------------------------------------------- the recipe

def test_defaults_are_the_papers_recipe():
    b = LamemFinetune()
    assert b.splits == [1, 2, 3, 4, 5]
    assert b.recipe.to_dict() == {"epochs": 100, "patience": 10, "lr": 1e-3, "momentum": 0.9, "nesterov": True,
                                  "step": 10, "gamma": 0.1, "batch_size": 32, "weight_decay": 0.0,
                                  "augment": "resize-crop", "image_size": None}
    module = torch.nn.Linear(3, 1)
    opt = make_optimizer(module, b.recipe)
    assert isinstance(opt, torch.optim.SGD)
    g = opt.param_groups[0]
    assert (g["lr"], g["momentum"], g["nesterov"], g["weight_decay"]) == (1e-3, 0.9, True, 0.0)
    assert len(g["params"]) == 2  # every parameter is trained
    # the config keys the store: every recipe item is in it
    assert {"epochs", "patience", "lr", "momentum", "step", "batch_size", "image_size", "splits",
            "seed"} <= set(b.config())


def test_scheduler_steps_lr_every_10_epochs():
    opt = make_optimizer(torch.nn.Linear(2, 1), Recipe())
    sched = make_scheduler(opt, Recipe())
    lrs = []
    for _ in range(30):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    np.testing.assert_allclose(lrs, [1e-3] * 10 + [1e-4] * 10 + [1e-5] * 10, rtol=1e-12)


def test_schedule_in_a_real_30_epoch_run(toy, planted, tmp_path):
    """30 real epochs on 8 images at 16 px: lr 1e-3, 1e-4, 1e-5 in epochs 1-10, 11-20, 21-30."""
    data = LaMem(planted)
    tr, va = data.read_part("train", 1), data.read_part("val", 1)
    m = tiny_model(toy)
    t = Finetuner(m, Recipe(epochs=30, patience=30, image_size=16), seed=0, split=1)
    fit = t.fit([data.image_path(n) for n in tr.names[:8]], tr.scores[:8],
                [data.image_path(n) for n in va.names[:4]], va.scores[:4], tmp_path / "w")
    lrs = [h["lr"] for h in fit.history]
    assert fit.epochs_run == 30 and not fit.stopped_early
    np.testing.assert_allclose(lrs, [1e-3] * 10 + [1e-4] * 10 + [1e-5] * 10, rtol=1e-9)


def test_early_stopping_after_exactly_patience_epochs_keeps_best_weights(toy, planted, tmp_path, monkeypatch):
    data = LaMem(planted)
    tr, va = data.read_part("train", 1), data.read_part("val", 1)
    scripted = iter([0.10, 0.30, 0.20, 0.25, 0.29, 0.90, 0.95])
    monkeypatch.setattr(Finetuner, "validate", lambda self, paths, scores, epoch: next(scripted))
    t = Finetuner(tiny_model(toy), Recipe(epochs=20, patience=3, image_size=16), seed=0, split=1)
    snaps = {}
    t.on_epoch_end = lambda epoch, trainer, row: snaps.__setitem__(epoch, ft.cpu_state(trainer.module))
    fit = t.fit([data.image_path(n) for n in tr.names[:16]], tr.scores[:16],
                [data.image_path(n) for n in va.names[:4]], va.scores[:4], tmp_path / "w")
    # best at epoch 2; epochs 3, 4, 5 bring no improvement -> stops after epoch 5, never sees 0.90
    assert (fit.best_epoch, fit.epochs_run, fit.stopped_early) == (2, 5, True)
    assert fit.best_val == pytest.approx(0.30)
    assert [h["improved"] for h in fit.history] == [True, True, False, False, False]
    assert sorted(snaps) == [1, 2, 3, 4, 5]
    final = ft.cpu_state(t.module)
    assert state_equal(final, snaps[2])
    assert not state_equal(final, snaps[5])


# ------------------------------------------------------------------------------------- images

def test_eval_images_equal_the_models_own_transform(toy, planted):
    m = load_model("tiny-cnn", weights="none")
    t = Finetuner(m, Recipe(), seed=0)
    paths = sorted((planted / "images").glob("*.jpg"))[:4]
    ds = BaseImages(paths, t.geom)
    ours = t._to_input(torch.from_numpy(np.stack([ds[i][0] for i in range(4)])))
    ref = torch.stack([m.transform()(load_image(p)) for p in paths])
    assert torch.equal(ours, ref)


def test_a_models_own_nonstandard_eval_transform_is_used(toy, planted):
    """A preprocessing that is not Resize + CenterCrop (here: squash to 32 x 32) is used as is."""
    from dataclasses import dataclass

    from torchvision import transforms as T

    from memscore.model import Preprocessing

    @dataclass
    class Squash(Preprocessing):
        def transform(self, *, image_size=None):
            s = image_size or self.crop_size
            return T.Compose([T.Resize((s, s)), T.ToTensor(), T.Normalize(self.mean, self.std)])

    m = tiny_model(toy)
    m.preprocessing = Squash(crop_size=32, resize_size=36)
    t = Finetuner(m, Recipe(), seed=0)
    assert t.eval_transform is not None
    paths = sorted((planted / "images").glob("*.jpg"))[:5]
    m.module.eval()
    with torch.no_grad():
        ref = m.module(torch.stack([m.transform()(load_image(p)) for p in paths]))[:, 0].double().numpy()
    np.testing.assert_allclose(t.predict(paths), ref, rtol=1e-6, atol=1e-7)


def test_augmentation_depends_only_on_seed_split_epoch():
    geom = Geometry(resize=36, crop=32, interpolation="bilinear", mean=(0, 0, 0), std=(1, 1, 1))
    a = EpochSampler(50, 8, geom, "resize-crop", seed=3, split=2)
    b = EpochSampler(50, 8, geom, "resize-crop", seed=3, split=2)
    a.set_epoch(4)
    b.set_epoch(4)
    assert a.items() == b.items()
    b.set_epoch(5)
    assert a.items() != b.items()
    items = a.items()
    assert sorted(i for i, _, _ in items) == list(range(50))
    assert all(0 <= top <= 4 and 0 <= left <= 4 and (h, w) == (32, 32) for _, (top, left, h, w), _ in items)
    assert 10 < sum(f for _, _, f in items) < 40
    rrc = EpochSampler(50, 8, geom, "rrc", seed=3, split=2).items()
    assert all(0 < h <= 36 and 0 < w <= 36 and top + h <= 36 and left + w <= 36 for _, (top, left, h, w), _ in rrc)


def test_workers_and_decoded_cache_change_nothing(toy, planted, tmp_path):
    """Two DataLoader workers filling the memory-mapped cache train exactly as the plain loader."""
    data = LaMem(planted)
    tr, va = data.read_part("train", 1), data.read_part("val", 1)
    trp, vap = [data.image_path(n) for n in tr.names[:40]], [data.image_path(n) for n in va.names[:8]]
    r = Recipe(epochs=2, patience=2, augment="rrc")
    t0 = Finetuner(tiny_model(toy), r, seed=1, split=1)
    f0 = t0.fit(trp, tr.scores[:40], vap, va.scores[:8], tmp_path / "plain")
    geom = Geometry.of(t0.model, None)
    cache = ImageCache(data.images_dir, geom.resize, geom.interpolation, tmp_path / "cache")
    t1 = Finetuner(tiny_model(toy), r, seed=1, split=1, num_workers=2, cache=cache)
    f1 = t1.fit(trp, tr.scores[:40], vap, va.scores[:8], tmp_path / "cached")
    assert state_equal(ft.cpu_state(t0.module), ft.cpu_state(t1.module))
    assert [h["val_rho"] for h in f0.history] == [h["val_rho"] for h in f1.history]
    assert cache.filled() == 48
    ds = BaseImages(trp[:3], geom, cache)
    for i in range(3):  # rows hold exactly the decoded base
        assert np.array_equal(cache.get(trp[i]), ft.decode_base(trp[i], geom.resize, geom.interpolation))
        assert np.array_equal(ds[i][0], BaseImages(trp[:3], geom)[i][0])


# ------------------------------------------------------------------------------------- the benchmark

def test_short_run_learns_and_reports_per_split_table(trained):
    home, s = trained
    assert s.benchmark == "lamem-finetune" and s.benchmark_version == "1"
    assert s.value > 0.5, s.value
    (row,) = s.splits
    assert row["split"] == 1 and row["test_rho"] == s.value
    assert {"best_epoch", "epochs_run", "val_rho", "test_rho", "time_s"} <= set(row)
    assert 1 <= row["best_epoch"] <= row["epochs_run"] <= 3
    assert [h["lr"] for h in row["history"]] == [1e-3] * row["epochs_run"]
    assert s.meta["config"]["benchmark_args"]["epochs"] == 3
    assert row["model"].startswith("finetuned:tiny-cnn@lamem1-")
    assert Path(row["weights"]).is_file() and Path(row["weights"]).parent == home / "finetuned"
    split_dir = Path(s.meta["workdir"]) / "split1"
    assert (split_dir / "result.json").is_file() and not (split_dir / "checkpoint.pt").exists()


def test_shuffled_scores_learn_nothing(toy, tmp_path_factory):
    root = build_lamem(tmp_path_factory.mktemp("lamem_shuffled"), 500, image_size=40, seed=0, shuffled=True)
    s = score("tiny-cnn", "lamem-finetune", weights="none", benchmark_args={**QUICK, "splits": "1,2"},
              data_root=root, progress=False)
    assert abs(s.value) < 0.2, [r["test_rho"] for r in s.splits]
    assert s.error is not None and len(s.splits) == 2


def test_test_split_is_read_only_after_training(toy, planted, monkeypatch):
    events = []
    real_read, real_epoch = LaMem.read_part, Finetuner.train_epoch

    def read_part(self, part, k, **kw):
        events.append(("read", part, k))
        return real_read(self, part, k, **kw)

    def train_epoch(self, epoch, *a, **kw):
        events.append(("epoch", self.split, epoch))
        return real_epoch(self, epoch, *a, **kw)

    monkeypatch.setattr(LaMem, "read_part", read_part)
    monkeypatch.setattr(Finetuner, "train_epoch", train_epoch)
    score("tiny-cnn", "lamem-finetune", weights="none", benchmark_args={"epochs": 2, "patience": 2, "splits": "1,2"},
          data_root=planted, limit=60, progress=False)
    for k in (1, 2):
        test_reads = [i for i, e in enumerate(events) if e == ("read", "test", k)]
        epochs = [i for i, e in enumerate(events) if e[0] == "epoch" and e[1] == k]
        assert len(test_reads) == 1 and len(epochs) == 2
        assert test_reads[0] > max(epochs)
    # split 2's test file is not read before split 2's training either
    assert events.index(("read", "test", 2)) > max(i for i, e in enumerate(events) if e[:2] == ("epoch", 2))


def test_finished_split_is_never_retrained(trained, monkeypatch, planted):
    home, first = trained
    monkeypatch.setenv("MEMSCORE_HOME", str(home))
    monkeypatch.setattr(Finetuner, "fit", lambda *a, **k: pytest.fail("a finished split was retrained"))
    again = score("tiny-cnn", "lamem-finetune", weights="none", benchmark_args=QUICK, data_root=planted,
                  progress=False, force=True)
    assert again.value == first.value and again.splits[0]["from_store"]


def test_bad_image_is_named_or_skipped_and_counted(toy, planted, tmp_path):
    root = tmp_path / "lamem"
    shutil.copytree(planted, root)
    victim = LaMem(root).read_part("train", 1).names[3]
    (root / "images" / victim).write_bytes(b"not a jpeg at all")
    args = {"epochs": 1, "patience": 1, "splits": "1"}
    with pytest.raises(DataError) as e:
        score("tiny-cnn", "lamem-finetune", weights="none", benchmark_args=args, data_root=root, limit=40,
              progress=False)
    assert victim in one_line(e) and "--skip-bad-images" in str(e.value)
    s = score("tiny-cnn", "lamem-finetune", weights="none", benchmark_args=args, data_root=root, limit=40,
              skip_bad_images=True, progress=False)
    assert [Path(p).name for p in s.meta["skipped_images"]] == [victim]


# ------------------------------------------------------------------------------------- resume

RUNNER = textwrap.dedent('''
    import json, os, signal, sys
    import torch
    kill = os.environ.get("FT_KILL")
    if kill:
        kind, n = kill.split(":")
        n, count = int(n), [0]
        if kind == "batch":  # SIGKILL inside an epoch, after n optimizer steps in this process
            import torch.nn.functional as F
            real = F.mse_loss
            def mse(*a, **k):
                count[0] += 1
                if count[0] == n:
                    os.kill(os.getpid(), signal.SIGKILL)
                return real(*a, **k)
            F.mse_loss = mse
        else:  # SIGKILL in the middle of writing the n-th file (checkpoint or best weights)
            real = torch.save
            def save(obj, f, *a, **k):
                count[0] += 1
                if count[0] == n:
                    f.write(b"partial checkpoint"); f.flush()
                    os.kill(os.getpid(), signal.SIGKILL)
                return real(obj, f, *a, **k)
            torch.save = save
    from memscore.api import score
    s = score("tiny-cnn", "lamem-finetune", weights="none", data_root=sys.argv[1], limit=96, progress=False,
              benchmark_args={"epochs": 4, "patience": 4, "splits": "1"}, store=False)
    r = s.splits[0]
    print(json.dumps({"value": s.value, "weights": r["weights"], "resumed_from": r["resumed_from"],
                      "val": [h["val_rho"] for h in r["history"]], "loss": [h["train_loss"] for h in r["history"]]}))
''')


def _run(script, planted, env, kill=None):
    env = dict(env)
    env.pop("FT_KILL", None)
    if kill:
        env["FT_KILL"] = kill
    return subprocess.run([sys.executable, str(script), str(planted)], env=env, capture_output=True, text=True,
                          timeout=300)


def test_sigkill_then_rerun_equals_an_uninterrupted_run(toy, planted, tmp_path):
    script = tmp_path / "runner.py"
    script.write_text(RUNNER)
    ref = _run(script, planted, subprocess_env(toy, tmp_path / "home_ref"))
    assert ref.returncode == 0, ref.stderr[-2000:]
    ref = json.loads(ref.stdout.strip().splitlines()[-1])
    assert ref["resumed_from"] == 0

    env = subprocess_env(toy, tmp_path / "home_killed")
    # 96 images, batch 32 -> 3 steps an epoch: step 5 is in the middle of epoch 2
    p = _run(script, planted, env, kill="batch:5")
    assert p.returncode == -signal.SIGKILL, p.stderr[-2000:]
    split = next((tmp_path / "home_killed" / "finetune").rglob("split1"))
    assert torch.load(split / "checkpoint.pt", weights_only=True)["state"]["epoch"] == 1
    # then killed while writing its 2nd file (the first checkpoint after the resume, or best weights)
    p = _run(script, planted, env, kill="save:2")
    assert p.returncode == -signal.SIGKILL, p.stderr[-2000:]
    done = _run(script, planted, env)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["resumed_from"] >= 1
    assert out["value"] == ref["value"]
    assert out["val"] == ref["val"] and out["loss"] == ref["loss"]
    a = torch.load(out["weights"], weights_only=True)
    b = torch.load(ref["weights"], weights_only=True)
    assert state_equal(a["state_dict"], b["state_dict"])
    assert a["memscore_finetuned"]["test_rho"] == b["memscore_finetuned"]["test_rho"]
    assert not list(split.glob(".*.tmp")) and not (split / "checkpoint.pt").exists()


def test_checkpoint_holds_the_full_training_state(toy, planted, tmp_path):
    data = LaMem(planted)
    tr, va = data.read_part("train", 1), data.read_part("val", 1)
    t = Finetuner(tiny_model(toy), Recipe(epochs=1, patience=1, image_size=16), seed=0, split=1)
    t.fit([data.image_path(n) for n in tr.names[:8]], tr.scores[:8], [data.image_path(n) for n in va.names[:4]],
          va.scores[:4], tmp_path)
    ck = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert {"model", "optimizer", "scheduler", "rng", "state", "recipe"} <= set(ck)
    assert {"torch", "cuda", "numpy", "python"} <= set(ck["rng"])
    assert ck["state"]["epoch"] == 1 and ck["state"]["best_epoch"] == 1 and ck["state"]["done"]
    assert ck["optimizer"]["state"]  # momentum buffers
    assert (tmp_path / "best-e1.pt").is_file()


@pytest.mark.parametrize("change", ["identity", "recipe", "garbage"])
def test_a_checkpoint_of_other_data_or_recipe_is_moved_aside_and_training_starts_afresh(toy, planted, tmp_path,
                                                                                         capsys, change):
    """Resume only what belongs to this run: a checkpoint written for other data (its identity), another
    recipe, or an unreadable one is renamed aside (never deleted) with one line, and epoch 1 runs again."""
    data = LaMem(planted)
    tr, va = data.read_part("train", 1), data.read_part("val", 1)
    args = ([data.image_path(n) for n in tr.names[:8]], tr.scores[:8], [data.image_path(n) for n in va.names[:4]],
            va.scores[:4], tmp_path)
    Finetuner(tiny_model(toy), Recipe(epochs=1, patience=1, image_size=16), seed=0, split=1,
              identity={"data": "A"}).fit(*args)
    ck = tmp_path / "checkpoint.pt"
    before = ck.read_bytes()
    if change == "garbage":
        ck.write_bytes(b"not a checkpoint")
    recipe = Recipe(epochs=2, patience=2, image_size=16) if change == "recipe" else Recipe(epochs=2, patience=1,
                                                                                              image_size=16)
    identity = {"data": "B"} if change == "identity" else {"data": "A"}
    capsys.readouterr()
    fit = Finetuner(tiny_model(toy), recipe, seed=0, split=1, identity=identity).fit(*args)
    err = capsys.readouterr().err
    assert fit.resumed_from == 0 and fit.history[0]["epoch"] == 1
    moved = list(tmp_path.glob("checkpoint.pt.moved-*"))
    assert len(moved) == 1 and "moved checkpoint.pt aside" in err and "Traceback" not in err
    assert len([ln for ln in err.splitlines() if "moved" in ln]) == 1
    assert moved[0].read_bytes() == (b"not a checkpoint" if change == "garbage" else before)


def test_a_checkpoint_of_this_run_is_resumed(toy, planted, tmp_path):
    data = LaMem(planted)
    tr, va = data.read_part("train", 1), data.read_part("val", 1)
    args = ([data.image_path(n) for n in tr.names[:8]], tr.scores[:8], [data.image_path(n) for n in va.names[:4]],
            va.scores[:4], tmp_path)
    t = Finetuner(tiny_model(toy), Recipe(epochs=3, patience=3, image_size=16), seed=0, split=1,
                  identity={"data": "A"})

    def stop(epoch, trainer, row):
        if epoch == 1:
            raise KeyboardInterrupt

    t.on_epoch_end = stop
    with pytest.raises(KeyboardInterrupt):
        t.fit(*args)
    fit = Finetuner(tiny_model(toy), Recipe(epochs=3, patience=3, image_size=16), seed=0, split=1,
                    identity={"data": "A"}).fit(*args)
    assert fit.resumed_from == 1 and not list(tmp_path.glob("*.moved-*"))


# ------------------------------------------------------------------------------------- fine-tuned models

def test_finetuned_model_loads_and_predicts_like_the_trainer(trained, planted, monkeypatch):
    from memscore_plugins.benchmarks.finetune.predict import run_predictions

    home, s = trained
    monkeypatch.setenv("MEMSCORE_HOME", str(home))
    name = s.splits[0]["model"]
    m = load_model(name)
    assert m.meta["output"] == "memorability" and m.identifier == name
    rows = (Path(s.meta["workdir"]) / "split1" / "test_predictions.csv").read_text().splitlines()[1:]
    names = [r.split(",")[0] for r in rows]
    trainer_pred = np.array([float(r.split(",")[2]) for r in rows])
    scores, bad = run_predictions(m, [planted / "images" / n for n in names], device="cpu", progress=False)
    assert not bad
    np.testing.assert_allclose(np.array(scores), trainer_pred, rtol=1e-5, atol=1e-6)


def test_finetuned_models_are_listed_without_torch(trained, toy):
    home, s = trained
    code = ("import sys, json; from memscore.pluginmanager import registry; "
            "print(json.dumps([n for n in registry().names('model') if n.startswith('finetuned')])); "
            "print('torch' in sys.modules)")
    env = {**subprocess_env(toy, home), "MEMSCORE_PLUGINS": "finetune"}
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    names, torch_loaded = p.stdout.strip().splitlines()
    assert s.splits[0]["model"] in json.loads(names) and "finetuned" in json.loads(names)
    assert torch_loaded == "False"


def test_corrupt_or_wrong_architecture_checkpoint_is_one_line(trained, tmp_path, monkeypatch):
    home, s = trained
    good = Path(s.splits[0]["weights"])
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(good.read_bytes()[:300])
    with pytest.raises(MemscoreError) as e:
        load_finetuned_file(corrupt)
    assert "corrupt.pt" in one_line(e) and "not a readable checkpoint" in str(e.value)

    ck = torch.load(good, weights_only=True)
    ck["memscore_finetuned"]["base_model"] = "tiny-cnn-narrow"
    wrong = tmp_path / "wrong.pt"
    torch.save(ck, wrong)
    with pytest.raises(MemscoreError) as e:
        load_finetuned_file(wrong)
    assert "wrong.pt" in one_line(e) and "does not fit tiny-cnn-narrow" in str(e.value)

    # through the model name: a listed fine-tuned model whose file went bad
    monkeypatch.setenv("MEMSCORE_HOME", str(tmp_path / "home"))
    folder = tmp_path / "home" / "finetuned"
    folder.mkdir(parents=True)
    shutil.copy(corrupt, folder / "tiny-cnn@lamem9.pt")
    (folder / "tiny-cnn@lamem9.json").write_text(json.dumps({"name": "tiny-cnn@lamem9", "file": "tiny-cnn@lamem9.pt"}))
    with pytest.raises(MemscoreError) as e:
        load_model("finetuned:tiny-cnn@lamem9")
    assert "tiny-cnn@lamem9.pt" in one_line(e)
    with pytest.raises(MemscoreError) as e:
        load_model("finetuned:tiny-cnn@lamem7")
    assert "unknown model" in one_line(e) and "finetuned:tiny-cnn@lamem9" in str(e.value)


def test_new_training_never_overwrites_a_finetuned_file_silently(trained, tmp_path, monkeypatch):
    from memscore_plugins.benchmarks.finetune.store import available_finetuned
    from memscore_plugins.benchmarks.finetune.store import export_finetuned

    monkeypatch.setenv("MEMSCORE_HOME", str(tmp_path))
    meta = {"name": "x@lamem1", "train_hash": "aaaa", "created": 1.0}
    state = {"w": torch.zeros(2)}
    first = export_finetuned("x@lamem1", state, meta)
    assert export_finetuned("x@lamem1", {"w": torch.ones(2)}, meta) == first  # same training: kept as is
    assert torch.equal(torch.load(first, weights_only=True)["state_dict"]["w"], torch.zeros(2))
    with pytest.warns(UserWarning, match="previous one"):
        export_finetuned("x@lamem1", {"w": torch.ones(2)}, {**meta, "train_hash": "bbbb", "created": 2.0})
    hist = list((tmp_path / "finetuned" / "history").glob("*.pt"))
    assert len(hist) == 1 and torch.equal(torch.load(hist[0], weights_only=True)["state_dict"]["w"], torch.zeros(2))
    assert available_finetuned()["x@lamem1"]["train_hash"] == "bbbb"


# ------------------------------------------------------------------------------------- options

def test_benchmark_args_from_the_cli_form(toy):
    from memscore.options import parse_kv

    b = load_benchmark("lamem-finetune", **parse_kv("epochs=3,patience=2,splits=1,3,lr=0.01,image_size=64"))
    assert b.splits == [1, 3] and b.recipe.epochs == 3 and b.recipe.patience == 2 and b.recipe.lr == 0.01
    assert b.config()["image_size"] == 64


@pytest.mark.parametrize("args, needle", [
    ({"epoch": 3}, "unknown key 'epoch'; did you mean 'epochs'?"),
    ({"epochs": 0}, "epochs=0: expected an integer >= 1"),
    ({"lr": "fast"}, "lr=fast: expected a number"),
    ({"augment": "mixup"}, "augment=mixup: expected one of resize-crop"),
    ({"splits": "7"}, "splits=7: expected split numbers 1..5"),
    ({"image_size": 4}, "image_size=4: expected an integer from 8"),
])
def test_bad_benchmark_args_are_one_line(args, needle):
    with pytest.raises(OptionError) as e:
        load_benchmark("lamem-finetune", **args)
    assert needle in one_line(e)


def test_cli_unknown_key_names_valid_keys(toy, planted):
    from click.testing import CliRunner

    from memscore.cli import main

    r = CliRunner().invoke(main, ["score", "-m", "tiny-cnn", "--weights", "none", "-b", "lamem-finetune",
                                  "--data-root", str(planted), "--benchmark-args", "epochs=1,bogus=2"])
    assert r.exit_code == 2
    assert "unknown key 'bogus'" in r.output and "valid keys:" in r.output


def test_a_split_being_trained_elsewhere_is_not_trained_twice(toy, planted, memscore_home):
    import fcntl

    b = load_benchmark("lamem-finetune", epochs=1, patience=1, splits="1")
    m = load_model("tiny-cnn", weights="none")
    from memscore.benchmark import RunOptions

    opts = RunOptions(data_root=planted, limit=20, progress=False)
    # find this configuration's split folder by running it once, then hold its lock like a live process
    first = b(m, opts)
    split_dir = Path(first.meta["workdir"]) / "split1"
    (split_dir / "result.json").unlink()
    with open(split_dir / ".lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(MemscoreError) as e:
            load_benchmark("lamem-finetune", epochs=1, patience=1, splits="1")(
                load_model("tiny-cnn", weights="none"), opts)
    assert "being trained by another process" in one_line(e)
