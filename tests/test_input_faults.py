"""A corpus of bad inputs: each ends in ONE line naming the file and the fix — no traceback, no hang,
nothing silently wrong.

LaMem trees (symlink loops, FIFOs, devices, folders where files belong, long / escaping / non-UTF-8 names,
bad scores, duplicates, undecodable images) go through ``memscore data check lamem``; neural stimulus
CSVs through the Python API; ``memscore predict --out`` and ``--weights`` through the CLI with the
``tiny-cnn`` toy model. Cases that could block or read forever if a guard regressed (a FIFO, /dev/zero)
run in a subprocess with a timeout and a memory limit.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from finetune_toy import toy  # noqa: F401 (toy is a fixture)
from cli_checks import cli_fails, one_error_line  # noqa: F401
from lamem_fixture import build_lamem

from memscore.cli import main
from memscore.errors import DataError, MemscoreError

N_IMAGES = 12


# --------------------------------------------------------------------------------------------- helpers

@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    return build_lamem(tmp_path_factory.mktemp("faults_lamem"), N_IMAGES, image_size=16, n_splits=1)


@pytest.fixture
def tree(pristine, tmp_path):
    """A fresh copy (images hard-linked, split files copied) that a test may break."""
    root = tmp_path / "lamem"
    shutil.copytree(pristine / "images", root / "images", copy_function=os.link)
    shutil.copytree(pristine / "splits", root / "splits")
    return root


def check(root: Path, *names: str, extra: tuple[str, ...] = ()) -> str:
    return cli_fails(["data", "check", "lamem", "--data-root", str(root), *extra], *names)


def first_line(path: Path) -> tuple[str, str]:
    name, score = path.read_text().splitlines()[0].split()
    return name, score


def set_line(path: Path, lineno: int, text: str | bytes) -> None:
    lines = path.read_bytes().splitlines()
    lines[lineno - 1] = text if isinstance(text, bytes) else text.encode()
    path.write_bytes(b"".join(x + b"\n" for x in lines))


def replace_image(tree: Path, name: str) -> Path:
    p = tree / "images" / name
    p.unlink()  # a hard link: never write through it
    return p


# --------------------------------------------------------------------------- LaMem: one line each (CLI)

def _split_loop(t):
    p = t / "splits" / "train_1.txt"
    p.unlink()
    p.symlink_to(p.name)
    return [p, "symlink loop"]


def _split_is_folder(t):
    p = t / "splits" / "test_1.txt"
    p.unlink()
    p.mkdir()
    return [p, "folder"]


def _split_broken_symlink(t):
    p = t / "splits" / "val_1.txt"
    p.unlink()
    p.symlink_to(t / "nowhere.txt")
    return [p, "broken symlink"]


def _splits_folder_loop(t):
    shutil.rmtree(t / "splits")
    (t / "splits").symlink_to("splits")
    return [t / "splits", "symlink loop"]


def _images_folder_loop(t):
    shutil.rmtree(t / "images")
    (t / "images").symlink_to("images")
    return [t / "images", "symlink loop"]


def _images_folder_is_file(t):
    shutil.rmtree(t / "images")
    (t / "images").write_text("not a folder\n")
    return [t / "images", "not a folder"]


def _root_is_file(t):
    f = t.parent / "lamem.txt"
    f.write_text("x")
    return {"root": f, "names": [f, "not a folder"]}


def _image_loop(t):
    name, _ = first_line(t / "splits" / "train_1.txt")
    p = replace_image(t, name)
    p.symlink_to(p.name)
    return [name, "symlink loop", t / "splits" / "train_1.txt"]


def _image_is_folder(t):
    name, _ = first_line(t / "splits" / "test_1.txt")
    replace_image(t, name).mkdir()
    return [name, "a folder", t / "splits" / "test_1.txt"]


def _image_broken_symlink(t):
    name, _ = first_line(t / "splits" / "val_1.txt")
    replace_image(t, name).symlink_to(t / "gone.jpg")
    return [name, "broken symlink", t / "splits" / "val_1.txt"]


def _image_missing(t):
    name, _ = first_line(t / "splits" / "train_1.txt")
    replace_image(t, name)
    return [name, "missing", t / "splits" / "train_1.txt"]


def _long_image_name(t):
    p = t / "splits" / "train_1.txt"
    set_line(p, 2, "L" * 5000 + ".jpg 0.500000")
    return {"names": [p, "…", ".jpg"], "max_len": 1200}


def _long_escaping_name(t):
    p = t / "splits" / "train_1.txt"
    set_line(p, 3, "../" + "E" * 4000 + ".jpg 0.500000")
    return {"names": [f"{p}:3", "escapes", "…"], "max_len": 1200}


def _escaping_name(t):
    p = t / "splits" / "val_1.txt"
    set_line(p, 1, "../../etc/passwd 0.500000")
    return [f"{p}:1", "escapes"]


def _absolute_name(t):
    p = t / "splits" / "test_1.txt"
    set_line(p, 2, "/etc/passwd 0.500000")
    return [f"{p}:2", "escapes", "absolute"]


def _nul_in_name(t):
    p = t / "splits" / "test_1.txt"
    set_line(p, 1, b"a\x00b.jpg 0.500000")
    return [f"{p}:1", "NUL"]


def _non_utf8(t):
    p = t / "splits" / "train_1.txt"
    set_line(p, 4, b"\xff\xfe\xfa.jpg 0.500000")
    return [f"{p}:4", "UTF-8"]


def _empty_split(t):
    p = t / "splits" / "val_1.txt"
    p.write_bytes(b"")
    return [p, "empty"]


def _blank_split(t):
    p = t / "splits" / "val_1.txt"
    p.write_text("\n\n  \n")
    return [p, "empty"]


def _score(value):
    def make(t):
        p = t / "splits" / "train_1.txt"
        name, _ = first_line(p)
        set_line(p, 1, f"{name} {value}")
        return [f"{p}:1", name]
    return make


def _duplicate(t):
    p = t / "splits" / "train_1.txt"
    lines = p.read_text().splitlines()
    lines[5] = lines[0].split()[0] + " 0.250000"
    p.write_text("\n".join(lines) + "\n")
    return [f"{p}:6", "duplicate", "line 1"]


def _malformed(t):
    p = t / "splits" / "test_1.txt"
    set_line(p, 2, "just-a-name.jpg")
    return [f"{p}:2", "malformed"]


def _overlap(t):
    train, val = t / "splits" / "train_1.txt", t / "splits" / "val_1.txt"
    name, _ = first_line(train)
    val.write_text(val.read_text() + f"{name} 0.500000\n")
    return [train, val, name]


def _no_split_files(t):
    for p in (t / "splits").iterdir():
        p.unlink()
    return [t / "splits", "no LaMem split files"]


LAMEM_CASES = {
    "split-file-symlink-loop": _split_loop,
    "split-file-is-a-folder": _split_is_folder,
    "split-file-broken-symlink": _split_broken_symlink,
    "splits-folder-symlink-loop": _splits_folder_loop,
    "images-folder-symlink-loop": _images_folder_loop,
    "images-folder-is-a-file": _images_folder_is_file,
    "root-is-a-file": _root_is_file,
    "image-symlink-loop": _image_loop,
    "image-is-a-folder": _image_is_folder,
    "image-broken-symlink": _image_broken_symlink,
    "image-missing": _image_missing,
    "long-image-name": _long_image_name,
    "long-escaping-name": _long_escaping_name,
    "escaping-name": _escaping_name,
    "absolute-name": _absolute_name,
    "nul-in-name": _nul_in_name,
    "non-utf8-bytes": _non_utf8,
    "empty-split-file": _empty_split,
    "blank-split-file": _blank_split,
    "score-nan": _score("nan"),
    "score-inf": _score("inf"),
    "score-minus-inf": _score("-inf"),
    "score-out-of-range": _score("1.5"),
    "score-not-a-number": _score("high"),
    "duplicate-in-one-file": _duplicate,
    "malformed-line": _malformed,
    "parts-overlap": _overlap,
    "no-split-files": _no_split_files,
}


@pytest.mark.parametrize("case", sorted(LAMEM_CASES))
def test_lamem_fault_is_one_line(tree, case):
    spec = LAMEM_CASES[case](tree)
    spec = spec if isinstance(spec, dict) else {"names": spec}
    line = check(spec.get("root", tree), *spec["names"])
    assert len(line) <= spec.get("max_len", 2000), len(line)


@pytest.mark.parametrize("case", ["image-symlink-loop", "image-is-a-folder", "split-file-symlink-loop",
                                  "non-utf8-bytes", "score-nan", "duplicate-in-one-file"])
def test_lamem_fault_through_the_api(tree, case):
    """The same faults from Python: a DataError with one line (reading split 1, images checked)."""
    from memscore_plugins.benchmarks.lamem.data import LaMem

    names = LAMEM_CASES[case](tree)
    with pytest.raises(DataError) as e:
        LaMem(tree).split(1)
    msg = str(e.value)
    assert "\n" not in msg
    for n in names:
        assert str(n) in msg, (n, msg)


def test_image_in_a_subfolder_that_is_a_folder(tree):
    (tree / "images" / "sub" / "x.jpg").mkdir(parents=True)
    p = tree / "splits" / "val_1.txt"
    p.write_text(p.read_text() + "sub/x.jpg 0.500000\n")
    check(tree, "sub/x.jpg", "a folder", p)


# ------------------------------------------------------------ LaMem: things that must not block or read

_LIMIT = ("import resource, sys\n"  # a regression reading /dev/zero dies of its memory limit, not the machine
          "resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))\n")
_CLI = ("from memscore.cli import main\n"
        "sys.argv = ['memscore', 'data', 'check', 'lamem', '--data-root', sys.argv[1]]\n"
        "main()\n")


def _run_isolated(root: Path, code: str = _CLI) -> subprocess.CompletedProcess:
    """Run ``code`` (root in sys.argv[1]) in a subprocess: a hang is a timeout, not a stuck test run."""
    return subprocess.run([sys.executable, "-c", _LIMIT + code, str(root)], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})


def _fifo_split(t):
    p = t / "splits" / "val_1.txt"
    p.unlink()
    os.mkfifo(p)
    return p, "FIFO"


def _dev_zero_split(t):
    p = t / "splits" / "train_1.txt"
    p.unlink()
    p.symlink_to("/dev/zero")
    return p, "character device"


def _fifo_image(t):
    name, _ = first_line(t / "splits" / "test_1.txt")
    os.mkfifo(replace_image(t, name))
    return name, "FIFO"


@pytest.mark.parametrize("make", [_fifo_split, _dev_zero_split, _fifo_image], ids=["fifo-split", "dev-zero-split",
                                                                                  "fifo-image"])
def test_special_files_are_refused_without_reading(tree, make):
    name, kind = make(tree)
    p = _run_isolated(tree)
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert "Traceback" not in p.stderr
    line = one_error_line(p.stderr)
    assert str(name) in line and kind in line, line


@pytest.mark.parametrize("make", [_fifo_split, _dev_zero_split], ids=["fifo-split", "dev-zero-split"])
def test_read_part_refuses_special_files(tree, make):
    """read_part goes straight to the file (no check() first): it too must refuse without blocking."""
    name, kind = make(tree)
    part = "val" if "val_" in str(name) else "train"
    api = ("from memscore_plugins.benchmarks.lamem.data import LaMem\n"
           "from memscore.errors import DataError\n"
           "try:\n"
           f"    LaMem(sys.argv[1]).read_part({part!r}, 1, check_images=False)\n"
           "except DataError as e:\n"
           "    print(e, file=sys.stderr); sys.exit(3)\n")
    p = _run_isolated(tree, api)
    assert p.returncode == 3, (p.stdout, p.stderr)
    assert str(name) in p.stderr and kind in p.stderr and "\n" not in p.stderr.strip()


# --------------------------------------------------------------------- LaMem: --decode failures exit 1

def _corrupt_one(tree: Path) -> Path:
    name, _ = first_line(tree / "splits" / "test_1.txt")
    p = replace_image(tree, name)
    p.write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    return p


def test_decode_failure_exits_nonzero_with_the_report(tree):
    bad = _corrupt_one(tree)
    r = CliRunner().invoke(main, ["data", "check", "lamem", "--data-root", str(tree), "--decode"])
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert f"undecodable {bad}:" in r.stdout and "splits:" in r.stdout  # the report is still printed
    line = one_error_line(r.stderr)
    assert "1 image(s) cannot be decoded" in line and str(bad) in line


def test_decode_failure_json_still_exits_nonzero(tree):
    bad = _corrupt_one(tree)
    r = CliRunner().invoke(main, ["data", "check", "lamem", "--data-root", str(tree), "--decode", "--json"])
    assert r.exit_code == 1
    report = json.loads(r.stdout)
    assert [b["path"] for b in report["bad_images"]] == [str(bad)]
    assert str(bad) in one_error_line(r.stderr)


def test_clean_tree_with_decode_exits_zero(tree):
    r = CliRunner().invoke(main, ["data", "check", "lamem", "--data-root", str(tree), "--decode"])
    assert r.exit_code == 0, r.output
    assert r.stderr.strip() == "" or "error" not in r.stderr


# ------------------------------------------------------------------------ neural: stimulus file names

def _neural(root: Path, filenames: dict[str, str] | None = None) -> Path:
    """A 4-stimulus BrainIO data set (IT only) with a manifest; ``filenames`` overrides CSV entries."""
    from neural_fixture import write_brainio
    from PIL import Image

    (root / "images").mkdir(parents=True)
    ids = [f"s{i}" for i in range(4)]
    rng = np.random.default_rng(0)
    for sid in ids:
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8), "RGB").save(root / "images" / f"{sid}.png")
    names = {sid: f"{sid}.png" for sid in ids} | (filenames or {})
    (root / "stimuli.csv").write_text("stimulus_id,filename,object_name\n"
                                      + "".join(f"{s},{names[s]},obj{i % 2}\n" for i, s in enumerate(ids)))
    stim = np.repeat(np.arange(4), 2)
    write_brainio(root / "assy.nc", rng.normal(size=(8, 3, 1)).astype(np.float32),
                  {"stimulus_id": [ids[i] for i in stim], "repetition": np.tile([0, 1], 4),
                   "object_name": [f"obj{i % 2}" for i in stim]},
                  {"neuroid_id": ["a", "b", "c"], "region": ["IT"] * 3}, [(70, 170)])
    manifest = {"identifier": "faults", "assembly": "assy.nc", "stimulus_set": "stimuli.csv",
                "stimuli_dir": "images", "regions": ["IT"], "visual_degrees": 8, "time_window": [70, 170],
                "stratification": "object_name"}
    (root / "neural.json").write_text(json.dumps(manifest))
    return root / "neural.json"


def test_neural_fixture_loads(tmp_path):
    from memscore_plugins.benchmarks.neural.data import load_region

    rd = load_region("IT", dataset=str(_neural(tmp_path / "n")))
    assert len(rd) == 4 and all(Path(p).is_file() for p in rd.stimuli.paths)


@pytest.mark.parametrize("entry, why", [
    ("../outside.png", "'..'"),
    ("images/../../outside.png", "'..'"),
    ("{abs}", "absolute"),
    ("..\\outside.png", "'..'"),
    ("..", "not a file name"),
], ids=["dotdot", "dotdot-inside", "absolute", "windows-dotdot", "bare-dotdot"])
def test_neural_stimulus_path_must_stay_inside(tmp_path, entry, why):
    from memscore_plugins.benchmarks.neural.data import load_region

    outside = tmp_path / "outside.png"  # exists: an escape would otherwise succeed silently
    shutil.copy(Path(__file__), outside)
    entry = entry.format(abs=outside)
    manifest = _neural(tmp_path / "n", {"s2": entry})
    with pytest.raises(DataError) as e:
        load_region("IT", dataset=str(manifest))
    msg = str(e.value)
    assert "\n" not in msg
    assert str(tmp_path / "n" / "stimuli.csv") in msg and repr(entry) in msg and "s2" in msg and why in msg


def test_neural_stimulus_that_is_a_folder(tmp_path):
    from memscore_plugins.benchmarks.neural.data import load_region

    manifest = _neural(tmp_path / "n", {"s1": "sub"})
    (tmp_path / "n" / "images" / "sub").mkdir()
    with pytest.raises(DataError) as e:
        load_region("IT", dataset=str(manifest))
    msg = str(e.value)
    assert "\n" not in msg and str(tmp_path / "n" / "images" / "sub") in msg and "a folder" in msg
    assert str(tmp_path / "n" / "stimuli.csv") in msg


# ------------------------------------------------------------------------------ predict: --out checks

@pytest.fixture(scope="module")
def image(tmp_path_factory):
    from PIL import Image

    p = tmp_path_factory.mktemp("predict_in") / "a.jpg"
    Image.fromarray(np.full((24, 24, 3), 128, np.uint8), "RGB").save(p, "JPEG")
    return p


def test_out_folder_missing_is_caught_before_the_model(image, tmp_path):
    out = tmp_path / "no" / "such" / "dir" / "p.csv"
    # the model name is unknown: only a check that runs first can report the folder
    line = cli_fails(["predict", "-m", "no-such-model", str(image), "--out", str(out)], "--out", out.parent,
                     "does not exist")
    assert "no-such-model" not in line


def test_out_is_a_folder(image, tmp_path):
    cli_fails(["predict", "-m", "no-such-model", str(image), "--out", str(tmp_path)], tmp_path, "is a folder")


def test_out_parent_is_a_file(image, tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("x")
    cli_fails(["predict", "-m", "no-such-model", str(image), "--out", str(f / "p.csv")], f, "not a folder")


def test_out_folder_not_writable_proc(image):
    cli_fails(["predict", "-m", "no-such-model", str(image), "--out", "/proc/memscore-faults.csv"],
              "/proc", "cannot write")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores folder permissions")
def test_out_folder_read_only(image, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        cli_fails(["predict", "-m", "no-such-model", str(image), "--out", str(ro / "p.csv")], ro, "cannot write")
    finally:
        ro.chmod(0o700)


# -------------------------------------------------------------------- predict: weights and atomic write

@pytest.fixture
def ckpt(toy, tmp_path):
    """A one-output tiny-cnn state dict saved with torch.save: (path, state)."""
    import torch

    from memscore.api import load_model

    m = load_model("tiny-cnn", weights="none", seed=1)
    m.replace_head(1)
    state = {k: v.detach().clone() for k, v in m.module.state_dict().items()}
    path = tmp_path / "tiny.pt"
    torch.save(state, path)
    return path, state


@pytest.mark.parametrize("key, value, what", [("fc.weight", float("nan"), "NaN"),
                                              ("features.0.bias", float("inf"), "infinite"),
                                              ("features.1.running_var", float("-inf"), "infinite")])
def test_predict_refuses_non_finite_weights(ckpt, image, tmp_path, key, value, what):
    import torch

    path, state = ckpt
    state[key].view(-1)[0] = value
    bad = tmp_path / "bad weights.pt"
    torch.save(state, bad)
    out = tmp_path / "p.csv"
    cli_fails(["predict", "-m", "tiny-cnn", "--weights", str(bad), str(image), "--out", str(out),
               "--no-progress"], bad, repr(key), what)
    assert not out.exists()


def test_load_model_refuses_non_finite_weights(toy, tmp_path):
    """The model plugins' own loading (memscore.weights.read_state_dict) checks too."""
    import torch

    from memscore.api import load_model

    m = load_model("tiny-cnn", weights="none", seed=1)
    state = m.module.state_dict()
    state["features.3.weight"][0, 0, 0, 0] = float("nan")
    bad = tmp_path / "nan.pt"
    torch.save(state, bad)
    with pytest.raises(MemscoreError) as e:
        load_model("tiny-cnn", weights=str(bad))
    msg = str(e.value)
    assert "\n" not in msg and str(bad) in msg and "'features.3.weight'" in msg and "NaN" in msg


