"""`memscore demo` end to end, with its real settings: it must work offline as the README's first command,
recover the planted memorability, write the leaderboard and the figures, reuse everything on a second run
and never write into a folder that is not a demo folder."""
from __future__ import annotations

import csv
import os

import pytest
from click.testing import CliRunner

from memscore.cli import main

MODELS = {"torchvision:resnet18", "torchvision:alexnet", "cornet-z"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "memscore-demo"
    first = CliRunner().invoke(main, ["demo", "--out", str(out), "--no-progress"])
    return out, first


def _runs(out):
    from memscore.store import ResultStore

    return len(ResultStore(out / "home").query(all_versions=True))


@pytest.mark.slow
def test_demo_writes_leaderboard_and_figures(demo):
    out, r = demo
    assert r.exit_code == 0, r.output
    index = out / "leaderboard" / "index.html"
    assert index.is_file() and index.as_uri() in r.output
    with open(out / "leaderboard" / "board.csv", newline="") as f:
        rows = {row["model"]: row for row in csv.DictReader(f)}
    assert set(rows) == MODELS
    assert all(float(rows[m]["lamem-pls:value"]) > 0.3 for m in MODELS), rows  # the planted signal
    pngs = list((out / "figures").glob("*.png"))
    assert pngs and all(p.stat().st_size > 0 for p in pngs)
    assert f"MEMSCORE_HOME={out / 'home'} memscore results" in r.output
    assert _runs(out) == 12
    assert "synthetic data" in index.read_text()  # said on the page itself
    pages = list((out / "leaderboard").rglob("*.html"))
    assert len(pages) > 4 and all("synthetic data" in p.read_text() for p in pages)  # and on every other page


@pytest.mark.slow
def test_demo_fig2_is_paper_like_in_sign_and_draws_only_swept_regions(demo):
    """Memorability is planted as a readout of the late layer the IT sites read out: across layers, IT
    similarity goes with memorability (positive rho, as the paper's) and V1 similarity does not."""
    import json

    out, r = demo
    fig2 = json.loads((out / "figures" / "fig2.json").read_text())
    with_data = {k: p for k, p in fig2["panels"].items() if p.get("n")}
    assert set(with_data) == {"V1", "IT"}
    assert with_data["IT"]["rho"] > 0.5 and with_data["IT"]["rho"] > with_data["V1"]["rho"] + 0.3
    assert "IT 0." in r.output and "by construction" in r.output


@pytest.mark.slow
def test_the_printed_commands_run_as_printed(demo):
    """The demo ends with the commands that score one more model on its data; lamem-it's (which reads both
    data sets by name and commits through neural-it) runs as printed, in the demo's store."""
    import shlex
    import subprocess
    import sys

    out, r = demo
    lines = [line.strip() for line in r.output.splitlines() if " memscore score " in line]
    assert [shlex.split(line)[6] for line in lines] == ["lamem-pls", "neural-it", "lamem-it"]
    env_kv, *argv = shlex.split(lines[-1])
    env = {**os.environ, env_kv.split("=", 1)[0]: env_kv.split("=", 1)[1]}
    done = subprocess.run([sys.executable, "-m", "memscore.cli", *argv[1:], "--no-progress"], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "torchvision:squeezenet1_1 on lamem-it" in done.stdout
    assert _runs(out) == 14  # lamem-it and the neural-it run it committed through


@pytest.mark.slow
def test_demo_second_run_reuses_everything(demo):
    out, first = demo
    assert first.exit_code == 0, first.output
    home_before, runs_before = os.environ["MEMSCORE_HOME"], _runs(out)
    r = CliRunner().invoke(main, ["demo", "--out", str(out), "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "0 to run" in r.output and "nothing to run" in r.output and r.output.count("already there") == 2
    assert _runs(out) == runs_before  # nothing computed again
    # the demo's own store was used and nothing of it leaks into this process
    assert os.environ["MEMSCORE_HOME"] == home_before and "MEMSCORE_STORE" not in os.environ


def test_demo_refuses_a_foreign_folder(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    r = CliRunner().invoke(main, ["demo", "--out", str(mine)])
    assert r.exit_code != 0
    assert len(r.output.strip().splitlines()) == 1 and "not a memscore demo folder" in r.output
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
