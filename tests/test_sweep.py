"""`memscore sweep`: three random-init models × lamem-pls, neural-it, lamem-it on planted fixtures.

The sweep's results equal one-by-one `memscore score` runs (same keys, same numbers); each model's
activations are computed once per stimulus set (lamem-it reuses lamem-pls's cache and neural-it's
commitment); a second sweep runs nothing; a driver killed with kill -9 and rerun stores every pair once
with the same numbers; the slurm executor runs on a real single-node SLURM cluster (sbatch through
submitit), and a job cancelled with scancel is finished by the rerun.
"""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from lamem_fixture import build_lamem
from memscore.cli import main
from neural_fixture import build_neural

MODELS = ["cornet-r", "torchvision:alexnet", "cornet-z"]
TWO = MODELS[1:]  # the process-level tests (local workers, kill -9, SLURM) prove the same on two models
BENCHMARKS = ["lamem-pls", "neural-it", "lamem-it"]
COMMON = {"image_size": 64, "pca": 16, "n_components": 4, "reference_size": 16}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from memscore.api import load_model

    base = tmp_path_factory.mktemp("sweep-data")
    lamem = build_lamem(base / "lamem", 60, image_size=48)
    neural = build_neural(base / "neural", load_model("torchvision:resnet18", weights="none"), n_objects=8,
                          per_object=16, n_sites=12, size=64)
    return {"lamem": lamem, "manifest": neural["manifest"]}


def sweep_argv(data, *extra, models=MODELS) -> list[str]:
    bargs = ",".join(f"{k}={v}" for k, v in {**COMMON, "dataset": data["manifest"], "folds": 3}.items())
    return ["sweep", "--models", ",".join(models), "--benchmarks", ",".join(BENCHMARKS), "--weights", "none",
            "--device", "cpu", "--no-progress", "--data-root", f"lamem-pls={data['lamem']}",
            "--data-root", f"lamem-it={data['lamem']}", "--benchmark-args", f"{bargs},splits=1,2", *extra]


def one_by_one_args(data, benchmark) -> dict:
    """The arguments a user gives `memscore score` for the same pair."""
    if benchmark == "lamem-pls":
        return {**COMMON, "splits": "1,2"}
    neural = {**COMMON, "dataset": str(data["manifest"]), "folds": 3}
    if benchmark == "neural-it":
        return neural
    return {**COMMON, "splits": "1,2", **{f"neural_{k}": v for k, v in neural.items()}}


def stored(home: Path) -> dict[tuple[str, str], dict]:
    """Every run file under ``home``: (model, benchmark) -> run (fails on two runs of one pair)."""
    out: dict[tuple[str, str], dict] = {}
    for f in sorted((home / "runs").rglob("*.json")):
        d = json.loads(f.read_text())
        pair = (d["model"], d["benchmark"])
        assert pair not in out, f"{pair} stored twice"
        out[pair] = d
    return out


def of(runs: dict, models) -> dict:
    """The runs of ``models`` only."""
    return {pair: run for pair, run in runs.items() if pair[0] in models}


def numbers(run: dict) -> tuple:
    return (run["meta"]["key"], run["value"], run["error"], run["meta"].get("layer"),
            [(r["layer"], r["value"], r["error"]) for r in run["layers"]])


def invoke(argv, home: Path, cache: Path | None = None):
    env = {"MEMSCORE_HOME": str(home), "MEMSCORE_CACHE": str(cache) if cache else None}
    return CliRunner().invoke(main, argv, env=env)


@pytest.fixture(scope="module")
def cache(reference):
    """The reference runs' activation cache: the sweeps that do not count passes reuse it (fast)."""
    return REFERENCE_CACHE[0]


REFERENCE_CACHE: list[Path] = []


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory):
    """The nine pairs scored one by one with `memscore score` in a fresh home (lamem-it after neural-it)."""
    home = tmp_path_factory.mktemp("one-by-one")
    for m in MODELS:
        for b in BENCHMARKS:
            argv = ["score", "-m", m, "-b", b, "--weights", "none", "--device", "cpu", "--no-progress",
                    "--benchmark-args", ",".join(f"{k}={v}" for k, v in one_by_one_args(data, b).items())]
            if b.startswith("lamem"):
                argv += ["--data-root", str(data["lamem"])]
            r = invoke(argv, home)
            assert r.exit_code == 0, r.output
    runs = stored(home)
    assert len(runs) == 9
    REFERENCE_CACHE[:] = [home / "cache"]
    return runs


