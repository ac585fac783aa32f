"""Score JSON round-trip; the result store: reuse, --force history, concurrent writers, collect."""
from __future__ import annotations

import json
import math
import multiprocessing as mp
import os
import subprocess
import sys

from memscore.scores import Score
from memscore.store import ResultStore
from plugin_dist import write_distribution
from run_fixture import key_for


def make_score(i: int = 0, model: str = "m") -> Score:
    """A run as memscore stores it: its value, error and raw its committed layer l1's."""
    v = 0.5 + i * 1e-3
    return Score(model=model, benchmark="b", benchmark_version="1", value=v, error=0.01,
                 ceiling=0.8, raw=0.4, layers=[{"layer": "l1", "value": v, "error": 0.01, "raw": 0.4, "splits": [0.3]},
                                               {"layer": "l2", "value": float("nan"), "error": 0.2}],
                 splits=[{"split": 1, "value": 0.3}],
                 meta={"seed": 3, "device": "cpu", "weights": "none", "layer": "l1", "memscore_version": "0",
                       "config": {"benchmark_args": {}, "model_args": {}}, "data": None})



def test_score_json_round_trip():
    s = make_score()
    back = Score.from_json(s.to_json())
    assert back.value == s.value and back.error == s.error and back.ceiling == s.ceiling and back.raw == s.raw
    assert back.layers[0] == s.layers[0] and back.splits == s.splits and back.meta == s.meta
    assert back.layers[1]["value"] is None  # NaN is not JSON: stored as null
    assert back.best_layer == "l1"
    assert json.loads(back.to_json()) == json.loads(s.to_json())


def test_put_get_and_force_keeps_history(tmp_path):
    store = ResultStore(tmp_path)
    key = key_for(make_score(0, "m"))
    assert store.get(key) is None
    store.put(make_score(1), key)
    store.put(make_score(2), key)  # a --force re-run
    assert math.isclose(store.get(key).value, 0.502)
    hist = store.history(key)
    assert [round(s.value, 3) for s in hist] == [0.501, 0.502]
    assert len(store.query(all_versions=True)) == 2 and len(store.query()) == 1
    assert len(list((tmp_path / "runs").rglob("*.json"))) == 2  # one file per run, none overwritten


def _writer(root: str, worker: int, n: int) -> None:
    store = ResultStore(root)
    for i in range(n):
        store.put(make_score(i, model=f"w{worker}-{i}"), key_for(make_score(0, f"w{worker}-{i}")))


def _opener(root: str, barrier, worker: int, rounds: int) -> None:
    for r in range(rounds):
        barrier.wait(60)  # every process opens the same brand-new store at the same moment
        ResultStore(f"{root}/{r}").put(make_score(worker, model=f"o{worker}"),
                                       key_for(make_score(0, f"o{worker}")))


def test_runs_started_together_all_open_a_new_store(tmp_path):
    """Processes creating the same new store at once: none fails with 'database is locked'."""
    ctx = mp.get_context("spawn")
    n, rounds = 4, 25
    barrier = ctx.Barrier(n)
    procs = [ctx.Process(target=_opener, args=(str(tmp_path), barrier, w, rounds)) for w in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * n
    assert all(len(ResultStore(tmp_path / str(r)).query()) == n for r in range(rounds))


def test_two_processes_store_400_scores(tmp_path):
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), w, 200)) for w in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    store = ResultStore(tmp_path)
    assert len(store.query()) == 400
    assert len({s.model for s in store.query()}) == 400
    assert len(list((tmp_path / "runs").rglob("*.json"))) == 400


def test_collect_merges_run_files(tmp_path):
    job = ResultStore(tmp_path / "job1")
    job.put(make_score(1, "x"), key_for(make_score(0, "x")))
    main = ResultStore(tmp_path / "main")
    assert main.collect([tmp_path / "job1" / "runs"]) == (1, 1)
    assert main.collect([tmp_path / "job1" / "runs"]) == (0, 1)  # idempotent
    assert main.query(model="x")[0].value == job.query(model="x")[0].value


def test_cli_reuses_stored_score_and_force_recomputes(tmp_path, memscore_home):
    site = write_distribution(tmp_path / "site")
    env = {**os.environ, "PYTHONPATH": str(site)}
    cmd = [sys.executable, "-m", "memscore.cli", "score", "-m", "tiny-net", "-b", "param-count",
           "--weights", "none", "--format", "json"]
    first = json.loads(subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout)
    second = json.loads(subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout)
    assert second["meta"]["run_id"] == first["meta"]["run_id"] and second["meta"].get("from_store")
    third = json.loads(subprocess.run(cmd + ["--force"], capture_output=True, text=True, env=env, check=True).stdout)
    assert third["meta"]["run_id"] != first["meta"]["run_id"]
    listed = subprocess.run([sys.executable, "-m", "memscore.cli", "results", "--history", "--format", "json"],
                            capture_output=True, text=True, env=env, check=True).stdout
    assert {r["meta"]["run_id"] for r in json.loads(listed)} == {first["meta"]["run_id"], third["meta"]["run_id"]}
    # a different benchmark arg is a different key: not served from the store
    other = json.loads(subprocess.run(cmd + ["--benchmark-args", "scale=3"], capture_output=True, text=True,
                                      env=env, check=True).stdout)
    assert other["value"] == 3 * 762 and not other["meta"].get("from_store")
