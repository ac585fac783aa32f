"""Held-out faults a user can cause, each ending in ONE clear line (or in the right behaviour): non-UTF-8 data
roots and file names, neural data-set manifests with fields of the wrong type, plugin factory strings that
name nothing, SLURM missing, lists of names that include themselves or never end, a model too large for the
image size, two demos in one folder, fine-tuned models and --weights, a damaged sweep.json, `data check` on a
manifest, and `check-plugin` when nothing is checked or a factory never returns.

Every test is small (tiny data, random-init models, `--weights none`) and uses the per-test $MEMSCORE_HOME of
conftest.py; cases that could read forever if a guard regressed run in a subprocess with a timeout."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from finetune_toy import toy  # noqa: F401 (toy is a fixture)
from cli_checks import cli_fails, one_error_line  # noqa: F401
from lamem_fixture import build_lamem
from neural_fixture import write_brainio

from memscore.cli import main

NON_UTF8 = os.fsdecode(b"data-\xff\xfe")  # a file name that is not UTF-8 (surrogate-escaped by Python)


# --------------------------------------------------------------------------------------------- helpers

def cli_ok(args: list[str]):
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, (r.output, r.exception)
    assert "Traceback" not in r.output
    return r


def small_neural(root: Path, n_stim: int = 40, **manifest) -> Path:
    """A tiny BrainIO data set (IT sites, 3 repetitions) and its manifest ``m.json`` (fields overridable)."""
    from PIL import Image

    (root / "images").mkdir(parents=True, exist_ok=True)
    ids = [f"s{i:03d}" for i in range(n_stim)]
    for s in ids:
        Image.new("RGB", (8, 8), (10, 20, 30)).save(root / "images" / f"{s}.png")
    (root / "stim.csv").write_text("stimulus_id,filename,object_name\n" +
                                   "".join(f"{s},{s}.png,o{i % 2}\n" for i, s in enumerate(ids)))
    stim = np.repeat(np.arange(n_stim), 3)
    write_brainio(root / "assy.nc", np.random.default_rng(0).normal(size=(len(stim), 2, 1)),
                  {"stimulus_id": [ids[i] for i in stim], "object_name": [f"o{i % 2}" for i in stim],
                   "repetition": np.tile(np.arange(3), n_stim)},
                  {"neuroid_id": ["n0", "n1"], "region": ["IT", "IT"]}, [(70, 170)])
    d = {"assembly": "assy.nc", "stimulus_set": "stim.csv", "stimuli_dir": "images", "regions": ["IT"],
         "visual_degrees": 8, "time_window": [70, 170], "stratification": "object_name", **manifest}
    (root / "m.json").write_text(json.dumps(d))
    return root / "m.json"


@pytest.fixture(scope="module")
def neural(tmp_path_factory) -> Path:
    return small_neural(tmp_path_factory.mktemp("neural"))


def with_fields(manifest: Path, tmp_path: Path, **fields) -> Path:
    """A copy of ``manifest`` beside it (its files are relative to it) with ``fields`` replaced."""
    d = json.loads(manifest.read_text())
    d.update(fields)
    bad = manifest.parent / f"bad-{tmp_path.name}.json"
    bad.write_text(json.dumps(d))
    return bad


@pytest.fixture(scope="module")
def lamem_non_utf8(tmp_path_factory) -> Path:
    return build_lamem(tmp_path_factory.mktemp("lamem") / NON_UTF8, 48, image_size=16, n_splits=1)


# ------------------------------------------------------------------------ 1. a non-UTF-8 data root name

def test_non_utf8_data_root_is_checked_and_scored(toy, lamem_non_utf8):
    r = cli_ok(["data", "check", "lamem", "--data-root", str(lamem_non_utf8)])
    assert "images: 48" in r.output
    report = r.output.split("\n", 1)[1]  # the first line names the (non-UTF-8) root
    assert not any(c in report for c in "{}[]'") and "True" not in report and "False" not in report  # no reprs
    assert "\n  split ids: 1\n" in report and "images checked: yes" in report
    r = cli_ok(["score", "-m", "tiny-cnn", "-b", "lamem-pls", "--weights", "none", "--data-root",
                str(lamem_non_utf8), "--benchmark-args", "splits=1,pca=0", "--no-progress", "--format", "json"])
    score = json.loads(r.stdout)
    assert score["meta"]["data"]["root"] == str(lamem_non_utf8) and np.isfinite(score["value"])


def test_missing_non_utf8_data_root_is_one_line(tmp_path):
    cli_fails(["data", "check", "lamem", "--data-root", str(tmp_path / NON_UTF8)], "does not exist")


# ------------------------------------------------------------ 2. manifest fields of the wrong type/range

@pytest.mark.parametrize("field, value, expected", [
    ("visual_degrees", 0, "> 0"),
    ("visual_degrees", -8, "> 0"),
    ("visual_degrees", "eight", "a number"),
    ("assembly", 5, "a file name (string)"),
    ("regions", "IT", "list of region names"),
    ("time_window", [170, 70], "start < end"),
])
def test_manifest_field_of_the_wrong_type_names_file_and_field(neural, tmp_path, field, value, expected):
    bad = with_fields(neural, tmp_path, **{field: value})
    line = cli_fails(["data", "check", str(bad)], bad, repr(field), expected)
    assert "--data-root" not in line


def test_manifest_error_in_a_run_names_the_manifest_not_data_root(toy, neural, tmp_path):
    """`score` reads the manifest while planning: the line names it (it used to say 'cannot read its data at
    None … check --data-root')."""
    bad = with_fields(neural, tmp_path, visual_degrees="eight")
    line = cli_fails(["score", "-m", "tiny-cnn", "-b", "neural-it", "--weights", "none", "--benchmark-args",
                      f"dataset={bad}", "--no-progress"], bad, "'visual_degrees'", "a number")
    assert "at None" not in line and "--data-root" not in line
    bad = with_fields(neural, tmp_path, visual_degrees=0)
    cli_fails(["score", "-m", "tiny-cnn", "-b", "neural-it", "--weights", "none", "--benchmark-args",
               f"dataset={bad}", "--no-progress"], bad, "'visual_degrees'", "> 0")


# ------------------------------------------------------------------ 3. predict: non-UTF-8 names and --out

@pytest.fixture
def one_output_ckpt(toy, tmp_path):
    import torch

    from memscore.api import load_model

    m = load_model("tiny-cnn", weights="none", seed=1)
    m.replace_head(1)
    path = tmp_path / "tiny.pt"
    torch.save(m.module.state_dict(), path)
    return path


def test_predict_non_utf8_names_are_written_as_their_bytes(one_output_ckpt, lamem_non_utf8, tmp_path):
    image = lamem_non_utf8 / "images" / "00000001.jpg"
    out = tmp_path / (NON_UTF8 + ".csv")
    r = cli_ok(["predict", "-m", "tiny-cnn", "--weights", str(one_output_ckpt), str(image), "--out", str(out),
                "--no-progress"])
    rows = out.read_bytes().splitlines()
    assert rows[0] == b"file,score" and rows[1].startswith(os.fsencode(image) + b",")
    assert "1 image(s) scored" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if ".tmp" in p.name) == []