def test_weights_that_are_a_fifo(toy, image, tmp_path):
    fifo = tmp_path / "w.pt"
    os.mkfifo(fifo)
    cli_fails(["predict", "-m", "tiny-cnn", "--weights", str(fifo), str(image), "--no-progress"], fifo, "FIFO")


def test_out_written_atomically_with_an_odd_name(ckpt, image, tmp_path):
    path, _ = ckpt
    folder = tmp_path / "res ü'lts"
    folder.mkdir()
    out = folder / "pred ïctions \"x\" ;$(echo).csv"
    out.write_text("old content\n")
    r = CliRunner().invoke(main, ["predict", "-m", "tiny-cnn", "--weights", str(path), str(image), "--out", str(out),
                                  "--no-progress"])
    assert r.exit_code == 0, r.output
    rows = out.read_text().splitlines()
    assert rows[0] == "file,score" and len(rows) == 2 and rows[1].startswith(str(image))
    assert sorted(p.name for p in folder.iterdir()) == [out.name]  # no temp file left


def test_no_readable_image_leaves_out_untouched(ckpt, tmp_path):
    path, _ = ckpt
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    out = tmp_path / "p.csv"
    out.write_text("old\n")
    r = CliRunner().invoke(main, ["predict", "-m", "tiny-cnn", "--weights", str(path), str(bad), "--out", str(out),
                                  "--no-progress"])
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert out.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir() if ".tmp" in p.name) == []
    errors = [x for x in r.stderr.splitlines() if x.startswith("error:")]
    assert len(errors) == 1 and f"skipped {bad}:" in r.stderr


def test_fifo_among_the_images_is_skipped_and_named(ckpt, image, tmp_path):
    path, _ = ckpt
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    r = CliRunner().invoke(main, ["predict", "-m", "tiny-cnn", "--weights", str(path), str(image), str(fifo),
                                  "--no-progress"])
    assert r.exit_code == 0, r.output
    assert f"skipped {fifo}: not an image file: it is a FIFO" in r.stderr
    assert "1 image(s) scored, 1 unreadable image(s) skipped" in r.stderr
