"""The LaMem data set on disk: parsing, validation (one-line DataErrors), split-specific scores."""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from lamem_fixture import build_lamem, split_sizes

from memscore.errors import DataError
from memscore_plugins.benchmarks.lamem.data import LaMem
from memscore_plugins.benchmarks.lamem.data import SplitPart

REPO = Path(__file__).resolve().parents[3]  # the repository root (plugins/benchmarks/lamem/)
REAL_SPLITS = (REPO / ".." / "shared" / "data" / "lamem-splits").resolve()


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    return build_lamem(tmp_path_factory.mktemp("lamem_pristine"), 120, seed=3)


@pytest.fixture
def tree(pristine, tmp_path):
    """A fresh copy (images hard-linked) that a test may break."""
    root = tmp_path / "lamem"
    shutil.copytree(pristine / "images", root / "images", copy_function=os.link)
    shutil.copytree(pristine / "splits", root / "splits")  # copied: tests rewrite them
    return root


def read_lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines))


def set_line(path: Path, lineno: int, text: str) -> None:
    lines = read_lines(path)
    lines[lineno - 1] = text
    write_lines(path, lines)


def one_line(e: pytest.ExceptionInfo) -> str:
    msg = str(e.value)
    assert "\n" not in msg, msg
    return msg


# ----------------------------------------------------------------------------------------- happy path

def test_fixture_passes_check_with_right_counts(tree):
    report = LaMem(tree).check()
    n_train, n_val, n_test = split_sizes(120)
    assert report["root"] == str(tree)
    assert report["images"] == 120
    assert report["split_ids"] == [1, 2, 3, 4, 5]
    assert report["splits"] == {k: {"train": n_train, "val": n_val, "test": n_test} for k in range(1, 6)}
    assert report["bad_images"] == [] and report["unlisted_images"] == 0
    assert report["official_sizes"] is False


def test_split_sizes_are_official():
    assert split_sizes(58741) == (45000, 3741, 10000)
    assert split_sizes(300) == (230, 19, 51)


def test_split_parts_are_disjoint_and_cover_everything(tree):
    data = LaMem(tree)
    for k in range(1, 6):
        parts = data.split(k)
        assert set(parts) == {"train", "val", "test"}
        sets = [set(parts[p].names) for p in ("train", "val", "test")]
        assert sum(map(len, sets)) == len(set.union(*sets)) == 120
    assert data.split(1)["test"].names != data.split(2)["test"].names  # independent splits
    assert data.images() == [f"{i:08d}.jpg" for i in range(1, 121)]


def test_read_part_matches_the_file_exactly(tree):
    data = LaMem(tree)
    for k in (1, 4):
        for part in ("train", "val", "test"):
            sp = data.read_part(part, k)
            assert isinstance(sp, SplitPart)
            assert sp.path == tree / "splits" / f"{part}_{k}.txt"
            lines = [line.split() for line in read_lines(sp.path)]
            assert sp.names == [a for a, _ in lines]
            assert sp.scores.dtype == np.float64
            np.testing.assert_array_equal(sp.scores, [float(b) for _, b in lines])
            assert not sp.scores.flags.writeable  # the cached array cannot be changed by a caller


def test_each_split_gets_its_own_scores(tree):
    data = LaMem(tree)
    # the fixture already scores images differently per split file
    s1 = dict(zip(*(lambda p: (p.names, p.scores))(data.read_part("train", 1))))
    s2 = dict(zip(*(lambda p: (p.names, p.scores))(data.read_part("train", 2))))
    common = sorted(set(s1) & set(s2))
    assert any(s1[n] != s2[n] for n in common)
    # plant one image with very different scores in split 1 and split 2
    name = read_lines(tree / "splits" / "test_1.txt")[0].split()[0]
    for k, score in ((1, "0.100000"), (2, "0.900000")):
        for part in ("train", "val", "test"):
            path = tree / "splits" / f"{part}_{k}.txt"
            lines = read_lines(path)
            for i, line in enumerate(lines):
                if line.split()[0] == name:
                    lines[i] = f"{name} {score}"
            write_lines(path, lines)
    data = LaMem(tree)
    for k, want in ((1, 0.1), (2, 0.9)):
        parts = data.split(k)
        found = [(p, sp.scores[sp.names.index(name)]) for p, sp in parts.items() if name in sp.names]
        assert len(found) == 1 and found[0][1] == want, (k, found)