def test_predict_out_in_missing_non_utf8_folder_is_one_line(one_output_ckpt, lamem_non_utf8, tmp_path):
    image = lamem_non_utf8 / "images" / "00000001.jpg"
    cli_fails(["predict", "-m", "tiny-cnn", "--weights", str(one_output_ckpt), str(image), "--out",
               str(tmp_path / NON_UTF8 / "p.csv"), "--no-progress"], "does not exist")


# ----------------------------------------------------------- 4. a plugin factory string that names nothing

class _BadFactories:
    from memscore import hookimpl

    @hookimpl
    def register_models(self, register):
        register("kit-no-module", "no_such_module_xyz:build")
        register("kit-no-colon", "memscore.model")
        register("kit-no-attr", "memscore.model:no_such_factory")

    @hookimpl
    def register_benchmarks(self, register):
        register("kit-no-module-bench", "no_such_module_xyz:Bench")


@pytest.fixture
def bad_factories():
    from memscore.pluginmanager import get_plugins

    get_plugins(reload=True).add("kit-badfac", _BadFactories())
    yield
    get_plugins(reload=True)


@pytest.mark.parametrize("name, factory, why", [
    ("kit-no-module", "no_such_module_xyz:build", "cannot be imported"),
    ("kit-no-colon", "memscore.model", "not 'module:attr'"),
    ("kit-no-attr", "memscore.model:no_such_factory", "has no 'no_such_factory'"),
])
def test_bad_factory_string_is_one_line(bad_factories, name, factory, why):
    cli_fails(["layers", name], "'kit-badfac'", repr(name), repr(factory), why)


