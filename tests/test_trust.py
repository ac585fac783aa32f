"""A score is keyed by the data it was computed on; caches that are damaged are recomputed, never used.

Planted and shuffled LaMem trees in one home give their own values; a copy of a tree elsewhere is served
from the store; one changed score line or one replaced image is recomputed; `lamem-it` never takes its
IT layer from a `neural-it` run on other recordings; damaged cache files give the undamaged result.
"""
from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

import memscore
from lamem_fixture import build_lamem

MODEL = "torchvision:resnet18"
SIZE = 32
LAYERS = "layer1.0+layer2.0+layer3.0+avgpool"


def run(root, force=False, **bargs):
    return memscore.score(MODEL, "lamem-pls", weights="none", data_root=root, batch_size=100, progress=False,
                          device="cpu", force=force,
                          benchmark_args={"image_size": SIZE, "splits": "1,2", "layers": LAYERS, "pca": 50,
                                          **bargs})


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    base = tmp_path_factory.mktemp("trust")
    return {"planted": build_lamem(base / "planted", 240, image_size=40),
            "shuffled": build_lamem(base / "shuffled", 240, image_size=40, shuffled=True)}


def test_planted_and_shuffled_in_one_home_give_their_own_values(trees, tmp_path):
    planted = run(trees["planted"])
    shuffled = run(trees["shuffled"])  # same images, other split scores
    assert not shuffled.meta.get("from_store")
    assert planted.value > 0.5, planted.summary()
    assert abs(shuffled.value) < 0.3, shuffled.summary()
    assert planted.meta["data"]["fingerprint"] != shuffled.meta["data"]["fingerprint"]
    assert planted.meta["data"]["parts"]["images"] == shuffled.meta["data"]["parts"]["images"]
    assert planted.meta["data"]["counts"]["images"] == 240

    # the same data at another path: the stored score is reused
    copy = tmp_path / "elsewhere" / "lamem"
    shutil.copytree(trees["planted"], copy)
    again = run(copy)
    assert again.meta.get("from_store") and again.value == planted.value
    assert again.meta["run_id"] == planted.meta["run_id"]

    # one changed score line in a split file in use: recomputed
    f = copy / "splits" / "test_2.txt"
    lines = f.read_text().splitlines()
    name, score = lines[0].split()
    lines[0] = f"{name} {float(score) + 0.025:.6f}"
    f.write_text("\n".join(lines) + "\n")
    changed = run(copy)
    assert not changed.meta.get("from_store")
    assert changed.meta["data"]["fingerprint"] != planted.meta["data"]["fingerprint"]
    assert changed.meta["data"]["parts"]["train_1"] == planted.meta["data"]["parts"]["train_1"]
    assert changed.meta["data"]["parts"]["test_2"] != planted.meta["data"]["parts"]["test_2"]


def test_a_split_file_not_in_use_does_not_change_the_key(trees, tmp_path):
    copy = tmp_path / "lamem"
    shutil.copytree(trees["planted"], copy)
    first = run(copy)
    (copy / "splits" / "test_5.txt").write_text((copy / "splits" / "test_4.txt").read_text())
    assert run(copy).meta.get("from_store")  # splits 1,2 only
    assert first.meta["data"]["counts"] == run(copy).meta["data"]["counts"]


def test_an_image_replaced_in_place_is_recomputed_even_with_its_old_size_and_time(trees, tmp_path):
    copy = tmp_path / "lamem"
    shutil.copytree(trees["planted"], copy)
    first = run(copy)
    a, b = copy / "images" / "00000001.jpg", copy / "images" / "00000002.jpg"
    st = a.stat()
    data = bytearray(b.read_bytes())
    data = (data + bytes(max(0, st.st_size - len(data))))[: st.st_size]  # same size as a
    a.write_bytes(bytes(data))
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns))  # and its old time stamps
    assert a.stat().st_size == st.st_size and a.stat().st_mtime_ns == st.st_mtime_ns
    second = run(copy)
    assert not second.meta.get("from_store")
    assert second.meta["data"]["parts"]["images"] != first.meta["data"]["parts"]["images"]


def test_old_rows_without_a_fingerprint_are_history_never_served(trees):
    from memscore.store import ResultStore

    first = run(trees["planted"])
    st = ResultStore()
    old = memscore.Score.from_dict({**first.to_dict(), "value": -1.0})
    old.meta = {k: v for k, v in first.meta.items() if k not in ("data", "run_id", "created", "key")}
    st.put(old, "an-old-form-key")  # as a release before data fingerprints stored it
    again = run(trees["planted"])
    assert again.meta.get("from_store") and again.value == first.value != -1.0
    assert any(s.value == -1.0 for s in st.query(all_versions=True))  # still visible as history


