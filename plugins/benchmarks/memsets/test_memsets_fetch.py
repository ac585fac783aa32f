"""`memscore data fetch` for MemCat, FIGRIM, THINGS memorability, SUN memorability and a CSV set, through the CLI,
against a local HTTP server on 127.0.0.1 serving archives built in each set's real layout (with and without a top
folder, .tar.gz and .zip): unpacked, checked, the report printed; a wrong --sha256, a set without a default URL,
an archive escaping its destination or holding something else, each one line. And `memscore data check NAME
--dataset-args k=v`: the data set's options (MemCat's other score column read), unknown keys and bad values in one
line. Nothing reaches the network or the user's store."""
from __future__ import annotations

import hashlib
import io
import json
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from cli_checks import cli_fails
from http_fixture import serving

from memscore.cli import main
from memscore_plugins.benchmarks.memsets.test_memsets_more import build_figrim, build_sun, build_things
from memscore_plugins.demo.synthetic import build_memcat, build_memorability_csv

@pytest.fixture
def isolated(memscore_home):
    """The test's own $MEMSCORE_HOME; conftest's fixture has also dropped the user's MEMSCORE_CACHE and the data
    sets' MEMSCORE_<NAME> folders, so a default --dest and the split files land under it."""
    return memscore_home


@pytest.fixture(scope="module")
def server():
    with serving() as s:
        yield s