def test_bad_benchmark_factory_and_listing(bad_factories):
    cli_fails(["score", "-m", "resnet18", "-b", "kit-no-module-bench", "--weights", "none"],
              "'kit-badfac'", "'kit-no-module-bench'", "no_such_module_xyz:Bench")
    r = cli_ok(["list", "benchmarks", "--details"])  # listing never fails on one plugin
    assert "kit-no-module-bench" in r.output


# ------------------------------------------------------------------------------- 5. SLURM not installed

def test_sweep_slurm_without_sbatch_is_one_line(tmp_path, monkeypatch):
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    line = cli_fails(["sweep", "--models", "resnet18", "--benchmarks", "lamem-pls", "--weights", "none",
                      "--executor", "slurm"], "sbatch", "--executor local")
    assert "SLURM" in line
    assert not (Path(os.environ["MEMSCORE_HOME"]) / "sweeps").exists()  # failed before planning anything


def test_sweep_slurm_without_submitit_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "submitit", None)  # as if not installed
    cli_fails(["sweep", "--models", "resnet18", "--benchmarks", "lamem-pls", "--executor", "slurm"],
              "submitit", "pip install 'memscore[slurm]'", "--executor local")


# ---------------------------------------------------- 6. --models @FILE that includes itself or never ends

def test_names_file_that_includes_itself_is_one_line(tmp_path):
    me = tmp_path / "models.txt"
    me.write_text(f"resnet18\n@{me}\n")
    cli_fails(["sweep", "--models", f"@{me}", "--benchmarks", "lamem-pls", "--dry-run"], me, "includes itself")
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text(f"@{b}\n")
    b.write_text(f"alexnet\n@{a}\n")
    cli_fails(["sweep", "--models", f"@{a}", "--benchmarks", "lamem-pls", "--dry-run"], a, b, "includes itself")


@pytest.mark.parametrize("item, kind", [("@/dev/zero", "character device"), ("@{fifo}", "FIFO")])
def test_names_file_that_never_ends_is_refused_unread(tmp_path, item, kind):
    """Refused before a byte is read (a FIFO would block the open, /dev/zero never end); run in a daemon thread
    so that a regression fails the test instead of hanging it (the read is bounded besides)."""
    fifo = tmp_path / "names.fifo"
    os.mkfifo(fifo)
    box = {}
    t = threading.Thread(target=lambda: box.update(r=CliRunner().invoke(main, [
        "sweep", "--models", item.format(fifo=fifo), "--benchmarks", "lamem-pls", "--dry-run"])), daemon=True)
    t.start()
    t.join(20)
    assert not t.is_alive(), "reading the list of names blocked"
    r = box["r"]
    assert r.exit_code == 2 and isinstance(r.exception, SystemExit) and "Traceback" not in r.output, r.output
    line = one_error_line(r.stderr)
    assert kind in line and "cannot read this list of names" in line