# --------------------------------------------------------------------------------- neural data
@pytest.fixture(scope="module")
def two_neural(tmp_path_factory):
    from memscore.api import load_model
    from neural_fixture import build_neural

    model = load_model(MODEL, weights="none", seed=0)
    base = tmp_path_factory.mktemp("neural")
    kw = dict(n_objects=4, per_object=12, n_sites=8, clean=4, noise=1.0, size=SIZE)
    return (build_neural(base / "a", model, seed=0, **kw), build_neural(base / "b", model, seed=1, **kw))


def _nargs(fx):
    return {"dataset": str(fx["manifest"]), "image_size": SIZE, "layers": LAYERS, "pca": 40}


def test_lamem_it_never_reuses_a_commitment_from_other_neural_data(two_neural, trees, tmp_path):
    a, b = two_neural

    def lamem_it(fx):
        return memscore.score(MODEL, "lamem-it", weights="none", data_root=trees["planted"], progress=False,
                              device="cpu", benchmark_args={"splits": "1,2", "image_size": SIZE, "pca": 50,
                                                            **{f"neural_{k}": v for k, v in _nargs(fx).items()}})

    first = lamem_it(a)
    second = lamem_it(b)
    ca, cb = first.meta["commitment"], second.meta["commitment"]
    assert not cb["from_store"], "the IT layer of data set b must come from a neural-it run on b"
    assert ca["data"]["fingerprint"] != cb["data"]["fingerprint"]
    assert ca["run_id"] != cb["run_id"]
    assert first.meta["data"]["parts"]["neural"] == ca["data"]["fingerprint"]
    assert second.meta["data"]["parts"]["neural"] == cb["data"]["fingerprint"]
    assert not second.meta.get("from_store")

    # the same recordings at another path: the commitment and the score come from the store
    moved = tmp_path / "moved"
    shutil.copytree(a["root"], moved)
    again = lamem_it({**a, "manifest": moved / "neural.json"})
    assert again.meta.get("from_store") and again.value == first.value


def test_assembly_replaced_behind_a_manifest_without_sha1_is_recomputed(two_neural, tmp_path):
    a, b = two_neural
    root = tmp_path / "n"
    shutil.copytree(a["root"], root)
    manifest = json.loads((root / "neural.json").read_text())
    manifest.pop("sha1")
    (root / "neural.json").write_text(json.dumps(manifest))
    kw = dict(weights="none", progress=False, device="cpu")
    first = memscore.score(MODEL, "neural-it", benchmark_args=_nargs({"manifest": root / "neural.json"}), **kw)
    shutil.copyfile(b["root"] / "assy.nc", root / "assy.nc")  # other recordings, same ids
    second = memscore.score(MODEL, "neural-it", benchmark_args=_nargs({"manifest": root / "neural.json"}), **kw)
    assert not second.meta.get("from_store")
    assert second.meta["data"]["parts"]["responses"] != first.meta["data"]["parts"]["responses"]
    assert second.meta["data"]["parts"]["stimuli"] == first.meta["data"]["parts"]["stimuli"]


# --------------------------------------------------------------------------------- caches heal
@pytest.fixture(scope="module")
def engine(trees):
    from memscore.api import load_model
    from memscore.stimuli import Stimuli

    model = load_model(MODEL, weights="none", seed=0)
    folder = trees["planted"] / "images"
    stimuli = Stimuli.from_folder(folder, limit=60)
    return model, stimuli


def _extract(model, stimuli, cache):
    from memscore.activations import Extractor

    ex = Extractor(model, n_components=20, reference=stimuli.subset(range(30)), batch_size=30, image_size=SIZE,
                   cache_dir=cache, progress=False, device="cpu")
    acts = ex.extract(stimuli, ["conv1", "layer1.0", "layer3.0", "avgpool"])
    return {n: np.array(acts[n]) for n in acts}, ex