def tar_gz(root: Path, top: str | None) -> bytes:
    """``root``'s content as a .tar.gz, under folder ``top`` (None: at the archive's top)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for p in sorted(root.iterdir()):
            tf.add(p, arcname=f"{top}/{p.name}" if top else p.name)
    return buf.getvalue()


def zip_of(root: Path, top: str | None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for p in sorted(root.rglob("*")):
            rel = p.relative_to(root).as_posix()
            zf.write(p, f"{top}/{rel}" if top else rel)
    return buf.getvalue()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# name, builder, archive file, how it is packed (each set's own way where known), what its report must say
SETS = {
    "memcat": (lambda d: build_memcat(d, 40, image_size=16), "memcat.tar.gz", lambda r: tar_gz(r, "MemCat"),
               ["images: 40", "categories:\n    animal: 8\n"]),
    "figrim": (lambda d: build_figrim(d, 30), "figrim.zip", lambda r: zip_of(r, None),
               ["images: 29", "unscored: 1", "score: HR (amt1)"]),
    "things-memorability": (lambda d: build_things(d, 1), "things.tar.gz", lambda r: tar_gz(r, "THINGS"),
                            ["images: 30", "unscored: 3", "concepts: 30"]),
    # AMNet's SUN_memorability.zip unpacks to images/ and splits/ (one folder above them is found as well)
    "sun-memorability": (lambda d: build_sun(d, 40, n_splits=25), "SUN_memorability.zip",
                         lambda r: zip_of(r, "SUN_memorability"), ["images: 40", "split ids: 1, 2, 3"]),
    "memorability-csv": (lambda d: build_memorability_csv(d, 30, image_size=16), "mine.tar.gz",
                         lambda r: tar_gz(r, None), ["images: 30", "source: "]),
}


@pytest.fixture(scope="module")
def archives(tmp_path_factory) -> dict[str, bytes]:
    out = {}
    for name, (build, _, pack, _) in SETS.items():
        src = build(tmp_path_factory.mktemp(name) / "src")
        out[name] = pack(src)
    return out


def fetch(*args: str):
    return CliRunner().invoke(main, ["data", "fetch", *args, "--no-progress"])


@pytest.mark.parametrize("name", list(SETS))
def test_fetch_downloads_verifies_unpacks_checks_and_reports(name, server, archives, tmp_path):
    _, archive_name, _, says = SETS[name]
    data = archives[name]
    server.files[f"/{name}/{archive_name}"] = data
    dest = tmp_path / "data" / name
    r = fetch(name, "--url", f"{server.url}/{name}/{archive_name}", "--dest", str(dest), "--sha256", sha(data))
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0] == f"{name}: {dest}", r.output  # the check's report, on the unpacked copy
    for text in says:
        assert text in r.output, (text, r.output)
    assert sorted(p.name for p in dest.parent.iterdir()) == [name]  # the archive and the staging folder are gone
    # the copy is where `data check` reads it, and a second fetch only checks it (nothing downloaded)
    n = len(server.requests)
    r2 = CliRunner().invoke(main, ["data", "check", name, "--data-root", f"{name}={dest}"])
    assert r2.exit_code == 0 and r2.output == r.output, r2.output
    r3 = fetch(name, "--url", f"{server.url}/{name}/{archive_name}", "--dest", str(dest))
    assert r3.exit_code == 0 and r3.output == r.output and len(server.requests) == n, r3.output


def test_a_wrong_checksum_is_one_line_and_leaves_no_copy(server, archives, tmp_path):
    server.files["/memcat.tar.gz"] = archives["memcat"]
    dest = tmp_path / "d" / "memcat"
    line = cli_fails(["data", "fetch", "memcat", "--no-progress", "--url", f"{server.url}/memcat.tar.gz", "--dest",
                      str(dest), "--sha256", "0" * 64], "checksum mismatch", "0" * 64, sha(archives["memcat"]))
    assert "moved aside" in line and not dest.exists()
    cli_fails(["data", "fetch", "figrim", "--url", f"{server.url}/x.zip", "--dest", str(tmp_path / "f"), "--sha256",
               "abc"], "sha256 checksum 'abc' is not 64 hex digits")


@pytest.mark.parametrize("name, where", [
    ("memcat", "http://gestaltrevision.be/projects/memcat/"),
    ("figrim", "http://figrim.mit.edu"),
    ("things-memorability", "https://osf.io/5a7z6/"),
    ("sun-memorability", "https://github.com/ok1zjf/AMNet"),
    ("memorability-csv", "pack your scores.csv and images/"),
])
def test_a_set_without_a_default_url_says_where_to_get_it(name, where, tmp_path, isolated):
    dest = tmp_path / "here"
    line = cli_fails(["data", "fetch", name, "--dest", str(dest)], "has no official archive memscore can download",
                     where, f"memscore data fetch {name} --url ARCHIVE")
    assert not dest.exists(), line
    if name != "memorability-csv":  # the default --dest is under $MEMSCORE_HOME (this test's own)
        cli_fails(["data", "fetch", name], "has no official archive memscore can download")
        assert not (isolated / "data").exists() or not any((isolated / "data").iterdir())
    else:
        cli_fails(["data", "fetch", name, "--url", "x.tar.gz"], "give --dest FOLDER")


def test_local_paths_and_file_urls_work_as_for_lamem(archives, tmp_path, isolated):
    archive = tmp_path / "dl" / "THINGS.tar.gz"
    archive.parent.mkdir()
    archive.write_bytes(archives["things-memorability"])
    r = fetch("things-memorability", "--url", str(archive))  # default --dest: $MEMSCORE_HOME/data/NAME
    root = isolated / "data" / "things-memorability"
    assert r.exit_code == 0 and r.output.startswith(f"things-memorability: {root}\n"), r.output
    assert (root / "THINGS_Memorability_Scores.csv").is_file() and archive.is_file()  # a local archive is kept
    zipped = tmp_path / "dl" / "memcat.zip"
    zipped.write_bytes(zip_of(build_memcat(tmp_path / "m", 20, image_size=16), "MemCat"))
    dest = tmp_path / "out" / "memcat"
    r = fetch("memcat", "--url", zipped.as_uri(), "--dest", str(dest), "--sha256", sha(zipped.read_bytes()))
    assert r.exit_code == 0 and "images: 20" in r.output, r.output
    assert sorted(p.name for p in dest.parent.iterdir()) == ["memcat"]
    cli_fails(["data", "fetch", "memcat", "--url", str(tmp_path / "nothere.zip"), "--dest", str(tmp_path / "x")],
              "no such file, and not a URL")
    cli_fails(["data", "fetch", "memcat", "--url", str(zipped), "--dest", str(tmp_path / "y"), "--sha256", "1" * 64],
              "checksum mismatch", str(zipped))


def test_unsafe_foreign_or_broken_archives_are_refused_in_one_line(server, tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("MemCat_data/memcat_image_data.csv", "image_file,category\n")
        zf.writestr("../escaped.txt", "x")
    server.files["/evil.zip"] = buf.getvalue()
    dest = tmp_path / "d" / "memcat"
    cli_fails(["data", "fetch", "memcat", "--url", f"{server.url}/evil.zip", "--dest", str(dest)],
              "refusing to unpack", "'../escaped.txt'")
    assert not (tmp_path / "d" / "escaped.txt").exists() and not (tmp_path / "escaped.txt").exists()
    assert not dest.exists()

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("stuff/readme.txt", "not a data set")
    server.files["/other.zip"] = buf.getvalue()
    cli_fails(["data", "fetch", "figrim", "--url", f"{server.url}/other.zip", "--dest", str(dest)],
              "holds no FIGRIM tree", "image_data_targets.mat, Targets", "found at the top: stuff")
    server.files["/page.zip"] = b"<html>a confirmation page, not the archive</html>"
    cli_fails(["data", "fetch", "sun-memorability", "--url", f"{server.url}/page.zip", "--dest", str(dest)],
              "is not a tar or zip archive")
    cli_fails(["data", "fetch", "memcat", "--url", f"{server.url}/missing.zip", "--dest", str(dest)], "HTTP 404")

    # a copy that fails its check is not moved into place
    src = build_memcat(tmp_path / "m", 20, image_size=16)
    next((src / "MemCat_images").rglob("*.jpg")).unlink()
    server.files["/incomplete.tar.gz"] = tar_gz(src, None)
    cli_fails(["data", "fetch", "memcat", "--url", f"{server.url}/incomplete.tar.gz", "--dest", str(dest)],
              "1 listed image(s) missing")
    # nothing unpacked is left (no copy, no staging folder); the downloads are kept beside, to retry or inspect
    assert not dest.exists() and [p.name for p in dest.parent.iterdir() if not p.name.startswith("memcat-")] == []
    assert "memcat-incomplete.tar.gz" in {p.name for p in dest.parent.iterdir()}

    dest.mkdir(parents=True)
    (dest / "notes.txt").write_text("mine")
    cli_fails(["data", "fetch", "memcat", "--url", f"{server.url}/evil.zip", "--dest", str(dest)],
              "it exists and is not an (empty) MemCat folder")
    assert sorted(p.name for p in dest.iterdir()) == ["notes.txt"]


# --------------------------------------------------------------------------------------- data check --dataset-args
@pytest.fixture(scope="module")
def memcat(tmp_path_factory):
    return build_memcat(tmp_path_factory.mktemp("memcat"), 40, image_size=16)


def check_json(*args: str) -> dict:
    r = CliRunner().invoke(main, ["data", "check", *args, "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


def _range(report: dict) -> np.ndarray:
    return np.array([float(x) for x in report["score range"].split("..")])


def test_dataset_args_pick_memcats_other_score_column(memcat):
    root = f"memcat={memcat}"
    default = check_json("memcat", "--data-root", root)
    same = check_json("memcat", "--data-root", root, "--dataset-args", "score=memorability_w_fa_correction")
    other = check_json("memcat", "--data-root", root, "--dataset-args", "score=memorability_wo_fa_correction")
    assert default == same and default["score"] == "memorability_w_fa_correction"
    assert other["score"] == "memorability_wo_fa_correction"
    # the same images and splits, the other column: the fixture's wo column is 0.1 + 0.9 × the w column
    assert other["images"] == default["images"] == 40 and other["splits"] == default["splits"]
    assert other["categories"] == default["categories"]
    np.testing.assert_allclose(_range(other), 0.1 + 0.9 * _range(default), atol=2e-4)
    assert not np.allclose(_range(other), _range(default))
    # the split files are named by their content (names and scores): the other column, other files
    assert other["split files"] != default["split files"]
    r = CliRunner().invoke(main, ["data", "check", "memcat", "--data-root", root, "--dataset-arg",
                                  "score=memorability_wo_fa_correction"])
    assert r.exit_code == 0 and "  score: memorability_wo_fa_correction\n" in r.output, r.output


def test_dataset_args_repeat_and_reach_figrim_and_things(tmp_path):
    figrim = build_figrim(tmp_path / "f", 30)
    r = CliRunner().invoke(main, ["data", "check", "figrim", "--data-root", f"figrim={figrim}",
                                  "--dataset-arg", "score=DPRIME", "--dataset-arg", "experiment=amt2"])
    assert r.exit_code == 0 and "score: DPRIME (amt2)" in r.output and "unscored: 3" in r.output, r.output
    things = build_things(tmp_path / "t", 1)
    table = things / "THINGS_Memorability_Scores.csv"
    table.write_bytes(table.read_bytes().replace(b",cr,", b",memorability,"))
    cli_fails(["data", "check", "things-memorability", "--data-root", f"things-memorability={things}"],
              "has no column cr")
    report = check_json("things-memorability", "--data-root", f"things-memorability={things}",
                        "--dataset-args", "score=memorability")
    assert report["images"] == 30 and report["score"] == "memorability"


def test_unknown_keys_and_bad_values_are_one_line(memcat, tmp_path):
    root = f"memcat={memcat}"
    cli_fails(["data", "check", "memcat", "--data-root", root, "--dataset-args", "scor=memorability_wo_fa_correction"],
              "--dataset-args: unknown key 'scor'", "did you mean 'score'", "valid keys: score")
    cli_fails(["data", "check", "memcat", "--data-root", root, "--dataset-args", "score=hits"],
              "--dataset-args score=hits",
              "expected one of memorability_w_fa_correction, memorability_wo_fa_correction")
    cli_fails(["data", "check", "figrim", "--data-root", f"figrim={tmp_path}", "--dataset-args", "score=AUC"],
              "--dataset-args score=AUC", "expected one of HR, FAR, ACC, DPRIME, MI, CR")
    cli_fails(["data", "check", "memcat", "--data-root", root, "--dataset-args", "root=/elsewhere"],
              "--dataset-args root", "--data-root")
    cli_fails(["data", "check", "memcat", "--data-root", root, "--dataset-args", "oops"],
              "--dataset-args: 'oops' is not key=value")
    csv = build_memorability_csv(tmp_path / "c", 20, image_size=16)
    cli_fails(["data", "check", "memorability-csv", "--data-root", f"memorability-csv={csv}", "--dataset-args",
               "score=x"], "--dataset-args: unknown key 'score'", "valid keys: (none)")
