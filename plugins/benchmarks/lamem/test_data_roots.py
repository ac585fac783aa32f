"""`--data-root lamem=PATH` is LaMem's root as `--data-root PATH` is: the same data, so the same run key (the
second run is served from the store), on `score` and on `sweep`; a NAME nothing reads is one line."""
from __future__ import annotations

import json

from click.testing import CliRunner

from lamem_fixture import build_lamem
from memscore.cli import main

ARGS = "splits=1,image_size=32,layers=avgpool,pca=8,reference_size=8"


def test_named_and_unnamed_lamem_roots_are_one_run(tmp_path):
    lamem = build_lamem(tmp_path / "lamem", 40, image_size=32, n_splits=1)
    base = ["-m", "resnet18", "-b", "lamem-pls", "--weights", "none", "--device", "cpu", "--no-progress",
            "--benchmark-args", ARGS, "--format", "json"]
    first = CliRunner().invoke(main, ["score", *base, "--data-root", str(lamem)])
    assert first.exit_code == 0, first.output
    for root in (f"lamem={lamem}", f"LaMem-PLS={lamem}"):  # the data set's name or the benchmark's, any case
        again = CliRunner().invoke(main, ["score", *base, "--data-root", root])
        assert again.exit_code == 0, again.output
        meta = json.loads(again.stdout)["meta"]
        assert meta.get("from_store") and meta["run_id"] == json.loads(first.stdout)["meta"]["run_id"]
    r = CliRunner().invoke(main, ["score", *base, "--data-root", f"lamem={lamem}", "--data-root", f"lamen={lamem}"])
    assert r.exit_code == 2 and r.output.count("\n") == 1
    assert "reads no data set called 'lamen'; the names it reads: lamem-pls, lamem" in r.output
    r = CliRunner().invoke(main, ["score", *base, "--data-root", str(lamem), "--data-root", str(tmp_path)])
    assert r.exit_code == 2 and "a second unnamed data root" in r.output and "NAME=PATH" in r.output
    sweep = CliRunner().invoke(main, ["sweep", "--models", "resnet18", "--benchmarks", "lamem-pls", "--weights",
                                      "none", "--device", "cpu", "--executor", "inline", "--no-progress",
                                      "--data-root", f"lamem={lamem}", "--benchmark-args", ARGS])
    assert sweep.exit_code == 0, sweep.output
    assert "1 stored" in sweep.output or "nothing to run" in sweep.output, sweep.output