def test_inline_sweep_equals_one_by_one_and_computes_activations_once(data, reference, tmp_path):
    home = tmp_path / "home"
    r = invoke(sweep_argv(data, "--executor", "inline"), home)
    assert r.exit_code == 0, r.output
    assert "9 pairs; 0 stored, 9 to run" in r.output
    runs = stored(home)
    assert sorted(runs) == sorted(reference)
    for pair, run in runs.items():
        assert numbers(run) == numbers(reference[pair]), pair
    for m in MODELS:
        # one activation pass per stimulus set (plus its PCA-fit pass): lamem-it reads lamem-pls's cache
        assert runs[(m, "lamem-pls")]["meta"]["activation_passes"] == 2
        assert runs[(m, "neural-it")]["meta"]["activation_passes"] == 2
        assert runs[(m, "lamem-it")]["meta"]["activation_passes"] == 0
        commitment = runs[(m, "lamem-it")]["meta"]["commitment"]
        assert commitment["from_store"] and commitment["run_id"] == runs[(m, "neural-it")]["meta"]["run_id"]
    with sqlite3.connect(home / "results.sqlite") as con:
        assert con.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 9  # the driver merged the run files

    again = invoke(sweep_argv(data, "--executor", "inline"), home)
    assert again.exit_code == 0 and "9 stored, 0 to run" in again.output, again.output
    assert len(stored(home)) == 9

    status = invoke(["sweep", "status", "--json"], home)
    assert status.exit_code == 0
    assert json.loads(status.output)["counts"] == {"done": 9, "running": 0, "failed": 0, "pending": 0}


def test_local_workers_equal_one_by_one(data, reference, cache, tmp_path):
    home = tmp_path / "home"
    r = invoke(sweep_argv(data, "--executor", "local", "--jobs", "2", models=TWO), home, cache)
    assert r.exit_code == 0, r.output
    runs = stored(home)
    assert sorted(runs) == sorted(of(reference, TWO))
    for pair, run in runs.items():
        assert numbers(run) == numbers(reference[pair]), pair
    assert sorted(p.name for p in (home / "sweeps").glob("*/logs/*.log")) == sorted(
        f"{m.replace(':', '_')}.log" for m in TWO)


def test_a_failing_pair_is_recorded_and_the_others_go_on(data, tmp_path):
    """alexnet cannot run at 16 px: its pair fails with its error and log, the other model finishes;
    status names the failures; the exit code says the sweep is not complete."""
    home = tmp_path / "home"
    argv = sweep_argv(data, "--executor", "local")
    argv[argv.index("--models") + 1] = "torchvision:alexnet,cornet-z"
    argv[argv.index("--benchmarks") + 1] = "lamem-pls"
    at = argv.index(f"lamem-it={data['lamem']}")
    del argv[at - 1:at + 1]
    argv[argv.index("--benchmark-args") + 1] = "image_size=16,pca=16,n_components=4,reference_size=16,splits=1,2"
    r = invoke(argv, home)
    assert r.exit_code == 1, r.output
    runs = stored(home)
    assert sorted(runs) == [("cornet-z", "lamem-pls")]
    status = json.loads(invoke(["sweep", "status", "--json"], home).output)
    failed = [p for p in status["pairs"] if p["state"] == "failed"]
    assert {p["model"] for p in failed} == {"torchvision:alexnet"} and len(failed) == 1
    assert all("RuntimeError" in p["detail"] and p["log"].endswith(".log") and Path(p["log"]).is_file()
               for p in failed)


def test_kill_9_of_the_driver_loses_nothing(data, reference, cache, tmp_path, executor="local"):
    """The driver dies with its worker mid-pair: the orphaned worker finishes its pair beside the rerun,
    whose own job for that model waits for the pair's lock and then finds it stored (an inline driver's
    pair dies with it and is simply computed again)."""
    home = tmp_path / "home"
    env = {**os.environ, "MEMSCORE_HOME": str(home), "MEMSCORE_CACHE": str(cache)}
    argv = [sys.executable, "-m", "memscore.cli", *sweep_argv(data, "--executor", executor, models=TWO)]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and len(list((home / "runs").rglob("*.json"))) < 2:
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = len(list((home / "runs").rglob("*.json")))
    assert 2 <= before < 6, "killed mid-sweep"
    r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    runs = stored(home)  # every pair once (an orphaned local worker finished beside the rerun, not twice)
    assert sorted(runs) == sorted(of(reference, TWO))
    for pair, run in runs.items():
        assert numbers(run) == numbers(reference[pair]), pair
    with sqlite3.connect(home / "results.sqlite") as con:
        assert con.execute("SELECT COUNT(*), COUNT(DISTINCT key) FROM runs").fetchone() == (6, 6)