def test_cache_is_invalidated_when_a_file_changes(tree):
    data = LaMem(tree)
    a = data.read_part("val", 1)
    assert data.read_part("val", 1).names == a.names
    lines = read_lines(a.path)
    name = lines[0].split()[0]
    lines[0] = f"{name} 0.012345"
    write_lines(a.path, lines)
    os.utime(a.path, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    assert data.read_part("val", 1).scores[0] == 0.012345


def test_root_resolution(tmp_path, monkeypatch):
    monkeypatch.delenv("MEMSCORE_LAMEM", raising=False)
    monkeypatch.setenv("MEMSCORE_HOME", str(tmp_path / "home"))
    assert LaMem().root == tmp_path / "home" / "data" / "lamem"
    monkeypatch.setenv("MEMSCORE_LAMEM", str(tmp_path / "env"))
    assert LaMem().root == tmp_path / "env"
    assert LaMem(tmp_path / "arg").root == tmp_path / "arg"
    assert LaMem(str(tmp_path / "arg")).root == tmp_path / "arg"


def test_image_path(tree):
    data = LaMem(tree)
    assert data.image_path("00000001.jpg") == tree / "images" / "00000001.jpg"
    for bad in ("../x.jpg", "/etc/passwd", "a/../../x.jpg", "..\\x.jpg"):
        with pytest.raises(DataError):
            data.image_path(bad)


def test_decode_reports_bad_images(tree):
    (tree / "images" / "00000007.jpg").unlink()  # hard link: replace, don't write through
    (tree / "images" / "00000007.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    report = LaMem(tree).check(decode=True, workers=2)
    assert [b["name"] for b in report["bad_images"]] == ["00000007.jpg"]
    assert report["bad_images"][0]["reason"]
    assert report["decoded"] == 119


# --------------------------------------------------------------------------------------- bad inputs

def test_missing_root_and_folders(tmp_path, tree):
    with pytest.raises(DataError, match="does not exist"):
        LaMem(tmp_path / "nowhere").check()
    shutil.rmtree(tree / "images")
    with pytest.raises(DataError, match="images"):
        LaMem(tree).check()


def test_missing_split_file(tree):
    (tree / "splits" / "val_3.txt").unlink()
    with pytest.raises(DataError) as e:
        LaMem(tree).check()
    assert "val_3.txt" in one_line(e) and "missing" in str(e.value)
    with pytest.raises(DataError, match="val_3.txt"):
        LaMem(tree).split(3)
    LaMem(tree).split(2)  # the other splits are fine


def test_missing_whole_split_in_the_middle(tree):
    for part in ("train", "val", "test"):
        (tree / "splits" / f"{part}_2.txt").unlink()
    with pytest.raises(DataError, match="train_2.txt"):
        LaMem(tree).check()


@pytest.mark.parametrize("text, what", [
    ("00000001.jpg", "malformed"),
    ("00000001.jpg 0.5 extra", "malformed"),
    ("image score", "not a number"),
    ("00000001.jpg 0,5", "not a number"),
])
def test_malformed_line_names_file_and_line(tree, text, what):
    path = tree / "splits" / "train_2.txt"
    set_line(path, 7, text)
    with pytest.raises(DataError) as e:
        LaMem(tree).split(2)
    msg = one_line(e)
    assert f"{path}:7" in msg and what in msg


@pytest.mark.parametrize("score", ["nan", "NaN", "1.5", "-0.1", "inf"])
def test_bad_score_names_file_and_line(tree, score):
    path = tree / "splits" / "test_4.txt"
    name = read_lines(path)[2].split()[0]
    set_line(path, 3, f"{name} {score}")
    with pytest.raises(DataError) as e:
        LaMem(tree).read_part("test", 4)
    assert f"{path}:3" in one_line(e)


@pytest.mark.parametrize("name", ["../x.jpg", "/etc/passwd", "sub/../../x.jpg", "..", "C:\\x.jpg"])
def test_escaping_name_is_refused(tree, name):
    path = tree / "splits" / "val_1.txt"
    set_line(path, 2, f"{name} 0.500000")
    with pytest.raises(DataError) as e:
        LaMem(tree).read_part("val", 1)
    msg = one_line(e)
    assert f"{path}:2" in msg and "escapes" in msg


def test_name_in_a_subfolder_is_allowed(tree):
    (tree / "images" / "sub").mkdir()
    os.link(tree / "images" / "00000001.jpg", tree / "images" / "sub" / "a.jpg")
    path = tree / "splits" / "val_1.txt"
    lines = read_lines(path) + ["sub/a.jpg 0.500000"]
    write_lines(path, lines)
    assert LaMem(tree).read_part("val", 1).names[-1] == "sub/a.jpg"


def test_duplicate_in_one_file(tree):
    path = tree / "splits" / "train_1.txt"
    lines = read_lines(path)
    lines[9] = lines[4].split()[0] + " 0.250000"
    write_lines(path, lines)
    with pytest.raises(DataError) as e:
        LaMem(tree).read_part("train", 1)
    msg = one_line(e)
    assert f"{path}:10" in msg and "duplicate" in msg and "line 5" in msg


def test_overlapping_parts(tree):
    train, val = tree / "splits" / "train_5.txt", tree / "splits" / "val_5.txt"
    extra = read_lines(train)[0].split()[0]
    write_lines(val, read_lines(val) + [f"{extra} 0.500000"])
    with pytest.raises(DataError) as e:
        LaMem(tree).split(5)
    msg = one_line(e)
    assert str(train) in msg and str(val) in msg and extra in msg
    with pytest.raises(DataError):
        LaMem(tree).check()


def test_missing_images_count_and_first_few(tree):
    gone = ["00000003.jpg", "00000011.jpg", "00000042.jpg", "00000077.jpg"]
    for name in gone:
        (tree / "images" / name).unlink()
    with pytest.raises(DataError) as e:
        LaMem(tree).check()
    msg = one_line(e)
    assert "4 image(s)" in msg and "00000003.jpg" in msg and "splits" in msg
    with pytest.raises(DataError, match="missing"):
        LaMem(tree).split(1)
    report = LaMem(tree).check(check_images=False)  # the split files themselves are fine
    assert report["images"] == 120


def test_empty_file_and_blank_lines(tree):
    path = tree / "splits" / "val_2.txt"
    lines = read_lines(path)
    path.write_text("\n".join(lines[:3]) + "\n\n" + "\n".join(lines[3:]) + "\n\n")  # blank lines skipped
    assert len(LaMem(tree).read_part("val", 2)) == len(lines)
    path.write_text("\n".join(lines[:3]) + "\n\n" + lines[3].split()[0] + " x\n")
    with pytest.raises(DataError, match=rf"val_2.txt:5\b"):  # line numbers count the blank line
        LaMem(tree).read_part("val", 2)
    path.write_text("")
    with pytest.raises(DataError, match="empty"):
        LaMem(tree).read_part("val", 2)


def test_crlf_and_bom_are_accepted(tree):
    path = tree / "splits" / "test_3.txt"
    lines = read_lines(path)
    path.write_bytes(b"\xef\xbb\xbf" + "".join(x + "\r\n" for x in lines).encode())
    sp = LaMem(tree).read_part("test", 3)
    assert sp.names == [x.split()[0] for x in lines]


def test_failed_file_is_not_cached(tree):
    data = LaMem(tree)
    path = tree / "splits" / "test_1.txt"
    good = path.read_text()
    set_line(path, 1, "broken")
    with pytest.raises(DataError):
        data.read_part("test", 1)
    path.write_text(good)
    assert len(data.read_part("test", 1)) == split_sizes(120)[2]


def test_bad_arguments(tree):
    data = LaMem(tree)
    with pytest.raises(DataError, match="unknown LaMem split part"):
        data.read_part("training", 1)
    with pytest.raises(DataError, match="integer"):
        data.split(0)


# ------------------------------------------------------------------------------------ real split files

@pytest.mark.skipif(not REAL_SPLITS.is_dir(), reason=f"real LaMem split files not found at {REAL_SPLITS}")
def test_real_split_files(tmp_path):
    root = tmp_path / "lamem"
    (root / "splits").mkdir(parents=True)
    for part in ("train", "val", "test"):
        for k in range(1, 6):
            os.symlink(REAL_SPLITS / f"{part}_{k}.txt", root / "splits" / f"{part}_{k}.txt")
    images = root / "images"
    images.mkdir()
    placeholder = tmp_path / "placeholder.jpg"
    placeholder.write_bytes(bytes.fromhex(  # a valid 1x1 JPEG
        "ffd8ffe000104a46494600010100000100010000ffdb004300080606070605080707070909080a0c140d0c0b0b0c1912"
        "130f141d1a1f1e1d1a1c1c20242e2720222c231c1c2837292c30313434341f27393d38323c2e333432ffc0000b080001"
        "000101011100ffc4001f0000010501010101010100000000000000000102030405060708090a0bffc400b51000020103"
        "03020403050504040000017d01020300041105122131410613516107227114328191a1082342b1c11552d1f02433627282"
        "090a161718191a25262728292a3435363738393a434445464748494a535455565758595a636465666768696a7374757677"
        "78797a838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3"
        "d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9faffda0008010100003f00fbd3ffd9"))
    names = set()
    for k in range(1, 6):
        for part in ("train", "val", "test"):
            names.update(line.split(" ", 1)[0] for line in (REAL_SPLITS / f"{part}_{k}.txt").read_text().splitlines())
    for name in names:
        os.link(placeholder, images / name)

    data = LaMem(root)
    t0 = time.perf_counter()
    sp = data.read_part("train", 1)
    assert time.perf_counter() - t0 < 2.0  # 45,000 lines parse fast
    assert len(sp) == 45000 and sp.scores.dtype == np.float64

    report = data.check()
    assert report["images"] == 58741
    assert report["splits"] == {k: {"train": 45000, "val": 3741, "test": 10000} for k in range(1, 6)}
    assert report["official_sizes"] is True and report["unlisted_images"] == 0
    # the real files score the same image differently in different splits
    a = dict(zip(data.read_part("test", 1).names, data.read_part("test", 1).scores))
    b = dict(zip(data.read_part("test", 2).names, data.read_part("test", 2).scores))
    common = set(a) & set(b)
    assert common and any(a[n] != b[n] for n in common)
