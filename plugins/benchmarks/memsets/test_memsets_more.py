"""FIGRIM, SUN memorability and THINGS memorability in their real layouts, on small fixtures written in those
formats (a real MATLAB struct array written by scipy's savemat, real JPEGs, each set's quirks): scores read and
computed as the authors do, seeded splits stratified (FIGRIM, duplicate pairs together) or grouped (THINGS, by
concept), SUN's 25 official train/test splits with no val; every malformed file one line; `memscore data check`;
and each `<dataset>-pls` end to end on a tiny random-init model, recovering planted signal."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io as sio
from click.testing import CliRunner
from PIL import Image

import memscore
from memscore.errors import DataError, MemscoreError
from memscore_plugins.benchmarks.lamem.data import LaMem
from memscore_plugins.benchmarks.memsets.figrim import FIGRIM_DUPLICATES, Figrim, figrim_score
from memscore_plugins.benchmarks.memsets.sun import SunMemorability
from memscore_plugins.benchmarks.memsets.things import ThingsMemorability
from memscore_plugins.demo.synthetic import _image

SIZE = 40
FAST = {"image_size": SIZE, "pca": 30, "layers": "conv1+layer1.0.relu+layer4.1.relu"}
PARTS = ("train", "val", "test")


def _jpeg(path: Path, u: float, rng: np.random.Generator) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(_image(u, rng, SIZE), "RGB").save(path, "JPEG", quality=90)


def _sun_name(rng: np.random.Generator) -> str:
    return "sun_" + "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz"), 16)) + ".jpg"


# ------------------------------------------------------------------------------------------------ FIGRIM
FIGRIM_CATS = ("highway", "mountain", "conference_room")


def build_figrim(root: Path, n: int = 120, *, seed: int = 0) -> Path:
    """``image_data_targets.mat`` (struct array: filename, impath, category, amt1, amt2; counts as MATLAB stores
    them: doubles, a uint8) and ``Targets/<category>/<filename>``. HR follows the planted u. Quirks: two of the
    README's duplicate pairs (same picture, same u), every 10th target absent from AMT 2 (an empty field), the last
    one with no AMT 1 responses."""
    root = Path(root)
    rng = np.random.default_rng([seed, 11])
    u = rng.uniform(0.0, 1.0, n)
    names = [_sun_name(rng) for _ in range(n)]
    dup = [tuple(p.split("/")[1] for p in pair) for pair in FIGRIM_DUPLICATES]
    names[0], names[3] = dup[0]  # highway (i % 3 == 0)
    names[1], names[4] = dup[4]  # mountain (i % 3 == 1)
    u[3], u[4] = u[0], u[1]
    rec = np.zeros((1, n), dtype=[(f, "O") for f in ("filename", "impath", "category", "amt1", "amt2")])
    for i in range(n):
        cat = FIGRIM_CATS[i % 3]
        img = root / "Targets" / cat / names[i]
        if i in (3, 4):
            img.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(root / "Targets" / cat / names[i - 3], img)  # the duplicate: the same picture
        else:
            _jpeg(img, float(u[i]), rng)
        repeats, firsts = 40 + i % 7, 60 + i % 5
        hits = rng.binomial(repeats, 0.2 + 0.6 * u[i]) if i < n - 1 else 0
        counts = {"hits": float(hits), "misses": float(repeats - hits if i < n - 1 else 0),
                  "false_alarms": np.uint8(rng.binomial(firsts, 0.08)), "correct_rejections": float(firsts)}
        counts["correct_rejections"] -= float(counts["false_alarms"])
        hits2 = rng.binomial(30, 0.5)
        rec[0, i] = (names[i], f"/data/FIGRIM/Targets/{cat}/{names[i]}", cat, counts,
                     np.zeros((0, 0)) if i % 10 == 9 else
                     {"hits": float(hits2), "misses": float(30 - hits2), "false_alarms": 2.0,
                      "correct_rejections": 40.0})
    sio.savemat(root / "image_data_targets.mat", {"image_data_targets": rec})
    return root


@pytest.fixture(scope="module")
def figrim(tmp_path_factory):
    return build_figrim(tmp_path_factory.mktemp("figrim"))


def test_figrim_scores_are_the_authors_formulas():
    h, m, fa, cr = 30.0, 10.0, 5.0, 45.0
    assert figrim_score("HR", h, m, fa, cr) == 0.75 and figrim_score("FAR", h, m, fa, cr) == 0.1
    assert figrim_score("ACC", h, m, fa, cr) == 75 / 90 and figrim_score("CR", h, m, fa, cr) == pytest.approx(0.65)
    from scipy.stats import norm

    assert figrim_score("DPRIME", h, m, fa, cr) == pytest.approx(norm.ppf(0.75) - norm.ppf(0.1))
    # dprime.m: HR = 1 becomes 1 - 1/(2 * (hits + misses)); FAR = 0 becomes 1/(2 * (false alarms + rejections))
    assert figrim_score("DPRIME", 40, 0, 0, 50) == pytest.approx(norm.ppf(1 - 1 / 80) - norm.ppf(1 / 100))
    p = np.array([[cr, m], [fa, h]]) + 0.1  # calcMI.m: [[CR, misses], [FA, hits]] + 0.1
    p /= p.sum()
    mi = sum(p[i, j] * np.log(p[i, j] / (p[i].sum() * p[:, j].sum())) for i in range(2) for j in range(2))
    assert figrim_score("MI", h, m, fa, cr) == pytest.approx(mi)
    assert figrim_score("HR", 0, 0, 5, 45) is None and figrim_score("CR", 3, 1, 0, 0) is None


def test_figrim_reads_the_struct_array_and_splits_by_category(figrim):
    data = Figrim(figrim)
    names, scores, cats, groups = data.rows()
    raw = sio.loadmat(figrim / "image_data_targets.mat", simplify_cells=True)["image_data_targets"]
    r = raw[5]
    assert names[5] == f"{r['category']}/{r['filename']}" and data.image_path(names[5]).is_file()
    a = r["amt1"]
    assert scores[5] == a["hits"] / (a["hits"] + a["misses"])  # HR, within-category experiment
    assert len(names) == 119 and data.unscored == [f"{raw[-1]['category']}/{raw[-1]['filename']}"]
    cr = Figrim(figrim, score="CR").rows()[1]
    far = a["false_alarms"] / (a["false_alarms"] + a["correct_rejections"])
    assert cr[5] == pytest.approx(scores[5] - far)
    across = Figrim(figrim, experiment="amt2")  # every 10th target has no AMT 2 data: left out, counted
    assert len(across.rows()[0]) == 108 and len(across.unscored) == 12
    group = dict(zip(names, groups))
    assert group[FIGRIM_DUPLICATES[0][1]] == group[FIGRIM_DUPLICATES[0][0]] and len(set(groups)) == 117
    for k in range(1, 6):
        parts = {p: data.read_part(p, k) for p in PARTS}
        assert sorted(n for p in parts.values() for n in p.names) == sorted(names)
        for cat in FIGRIM_CATS:  # 70/10/20 % of each category's targets (a duplicate pair counts once)
            n_cat = len({g for g, c in zip(groups, cats) if c == cat})
            in_test = {group[n] for n in parts["test"].names if n.startswith(cat + "/")}
            assert len(in_test) == n_cat - round(0.7 * n_cat) - round(0.1 * n_cat)
        side = {n: p for p, part in parts.items() for n in part.names}
        assert side[FIGRIM_DUPLICATES[0][0]] == side[FIGRIM_DUPLICATES[0][1]]  # a duplicate pair: one side
        assert side[FIGRIM_DUPLICATES[4][0]] == side[FIGRIM_DUPLICATES[4][1]]
    assert data.read_part("test", 1).names != data.read_part("test", 2).names
    assert data.read_part("test", 1).names == Figrim(figrim).read_part("test", 1).names  # seeded
    report = data.check()
    assert report["images"] == 119 and report["unscored"] == 1 and report["duplicate pairs kept together"] == 2
    assert report["categories"] == {"conference_room": 39, "highway": 40, "mountain": 40}
    assert (Path(report["split files"]) / "val_5.txt").is_file()


def _figrim_fault(root: Path, edit) -> None:
    path = root / "image_data_targets.mat"
    rec = sio.loadmat(path)["image_data_targets"]
    edit(rec)
    sio.savemat(path, {"image_data_targets": rec})


def _v73(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[124:126] = b"\x00\x02"  # the version a MATLAB v7.3 (HDF5) file declares
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("fault, expected", [
    (lambda r, p: p.write_bytes(b"MATLAB? no, just text\n" * 20), "is not a MATLAB .mat file scipy can read"),
    (lambda r, p: _v73(p), "MATLAB v7.3 (HDF5)"),
    (lambda r, p: sio.savemat(p, {"targets": np.arange(3)}), "has no variable 'image_data_targets' (it has targets)"),
    (lambda r, p: sio.savemat(p, {"image_data_targets": np.zeros((1, 2), dtype=[("filename", "O"), ("amt1", "O")])}),
     "has no field category"),
    (lambda r, p: _figrim_fault(r, lambda a: a[0, 2]["amt1"][0, 0].__setitem__("hits", -3.0)), "is not a count"),
    (lambda r, p: _figrim_fault(r, lambda a: a[0, 2]["amt1"][0, 0].__setitem__("misses", 2.5)), "is not a count"),
    (lambda r, p: _figrim_fault(r, lambda a: a[0].__setitem__(7, a[0, 4])), "is listed twice (first at "),
    (lambda r, p: _figrim_fault(r, lambda a: a[0, 2].__setitem__("category", "../etc")),
     "not a plain file or folder name"),
    (lambda r, p: next((r / "Targets").rglob("*.jpg")).unlink(), "1 listed image(s) missing"),
    (lambda r, p: p.unlink(), "does not exist; download it from http://figrim.mit.edu"),
])
def test_a_malformed_figrim_file_is_one_line(tmp_path, fault, expected):
    root = build_figrim(tmp_path / "f", 12)
    fault(root, root / "image_data_targets.mat")
    with pytest.raises(DataError) as exc:
        Figrim(root).rows()
    assert expected in str(exc.value) and "\n" not in str(exc.value), str(exc.value)


# ----------------------------------------------------------------------------------------- SUN memorability
def build_sun(root: Path, n: int = 120, *, n_splits: int = 25, seed: int = 0) -> Path:
    """AMNet's copy: ``images/`` and ``splits/{train,test}_{1..25}.txt`` (no val), each split a random halving with
    its own scores (the participant halves). Quirks: CRLF line ends in one file, a trailing blank line in
    another."""
    root = Path(root)
    rng = np.random.default_rng([seed, 21])
    u = rng.uniform(0.0, 1.0, n)
    names = [_sun_name(rng) for _ in range(n)]
    for name, ui in zip(names, u):
        _jpeg(root / "images" / name, float(ui), rng)
    (root / "splits").mkdir()
    for k in range(1, n_splits + 1):
        order = rng.permutation(n)
        scores = np.round(np.clip(0.3 + 0.6 * u + 0.05 * rng.standard_normal(n), 0, 1) * 40) / 40
        for part, idx in (("train", order[: n // 2]), ("test", order[n // 2:])):
            end = "\r\n" if k == 2 else "\n"
            text = "".join(f"{names[i]} {scores[i]:.6f}{end}" for i in idx) + ("\n" if k == 3 else "")
            (root / "splits" / f"{part}_{k}.txt").write_bytes(text.encode())
    return root


@pytest.fixture(scope="module")
def sun(tmp_path_factory):
    return build_sun(tmp_path_factory.mktemp("sun"))


def test_sun_reads_25_train_test_splits_each_from_its_own_files(sun):
    data = SunMemorability(sun)
    assert data.split_ids() == list(range(1, 26)) and not data.has_val([1])
    line = (sun / "splits" / "test_7.txt").read_text().splitlines()[4].split()
    part = data.read_part("test", 7)
    assert part.names[4] == line[0] and part.scores[4] == float(line[1])  # split 7's own score
    train2 = data.read_part("train", 2)  # the CRLF file
    assert len(train2) == 60 and all(n.endswith(".jpg") for n in train2.names)
    other = {n: s for n, s in zip(data.read_part("train", 1).names, data.read_part("train", 1).scores)}
    assert any(other.get(n, s) != s for n, s in zip(part.names, part.scores))  # scores differ across split files
    report = data.check()
    assert report["split_ids"] == list(range(1, 26)) and report["images"] == 120
    assert report["splits"][25] == {"train": 60, "test": 60} and report["official_sizes"] is False


def test_sun_problems_are_one_line_and_lamems_words_are_unchanged(tmp_path, sun):
    root = tmp_path / "s"
    shutil.copytree(sun, root)
    with pytest.raises(DataError) as exc:
        SunMemorability(tmp_path / "nothere").check()
    assert str(exc.value) == (f"SUN memorability folder {tmp_path / 'nothere'} does not exist; download and unpack "
                              f"AMNet's SUN_memorability.zip (https://github.com/ok1zjf/AMNet), or point --data-root "
                              f"sun-memorability=PATH (or MEMSCORE_SUN_MEMORABILITY) at the folder that holds images/ "
                              f"and splits/")
    with pytest.raises(DataError) as exc:  # LaMem says what it always said
        LaMem(tmp_path / "nothere").check()
    assert str(exc.value) == (f"LaMem folder {tmp_path / 'nothere'} does not exist; run `memscore data fetch lamem`, "
                              f"or point --data-root / MEMSCORE_LAMEM at the folder that holds images/ and splits/")
    test3 = root / "splits" / "test_3.txt"
    lines = test3.read_text().splitlines()
    cases = [
        (lines[:2] + ["oops"] + lines[2:], ":3: malformed line 'oops'"),
        (lines + [lines[0]], "duplicate entry"),
        (lines + ["../../etc/passwd 0.5"], "escapes the images folder"),
        (lines + ["sun_notthere.jpg 0.5"], "1 image(s) listed in"),
        ([lines[0], lines[1].split()[0] + " 1.7"], "outside [0, 1]"),
        (lines + [(root / "splits" / "train_3.txt").read_text().splitlines()[0]], "are in both"),
    ]
    for text, expected in cases:
        test3.write_text("\n".join(text) + "\n")
        with pytest.raises(DataError) as exc:
            SunMemorability(root).check()
        msg = str(exc.value)
        assert expected in msg and "\n" not in msg, msg
        assert "SUN_memorability.zip" in msg and "LaMem" not in msg, msg
    test3.write_text("\n".join(lines) + "\n")
    for k in (1, 2):  # a copy with val files for splits 1 and 2: read, and kept disjoint like the others
        test = (root / "splits" / f"test_{k}.txt").read_text().splitlines()
        (root / "splits" / f"val_{k}.txt").write_text("\n".join(test[:10]) + "\n")
        (root / "splits" / f"test_{k}.txt").write_text("\n".join(test[10:]) + "\n")
    data = SunMemorability(root)
    assert data.has_val([1, 2]) and not data.has_val([1, 3]) and data.parts_of(3) == ("train", "test")
    assert data.check()["splits"][2] == {"train": 60, "val": 10, "test": 50}
    (root / "splits" / "val_2.txt").write_text((root / "splits" / "train_2.txt").read_text())
    with pytest.raises(DataError, match="are in both .*train_2.txt and .*val_2.txt"):
        SunMemorability(root).split(2)
    (root / "splits" / "train_25.txt").unlink()
    with pytest.raises(DataError, match="split 25 needs train and test"):
        SunMemorability(root).check()
    with pytest.raises(DataError, match="no official archive memscore can download: download AMNet's "
                                        "SUN_memorability.zip .* --url ARCHIVE"):
        SunMemorability.fetch()


# ------------------------------------------------------------------------------------- THINGS memorability
THINGS_CONCEPTS = ("aardvark", "bat1", "bat2", "hot_tub", "tee", "walrus", "snorkel", "subway", "peg", "teabag",
                   "anvil", "beehive", "crowbar", "dough", "fungus", "gargoyle", "hammer", "jellyfish", "lobster",
                   "moth", "noose", "oyster", "pitchfork", "raven", "scorpion", "skull", "tarantula", "wasp",
                   "zebra", "yak")


def build_things(root: Path, per_concept: int = 4, *, seed: int = 0, shuffled: bool = False) -> Path:
    """``THINGS_Memorability_Scores.csv`` (UTF-8 with a BOM, CRLF line ends; ``file_path`` = ``images/<concept>/
    <image>``, ``cr`` following the planted u, an extra column) and ``object_images/<concept>/<image>.jpg``.
    Quirks: three rows with no ``cr`` (NaN, empty, NA)."""
    root = Path(root)
    rng = np.random.default_rng([seed, 31])
    rows, n = [], len(THINGS_CONCEPTS) * per_concept
    u = rng.uniform(0.0, 1.0, n)
    scored = u[rng.permutation(n)] if shuffled else u
    for i in range(n):
        concept = THINGS_CONCEPTS[i // per_concept]
        name = f"{concept}_{i % per_concept + 1:02d}{'bcdfghjkmnpqrs'[i % 14]}.jpg"
        _jpeg(root / "object_images" / concept / name, float(u[i]), rng)
        cr = 0.1 + 0.7 * scored[i] + 0.04 * rng.standard_normal()
        rows.append(f"{i + 1},{name},images/{concept}/{name},{cr:.6f},{60 + i % 9}")
    for j, blank in enumerate(("NaN", "", "NA")):
        name = f"yak_9{j}s.jpg"
        _jpeg(root / "object_images" / "yak" / name, 0.5, rng)
        rows.append(f"{n + j + 1},{name},images/yak/{name},{blank},0")
    text = "image_nr,image_name,file_path,cr,n_responses\r\n" + "\r\n".join(rows) + "\r\n"
    (root / "THINGS_Memorability_Scores.csv").write_bytes(b"\xef\xbb\xbf" + text.encode())
    return root


@pytest.fixture(scope="module")
def things(tmp_path_factory):
    return build_things(tmp_path_factory.mktemp("things"))


def test_things_reads_by_column_and_groups_splits_by_concept(things):
    data = ThingsMemorability(things)
    names, scores, _, concepts = data.rows()
    assert len(names) == 120 and names[5] == "bat1/bat1_02h.jpg" and data.image_path(names[5]).is_file()
    row = (things / "THINGS_Memorability_Scores.csv").read_text(encoding="utf-8-sig").splitlines()[6].split(",")
    assert row[2] == "images/" + names[5] and scores[5] == float(row[3])  # the cr column, by name
    assert sorted(data.unscored) == ["yak/yak_90s.jpg", "yak/yak_91s.jpg", "yak/yak_92s.jpg"]
    concept = dict(zip(names, concepts))
    for k in range(1, 6):
        sides = {p: {concept[n] for n in data.read_part(p, k).names} for p in PARTS}
        assert not (sides["train"] & sides["test"]) and not (sides["train"] & sides["val"])
        assert not (sides["val"] & sides["test"]) and len(sides["test"]) == 6  # 20 % of 30 concepts
    assert data.read_part("test", 1).names != data.read_part("test", 2).names
    report = data.check()
    assert report["unscored"] == 3 and report["concepts"] == 30 and "whole concepts" in report["split source"]


@pytest.mark.parametrize("edit, expected", [
    (lambda t: t.replace(",cr,", ",memorability,"), "has no column cr"),
    (lambda t: t.replace(",0.", ",abc", 1), "is not a finite number"),
    (lambda t: t + t.splitlines()[3] + "\n", "is listed twice"),
    (lambda t: t + "999,x.jpg,images/../../etc/passwd,0.5,1\n", "escapes object_images/"),
    (lambda t: t + "999,x.jpg,images/a/b/x.jpg,0.5,1\n", "is not images/<concept>/<image>"),
    (lambda t: t + "999,x.jpg,images/aardvark/x.jpg,0.5,1\n", "1 listed image(s) missing"),
    (lambda t: t + "999,x.jpg\n", "fields where the header has"),
])
def test_a_malformed_things_table_is_one_line(tmp_path, edit, expected):
    root = build_things(tmp_path / "t", 1)
    table = root / "THINGS_Memorability_Scores.csv"
    table.write_text(edit(table.read_text(encoding="utf-8-sig").replace("\r\n", "\n")))
    with pytest.raises(DataError) as exc:
        ThingsMemorability(root).rows()
    assert expected in str(exc.value) and "\n" not in str(exc.value), str(exc.value)


# ------------------------------------------------------------------------------------ data check, end to end
def test_data_check_reads_each_set(figrim, sun, things):
    from memscore.cli import main
    from cli_checks import cli_fails

    for name, root, says in (("figrim", figrim, "unscored: 1"), ("sun-memorability", sun, "split ids: 1, 2, 3"),
                             ("things-memorability", things, "concepts: 30")):
        r = CliRunner().invoke(main, ["data", "check", name, "--data-root", f"{name}={root}"])
        assert r.exit_code == 0 and says in r.output, r.output
    cli_fails(["data", "check", "things-memorability", "--data-root", f"things-memorability={figrim}"],
              "THINGS_Memorability_Scores.csv", "does not exist")


def score(bench, root, **bargs):
    return memscore.score("resnet18", bench, weights="none", data_root=[f"{bench.rsplit('-', 1)[0]}={root}"],
                          progress=False, benchmark_args={**FAST, **bargs}, store=False)


def test_figrim_pls_recovers_planted_signal_and_is_keyed_by_content(figrim, tmp_path):
    s = score("figrim-pls", figrim)
    assert s.value > 0.5 and len(s.splits) == 5 and s.meta["unscored"] == 1, s.summary()
    assert s.meta["data"]["name"] == "figrim"
    from memscore.api import plan_benchmark

    def fingerprint(root):
        return plan_benchmark("figrim-pls", data_root=[f"figrim={root}"], benchmark_args=FAST).data.fingerprint

    copy = tmp_path / "copy"
    shutil.copytree(figrim, copy)
    assert fingerprint(copy) == s.meta["data"]["fingerprint"]  # content, not path
    _figrim_fault(copy, lambda a: a[0, 6]["amt1"][0, 0].__setitem__("hits", 0.0))
    assert fingerprint(copy) != s.meta["data"]["fingerprint"]


def test_sun_memorability_pls_runs_the_25_official_splits(sun):
    s = score("sun-memorability-pls", sun)
    assert s.value > 0.5 and len(s.splits) == 25 and s.meta["data"]["name"] == "sun-memorability", s.summary()
    with pytest.raises(MemscoreError, match="no val_k.txt"):
        score("sun-memorability-pls", sun, select="val", splits="1,2")
    with pytest.raises(MemscoreError, match="SUN memorability split numbers are 1..25"):
        score("sun-memorability-pls", sun, splits="26")


def test_things_memorability_pls_recovers_planted_signal_not_a_shuffled_copy(things, tmp_path):
    s = score("things-memorability-pls", things, splits="1,2,3")
    assert s.value > 0.5 and s.meta["unscored"] == 3 and len(s.splits) == 3, s.summary()
    shuffled = build_things(tmp_path / "shuffled", shuffled=True)
    assert score("things-memorability-pls", shuffled, splits="1,2,3", select="val").value < 0.3


def test_lamem_to_figrim_and_to_things_transfer_with_the_layer_chosen_on_lamem(figrim, things, tmp_path):
    """The transfer protocol with FIGRIM's and THINGS memorability's scored images as the target: planted LaMem
    -> planted target recovers the signal with the layer chosen on LaMem's val split; the target's root is asked
    for by name."""
    from memscore_plugins.demo.synthetic import build_lamem

    lamem = build_lamem(tmp_path / "lamem", 240, image_size=SIZE)
    for bench, name, root, n in (("lamem-to-figrim", "figrim", figrim, 119),
                                 ("lamem-to-things", "things-memorability", things, None)):
        s = memscore.score("resnet18", bench, weights="none", data_root=[f"lamem={lamem}", f"{name}={root}"],
                           progress=False, benchmark_args={**FAST, "splits": "1,2"}, store=False)
        assert s.value > 0.4, s.summary()
        best = next(r for r in s.layers if r["layer"] == s.meta["layer"])
        assert best["val"] == max(r["val"] for r in s.layers) and s.meta["select"] == "lamem-val"
        if n is not None:
            assert s.meta["n_target"] == n  # FIGRIM's unscored target left out
        with pytest.raises(MemscoreError, match=f"{name}=PATH"):
            memscore.score("resnet18", bench, weights="none", progress=False, store=False, benchmark_args=FAST,
                           data_root=[f"lamem={lamem}", f"{name}={tmp_path / 'nothere'}"])