def _damage(kind: str, cache):
    acts = sorted((cache / "activations").rglob("*.npy"))
    bases = sorted((cache / "pca").rglob("*.pt"))
    meta = next((cache / "activations").rglob("meta.json"))
    if kind == "truncated-array":
        with open(acts[0], "r+b") as f:
            f.truncate(acts[0].stat().st_size // 2)
    elif kind == "garbage-array":
        size = acts[1].stat().st_size
        acts[1].write_bytes(os.urandom(size))
    elif kind == "zeroed-rows":  # same size and header, other numbers
        arr = np.load(acts[0], mmap_mode="r+")
        arr[:] = 0
        arr.flush()
    elif kind == "wrong-shape-array":
        np.save(acts[0], np.zeros((5, 3), dtype=np.float32))
    elif kind == "missing-array":
        acts[0].unlink()
    elif kind == "garbage-meta":
        meta.write_text("{not json")
    elif kind == "meta-is-a-list":
        meta.write_text("[1, 2]")
    elif kind == "missing-meta":
        meta.unlink()
    elif kind == "truncated-basis":
        for f in acts:
            f.unlink()
        with open(bases[0], "r+b") as f:
            f.truncate(100)
    elif kind == "garbage-basis":
        for f in acts:
            f.unlink()
        bases[0].write_bytes(os.urandom(bases[0].stat().st_size))
    elif kind == "garbage-bases-record":
        for f in acts:
            f.unlink()
        next((cache / "pca").rglob("bases.json")).write_text("\0\0\0")
    elif kind == "stale-temp-files":
        for f in acts[:2]:
            f.with_name(f.name + ".tmp999999").write_bytes(b"half")
        acts[0].unlink()
    else:
        raise AssertionError(kind)


DAMAGE = ["truncated-array", "garbage-array", "zeroed-rows", "wrong-shape-array", "missing-array", "garbage-meta",
          "meta-is-a-list", "missing-meta", "truncated-basis", "garbage-basis", "garbage-bases-record",
          "stale-temp-files"]


@pytest.mark.parametrize("kind", DAMAGE)
def test_damaged_cache_files_are_recomputed_to_the_undamaged_result(engine, tmp_path, kind, capsys):
    model, stimuli = engine
    cache = tmp_path / "cache"
    clean, _ = _extract(model, stimuli, cache)
    _damage(kind, cache)
    capsys.readouterr()
    healed, ex = _extract(model, stimuli, cache)
    err = capsys.readouterr().err
    assert ex.passes >= 1, "the damage must be noticed and recomputed"
    for n in clean:
        np.testing.assert_allclose(healed[n], clean[n], rtol=1e-5, atol=1e-5)
    assert "Traceback" not in err
    if kind not in ("missing-array", "missing-meta", "stale-temp-files"):
        assert "memscore:" in err, "a damaged file is said in one line"
    assert not list(cache.rglob("*.tmp*")), "stale and failed temp files are removed"
    # and the healed cache is used as it is next time
    _, ex2 = _extract(model, stimuli, cache)
    assert ex2.passes == 0


def test_full_disk_is_one_line_before_any_map_is_written(engine, tmp_path, monkeypatch):
    import shutil as _shutil

    from memscore.atomic import DiskFullError

    model, stimuli = engine
    full = _shutil._ntuple_diskusage(total=10**9, used=10**9 - 1000, free=1000)
    monkeypatch.setattr(_shutil, "disk_usage", lambda p: full)
    with pytest.raises(DiskFullError, match=r"no space left in .*activations.* needs"):
        _extract(model, stimuli, tmp_path / "cache")
    assert not list((tmp_path / "cache").rglob("*.npy*"))


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs (root only; CI runs as root)."""
    import subprocess

    mnt = tmp_path / "small-disk"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)],
                                           capture_output=True).returncode:
        pytest.skip("mounting a tmpfs needs root")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_a_really_full_disk_ends_in_one_line_and_keeps_what_was_stored(engine, small_disk):
    from memscore.atomic import DiskFullError
    from memscore.stimuli import Stimuli

    model, stimuli = engine
    cache = small_disk / "cache"
    small = Stimuli(stimuli.ids[:40], stimuli.paths[:40])
    from memscore.activations import Extractor

    ex = Extractor(model, n_components=None, batch_size=40, image_size=SIZE, cache_dir=cache, progress=False,
                   device="cpu")
    kept = np.array(ex.extract(small, ["avgpool"])["avgpool"])  # 40 x 512 floats: fits
    with pytest.raises(DiskFullError, match=r"no space left in .*small-disk"):
        ex.extract(small, ["conv1"])  # 40 x 16,384 floats: does not
    assert not list(cache.rglob("*.tmp*"))
    again = Extractor(model, n_components=None, batch_size=40, image_size=SIZE, cache_dir=cache, progress=False,
                      device="cpu")
    np.testing.assert_array_equal(np.array(again.extract(small, ["avgpool"])["avgpool"]), kept)
    assert again.passes == 0