@pytest.mark.parametrize("argv, message", [
    (["--models", "nosuchnet", "--benchmarks", "lamem-pls"], "nosuchnet"),
    (["--models", "cornet-z", "--benchmarks", "lamem-pls", "--benchmark-args", "nosuch=1"],
     "--benchmark-args nosuch: no benchmark of this sweep takes it"),
    (["--models", "tag:nosuchtag", "--benchmarks", "lamem-pls"], "--models tag:nosuchtag: no model has this tag"),
    (["--models", "cornet-z", "--benchmarks", "lamem-pls", "--data-root", "neural-it=/tmp"],
     "this sweep (lamem-pls) reads no data set called 'neural-it'; the names it reads: lamem-pls, lamem"),
    (["--models", "cornet-z", "--benchmarks", "lamem-pls", "--executor", "slurm", "--slurm-time", "soon"],
     "--slurm-time soon"),
    (["--models", "@/nonexistent/models.txt", "--benchmarks", "lamem-pls"], "cannot read this list of names"),
])
def test_bad_sweep_arguments_are_one_line(argv, message, tmp_path):
    r = invoke(["sweep", *argv], tmp_path / "home")
    assert r.exit_code in (1, 2) and message in r.output and "Traceback" not in r.output, r.output
    assert not (tmp_path / "home" / "sweeps").exists()


def test_models_from_a_file_and_a_tag_and_dry_run(tmp_path, data):
    names = tmp_path / "models.txt"
    names.write_text("# three small nets\ncornet-z\n\ntorchvision:alexnet  # the classic\ncornet-z\n")
    r = invoke(["sweep", "--models", f"@{names}", "--benchmarks", "lamem-pls", "--weights", "none",
                "--data-root", str(data["lamem"]), "--benchmark-args", "image_size=64", "--dry-run"], tmp_path / "h")
    assert r.exit_code == 0, r.output
    assert "2 models × 1 benchmarks" in r.output and "pending  cornet-z  lamem-pls" in r.output
    # each pending pair says what it would compute, write, hold and take here; nothing runs
    assert "cornet-z: 60 stimuli x 14 layers to compute" in r.output and "estimated" in r.output
    assert not (tmp_path / "h" / "runs").exists() and not (tmp_path / "h" / "sweeps").exists()  # dry run
    r = invoke(["sweep", "--models", "tag:cornet", "--benchmarks", "lamem-pls", "--weights", "none",
                "--data-root", str(data["lamem"]), "--dry-run"], tmp_path / "h")
    assert r.exit_code == 0 and "4 models × 1 benchmarks" in r.output, r.output


def test_no_sweep_yet_is_one_line(tmp_path):
    r = invoke(["sweep", "status"], tmp_path / "home")
    assert r.exit_code == 1 and "no sweep has run" in r.output


# ---------------------------------------------------------------------------------------------
# the slurm executor on a real single-node SLURM cluster
# ---------------------------------------------------------------------------------------------
def _squeue(cluster) -> list[tuple[str, str]]:
    out = subprocess.run(["squeue", "-h", "-o", "%i %T"], capture_output=True, text=True, env=cluster.env)
    return [tuple(line.split()) for line in out.stdout.splitlines() if line.strip()]


def test_slurm_sweep_with_a_cancelled_job_is_finished_by_the_rerun(slurm_cluster, data, reference, cache, tmp_path):
    home = tmp_path / "home"
    env = {**os.environ, **slurm_cluster.env, "MEMSCORE_HOME": str(home), "MEMSCORE_CACHE": str(cache)}
    argv = [sys.executable, "-m", "memscore.cli",
            *sweep_argv(data, "--executor", "slurm", "--slurm-partition", slurm_cluster.partition,
                        "--slurm-time", "10", "--slurm-array-parallelism", "2", models=TWO)]
    r = subprocess.run([*argv, "--no-wait"], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "submitted" in r.stderr, r.stderr[-2000:]

    # cancel the first array task as soon as it runs (it stores nothing for the pair it is computing)
    deadline, cancelled = time.time() + 120, None
    while time.time() < deadline and cancelled is None:
        running = [job for job, state in _squeue(slurm_cluster) if state == "RUNNING"]
        if running:
            cancelled = running[0]
            subprocess.run(["scancel", cancelled], env=env, check=True)
        time.sleep(0.2)
    assert cancelled, "no SLURM job ran"
    deadline = time.time() + 300
    while time.time() < deadline and _squeue(slurm_cluster):
        time.sleep(0.5)
    assert not _squeue(slurm_cluster), "the sweep's jobs did not end"

    status = json.loads(subprocess.run([sys.executable, "-m", "memscore.cli", "sweep", "status", "--json"],
                                       env=env, capture_output=True, text=True).stdout)
    assert status["counts"]["done"] < 6 and status["counts"]["running"] == 0

    r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)  # the rerun waits for its jobs
    assert r.returncode == 0, r.stderr[-3000:]
    runs = stored(home)
    assert sorted(runs) == sorted(of(reference, TWO))
    for pair, run in runs.items():
        assert numbers(run) == numbers(reference[pair]), pair


def test_a_sweep_given_several_metrics_says_what_to_do_in_one_line(tmp_path):
    from click.testing import CliRunner

    from memscore.cli import main

    r = CliRunner().invoke(main, ["sweep", "--models", "resnet18", "--benchmarks", "neural-it,lamem-pls",
                                  "--benchmark-args", "metric=pls,rsa", "--dry-run"])
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1
    assert "a sweep takes one value for neural-it" in r.output and "memscore score" in r.output