def test_names_file_too_large_or_binary_is_one_line(tmp_path):
    from memscore.names import MAX_NAMES_FILE

    big = tmp_path / "big.txt"
    big.write_bytes(b"resnet18\n" * (MAX_NAMES_FILE // 9 + 1))
    cli_fails(["sweep", "--models", f"@{big}", "--benchmarks", "lamem-pls", "--dry-run"], big, "larger than")
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"\xff\xfe\x00\x01")
    cli_fails(["sweep", "--models", f"@{binary}", "--benchmarks", "lamem-pls", "--dry-run"], binary, "not UTF-8")


# ------------------------------------------------------------------- 7. a model too large for the image

def test_layers_at_an_image_size_too_small_is_one_line():
    cli_fails(["layers", "torchvision:squeezenet1_1", "--image-size", "8"], "'torchvision:squeezenet1_1'",
              "8x8 px", "larger image size", "224 px")


def test_score_at_an_image_size_too_small_is_one_line(lamem_non_utf8):
    cli_fails(["score", "-m", "torchvision:squeezenet1_1", "-b", "lamem-pls", "--weights", "none", "--data-root",
               str(lamem_non_utf8), "--benchmark-args", "image_size=8,splits=1", "--no-progress"],
              "'torchvision:squeezenet1_1'", "8x8 px", "larger image size")


# ------------------------------------------------------------------ 8. leaderboard --out not writable

@pytest.mark.parametrize("fmt, out", [("markdown", "/proc/forbidden/x.md"), ("table", "/proc/x.txt"),
                                      ("html", "/proc/forbidden/site")])
def test_leaderboard_out_not_writable_is_one_line(fmt, out):
    cli_fails(["leaderboard", "--format", fmt, "--out", out], out, "cannot write")


# ------------------------------------------------------------------------ 9. two demos in one folder

_HOLD = ("import sys, time\nfrom pathlib import Path\n"
         "from memscore_plugins.demo.command import _demo_lock\n"
         "with _demo_lock(Path(sys.argv[1])):\n"
         "    print('held', flush=True)\n"
         "    time.sleep(float(sys.argv[2]))\n")


def test_second_demo_in_a_folder_waits_for_the_first(tmp_path, capsys):
    """The demo holds a lock on its folder for its whole run; a second one there waits for it (saying so once),
    then reuses what the first built; it never builds into the same folder at the same time."""
    from memscore_plugins.demo.command import LOCK, MARKER, _check_out, _demo_lock

    out = tmp_path / "demo"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(out), "1.5"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        _check_out(out)  # the lock file alone does not make the folder a foreign one
        t0 = time.perf_counter()
        with _demo_lock(out):
            waited = time.perf_counter() - t0  # the first one held the folder 1.5 s after saying "held"
    finally:
        holder.wait(timeout=30)
    assert waited > 1.0, waited
    err = capsys.readouterr().err
    assert f"waiting for pid {holder.pid}" in err and str(out) in err
    assert [p.name for p in out.iterdir()] == [LOCK] and not (out / MARKER).exists()


# ----------------------------------------------------------------- 10. fine-tuned models and --weights

@pytest.fixture
def finetuned(toy):
    from memscore.api import load_model
    from memscore_plugins.benchmarks.finetune.store import export_finetuned

    m = load_model("tiny-cnn", weights="none", seed=1)
    m.replace_head(1)
    export_finetuned("tiny-cnn@lamem1", m.module.state_dict(),
                     {"base_model": "tiny-cnn", "train_hash": "0" * 16, "name": "tiny-cnn@lamem1", "split": 1})
    return "finetuned:tiny-cnn@lamem1"


def test_a_finetuned_model_scored_on_test_images_it_trained_on_is_marked(finetuned, tmp_path):
    """Fine-tuned on LaMem split 1 (train fitted, val for early stopping): on lamem-pls over splits 1 and 2,
    split 2's test set holds split 1's train images. The score says how many it saw, the board marks it; a
    random-init model is not marked."""
    from memscore.api import score
    from memscore.leaderboard import build_board
    from memscore_plugins.benchmarks.lamem.data import LaMem

    root = build_lamem(tmp_path / "lamem", 80, image_size=16, n_splits=2)
    kw = dict(data_root=str(root), progress=False, benchmark_args={"splits": "1,2", "pca": 0, "n_components": 4})
    s = score(finetuned, "lamem-pls", **kw)
    data = LaMem(root)
    seen = {n for p in ("train", "val") for n in data.read_part(p, 1).names}
    test = {n for k in (1, 2) for n in data.read_part("test", k).names}
    assert s.meta["saw_test_images"] == [{"data": "lamem", "split": 1, "parts": ["train", "val"],
                                          "test_images_seen": len(seen & test), "test_images": len(test)}]
    assert 0 < len(seen & test) < len(test)
    plain = score("tiny-cnn", "lamem-pls", weights="none", **kw)
    assert "saw_test_images" not in plain.meta
    board = build_board(benchmarks=["lamem-pls"])
    cells = {m["model"]: m["scores"]["lamem-pls"] for m in board["models"]}
    assert cells[finetuned]["saw_test"].startswith("trained on lamem split 1:") and cells["tiny-cnn"]["saw_test"] is None
    assert any(n.startswith("† marks 1 score") for n in board["notes"])
    assert 'class="saw"' in _site_index(board, tmp_path)


def _site_index(board, tmp_path) -> str:
    from memscore.board_html import write_site

    return write_site(board, tmp_path / "site").read_text()


def test_layers_of_a_finetuned_model_needs_no_weights_flag(finetuned):
    r = cli_ok(["layers", finetuned, "--json"])
    d = json.loads(r.stdout)
    assert d["model"] == finetuned and d["layers"] and d["weights"].endswith(".pt")


def test_weights_none_on_a_finetuned_model_says_what_is_wrong(finetuned):
    line = cli_fails(["layers", finetuned, "--weights", "none"], finetuned, "fine-tuned", "--weights none",
                     "base model tiny-cnn")
    assert "drop --weights" not in line


# ------------------------------------------------------------------------- 11. a damaged sweep.json

def test_sweep_status_all_lists_the_others_beside_a_damaged_one():
    from memscore.sweep import Pair, Sweep, SweepSpec, sweeps_dir

    spec = SweepSpec(models=["resnet18"], benchmarks=["lamem-pls"], weights="none")
    good = Sweep(spec, [Pair("resnet18", "lamem-pls", "k" * 64)], sweeps_dir() / spec.ident)
    good.save()
    bad = sweeps_dir() / "0123456789ab"
    bad.mkdir(parents=True)
    (bad / "sweep.json").write_text((good.folder / "sweep.json").read_text()[:40])  # truncated
    r = cli_ok(["sweep", "status", "--all"])
    lines = r.stdout.splitlines()
    assert len(lines) == 2, r.output
    assert any(ln.startswith(spec.ident) and "1 pending" in ln for ln in lines), r.output
    damaged = [ln for ln in lines if ln.startswith("0123456789ab")]
    assert len(damaged) == 1 and "damaged: " in damaged[0] and str(bad) in damaged[0]
    rows = {d["sweep"]: d for d in json.loads(cli_ok(["sweep", "status", "--all", "--json"]).stdout)}
    assert rows[spec.ident]["counts"]["pending"] == 1 and "not a readable sweep" in rows["0123456789ab"]["damaged"]


# ------------------------------------------------------------------- 12. data check on a neural manifest

def test_data_check_takes_a_manifest(neural):
    r = cli_ok(["data", "check", str(neural)])
    assert "IT: 2 sites, 40 stimuli, 120 presentations, 3 repetitions" in r.output
    r = cli_ok(["data", "check", "majajhong2015", "--data-root", str(neural), "--json"])
    assert json.loads(r.stdout)["regions"]["IT"].startswith("2 sites, 40 stimuli")


def test_data_check_manifest_faults_are_one_line(neural, tmp_path):
    cli_fails(["data", "check", str(tmp_path / "nothere.json")], tmp_path / "nothere.json", "does not exist")
    cli_fails(["data", "check", "/dev/null.json"], "/dev/null.json", "does not exist")
    cli_fails(["data", "check", str(neural), "--data-root", str(tmp_path)], "drop --data-root")
    broken = with_fields(neural, tmp_path, assembly="gone.nc")
    cli_fails(["data", "check", str(broken)], "gone.nc", str(neural.parent), "fix the manifest")


# ------------------------------------------------------------------------------------- 13. check-plugin

class _Clash:
    from memscore import hookimpl

    @hookimpl
    def register_models(self, register):
        register("resnet18", "memscore.model:Model", description="clashes with zoo's resnet18")


def _plugins_with_first(monkeypatch, name: str, obj) -> None:
    """All installed plugins, with ``obj`` loaded *first* (so the clash is recorded on the other plugin)."""
    import memscore.pluginmanager as pm

    plugins = pm.Plugins()
    plugins.add(name, obj)
    plugins.load_entry_points()
    monkeypatch.setattr(pm, "_PLUGINS", plugins)


def test_check_plugin_with_nothing_checked_exits_1(monkeypatch):
    _plugins_with_first(monkeypatch, "kit-clash", _Clash())
    r = CliRunner().invoke(main, ["check-plugin", "kit-clash"])
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    assert "meet the contract" not in r.output
    line = one_error_line(r.stderr)
    assert "nothing was checked" in line and "'resnet18'" in line and "registered by both" in line


_RELEASE = threading.Event()


def _never_returns(weights="default"):
    _RELEASE.wait(60)  # released at the end of the test (a daemon thread either way)
    raise RuntimeError("released")


class _Hang:
    from memscore import hookimpl

    @hookimpl
    def register_models(self, register):
        register("kit-hang", _never_returns, description="a factory that never returns")


def test_check_plugin_times_out_a_factory_that_never_returns(monkeypatch):
    import memscore.testing as t
    from memscore.pluginmanager import get_plugins

    real = t.model_checks  # an in-process plugin is invisible to the listing check's subprocess
    monkeypatch.setattr(t, "model_checks", lambda name, **kw: [(n, f) for n, f in real(name, **kw)
                                                               if n != "listing_is_torch_free"])
    get_plugins(reload=True).add("kit-hang-plugin", _Hang())
    try:
        t0 = time.perf_counter()
        r = CliRunner().invoke(main, ["check-plugin", "kit-hang-plugin", "--timeout", "0.5"])
        took = time.perf_counter() - t0
    finally:
        _RELEASE.set()
        get_plugins(reload=True)
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    assert took < 10, took  # one time limit, not one per check
    assert "FAIL   model kit-hang" in r.stdout
    assert "builds_without_weights: model 'kit-hang': its factory did not return within 0.5 s" in r.stdout
    assert "unknown_model_arg_is_one_line: skipped" in r.stdout
    assert "1 of 1 checked plugin entries failed" in one_error_line(r.stderr)


def test_check_model_timeout_in_the_python_api():
    """memscore.testing: a factory call past ``timeout`` is a failed check; the checks after it are skipped
    (the factory still runs in its daemon thread), not run into the same wait."""
    import memscore.testing as t

    release = threading.Event()

    def hang():
        release.wait(60)

    checks = [("first", lambda: t._timed("model 'x': its factory", 0.2, hang)), ("second", lambda: None)]
    try:
        with pytest.raises(t.CheckFailed) as e:
            t._run(checks, "model 'x'")
    finally:
        release.set()
    assert "first: model 'x': its factory did not return within 0.2 s" in str(e.value)
    assert "second: skipped (first did not return)" in str(e.value)
    assert t._timed("f", 5, lambda a, b=0: a + b, 1, b=2) == 3  # a call in time returns its value
    with pytest.raises(KeyError):  # and its exception, as it is
        t._timed("f", 5, lambda: {}["missing"])
