"""The result store heals or fails in one line: a damaged database (one line naming it, then
``memscore collect --rebuild`` rebuilds it from the run files), an unreadable row (skipped with one notice),
a read-only or uncreatable home (reading works, writing is one line), a full disk (one line, no temp file, the
stored results still readable), stale temp files of killed runs (removed), files in a collected folder that
are not run files (listed and skipped). Nothing stored before is ever lost or altered.

Read-only folders and full disks are real: tmpfs and read-only bind mounts (the tests run as root, which
ignores chmod); where mounting is not permitted those tests are skipped, saying so."""
from __future__ import annotations

import csv
import errno
import hashlib
import io
import json
import os
import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from memscore.errors import MemscoreError
from memscore.scores import Score
from memscore.store import ResultStore, StoreDamagedError, StoreDiskFullError, StoreError, StoreReadOnlyError
from run_fixture import key_for

FP = "0123456789abcdef0123456789abcdef01234567"


def make(model: str, value: float, created: float, *, data: bool = True, n_layers: int = 2) -> Score:
    """A run as memscore stores it (its value its layer l0's); without ``data`` a run made before data
    fingerprints (key version 1)."""
    meta = {"seed": 0, "weights": "none", "created": created, "memscore_version": "0", "layer": "l0",
            "config": {"benchmark_args": {}, "model_args": {}}}
    if data:
        meta["data"] = {"name": "toy", "fingerprint": FP, "counts": {"images": 3}, "root": "/data/toy"}
    return Score(model=model, benchmark="b", benchmark_version="1", value=value, error=0.01,
                 layers=[{"layer": f"l{i}", "value": value - i * 1e-3, "error": 0.01} for i in range(n_layers)],
                 meta=meta)


def KEY(model: str, data: bool = True) -> str:
    return key_for(make(model, 0.0, 0.0, data=data))


KEY_A, KEY_B, KEY_C = KEY("ma"), KEY("mb", data=False), KEY("mc")


def populate(root: Path | None = None, n_layers: int = 2) -> dict[str, str]:
    """Four runs of three keys: ma twice (the newer current), mb without a data fingerprint (an old row)."""
    st = ResultStore(root)
    t = 1_700_000_000.0
    ids = {}
    for name, score, key in (("a_old", make("ma", 0.1, t, n_layers=n_layers), KEY_A),
                             ("a_new", make("ma", 0.2, t + 10, n_layers=n_layers), KEY_A),
                             ("b", make("mb", 0.3, t + 20, data=False, n_layers=n_layers), KEY_B),
                             ("c", make("mc", 0.4, t + 30, n_layers=n_layers), KEY_C)):
        ids[name] = st.put(score, key).meta["run_id"]
    return ids


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "memscore.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


def one_line_error(r: subprocess.CompletedProcess, *needles: str) -> str:
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def files(folder: Path) -> dict[str, str]:
    """Every file below ``folder`` with the hash of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(folder).rglob("*")) if p.is_file()}


EMPTY = hashlib.sha256(b"").hexdigest()


def unchanged(before: dict[str, str], after: dict[str, str]) -> bool:
    """Every file as before; new files only SQLite's own side files of a reader (WAL index, an empty WAL)."""
    new = {k: v for k, v in after.items() if k not in before}
    return {k: v for k, v in after.items() if k in before} == before and all(
        k == "results.sqlite-shm" or (k == "results.sqlite-wal" and v == EMPTY) for k, v in new.items())


def listed(env: dict | None = None) -> tuple[list[str], list[str]]:
    """(every run_id, the current run_ids) as `memscore results --format json` lists them."""
    everything = cli("results", "--history", "--format", "json", env=env)
    current = cli("results", "--format", "json", env=env)
    assert everything.returncode == 0 and current.returncode == 0, (everything.stderr, current.stderr)
    return (sorted(s["meta"]["run_id"] for s in json.loads(everything.stdout)),
            sorted(s["meta"]["run_id"] for s in json.loads(current.stdout)))


def expected(ids: dict[str, str]) -> tuple[list[str], list[str]]:
    return sorted(ids.values()), sorted([ids["a_new"], ids["b"], ids["c"]])


# ----------------------------------------------------------------------------------------------- mounts
@pytest.fixture
def mounts():
    """mount(args..., target): mounts, or skips the test saying why; all unmounted afterwards."""
    targets: list[str] = []

    def mount(*args: str) -> None:
        r = subprocess.run(["mount", *args], capture_output=True, text=True)
        if r.returncode:
            pytest.skip(f"mounting is not permitted here ({(r.stderr or r.stdout).strip()})")
        if "remount" not in ",".join(args):
            targets.append(args[-1])

    yield mount
    for target in reversed(targets):
        subprocess.run(["umount", target], capture_output=True)
        if os.path.ismount(target):
            subprocess.run(["umount", "-l", target], capture_output=True)


def tmpfs(mount, folder: Path, size: str = "4m") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder))
    return folder


def fill(folder: Path) -> None:
    """Write a file until the disk is full."""
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    assert os.statvfs(folder).f_bavail == 0


# ------------------------------------------------------------------------------------- damaged database
def _damage(db: Path, kind: str) -> None:
    data = db.read_bytes()
    rnd = random.Random(0)
    assert len(data) >= 5 * 4096, "the fixture database is too small to damage realistically"
    if kind == "garbage":
        data = rnd.randbytes(len(data))
    elif kind == "truncated-header":
        data = data[:50]
    elif kind == "truncated-half":
        data = data[: len(data) // 2]
    elif kind == "malformed-page":  # page 2 (the root of the runs table) overwritten with noise
        data = data[:4096] + rnd.randbytes(4096) + data[8192:]
    db.write_bytes(data)


DAMAGE = ["garbage", "truncated-header", "truncated-half", "malformed-page"]


@pytest.fixture
def damaged_home(memscore_home, request):
    ids = populate(n_layers=60)  # several pages, so a cut or a noisy page hits real data
    db = memscore_home / "results.sqlite"
    assert not db.with_name("results.sqlite-wal").exists()  # closed cleanly: the file holds everything
    runs_before = files(memscore_home / "runs")
    _damage(db, request.param)
    return ids, db, db.read_bytes(), runs_before


@pytest.mark.parametrize("damaged_home", DAMAGE, indirect=True)
@pytest.mark.parametrize("command", [["results"], ["results", "--history", "--format", "json"], ["collect"]])
def test_damaged_database_is_one_line_naming_it_and_the_rebuild(damaged_home, command, memscore_home):
    ids, db, damaged_bytes, runs_before = damaged_home
    one_line_error(cli(*command), str(db), "damaged", "memscore collect --rebuild")
    assert db.read_bytes() == damaged_bytes  # neither healed behind the user's back nor made worse
    assert files(memscore_home / "runs") == runs_before


@pytest.mark.parametrize("damaged_home", DAMAGE, indirect=True)
def test_damaged_database_through_the_api_is_a_store_error(damaged_home):
    ids, db, damaged_bytes, _ = damaged_home
    st = ResultStore()
    for call in (st.query, lambda: st.get(KEY_A), lambda: st.history(KEY_A),
                 lambda: st.put(make("new", 0.9, time.time()), KEY("new"), write_json=False)):
        with pytest.raises(StoreDamagedError) as info:
            call()
        assert isinstance(info.value, MemscoreError) and "\n" not in str(info.value) and str(db) in str(info.value)
    assert db.read_bytes() == damaged_bytes


@pytest.mark.parametrize("damaged_home", DAMAGE, indirect=True)
def test_rebuild_moves_the_damaged_file_aside_and_restores_every_run(damaged_home, memscore_home):
    ids, db, damaged_bytes, runs_before = damaged_home
    r = cli("collect", "--rebuild")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    aside = sorted(memscore_home.glob("results.sqlite.damaged-*"))
    assert [p.name for p in aside if not p.name.endswith(("-wal", "-shm"))] and \
        aside[0].read_bytes() == damaged_bytes  # kept, byte for byte
    assert "4 runs from 4 run files, 0 skipped" in r.stdout
    assert listed() == expected(ids)  # history and current flags as before the damage
    assert files(memscore_home / "runs") == runs_before
    assert ResultStore().get(KEY_A).meta["run_id"] == ids["a_new"]


def test_rebuild_makes_the_newest_created_current_whatever_the_file_order(memscore_home):
    st = ResultStore()
    made = {c: st.put(make("ma", c / 1000, c), KEY_A).meta["run_id"] for c in (300.0, 100.0, 200.0)}
    runs_before = files(memscore_home / "runs")
    _damage_small = memscore_home / "results.sqlite"
    _damage_small.write_bytes(b"this is not a database at all" * 10)
    r = cli("collect", "--rebuild")
    assert r.returncode == 0, r.stderr
    assert [s.meta["run_id"] for s in ResultStore().query(model="ma")] == [made[300.0]]
    assert [s.meta["created"] for s in ResultStore().history(KEY_A)] == [100.0, 200.0, 300.0]
    assert files(memscore_home / "runs") == runs_before


def test_rebuild_keeps_rows_that_only_the_old_database_held(memscore_home):
    ids = populate()
    only_db = ResultStore().put(make("md", 0.5, 1_700_000_100.0), KEY("md"),
                                write_json=False).meta["run_id"]
    runs_before = files(memscore_home / "runs")
    db_before = (memscore_home / "results.sqlite").read_bytes()
    r = cli("collect", "--rebuild")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    aside = [p for p in memscore_home.glob("results.sqlite.replaced-*") if not p.name.endswith(("-wal", "-shm"))]
    assert len(aside) == 1 and aside[0].read_bytes() == db_before  # a sound database: moved aside as "replaced"
    everything, current = listed()
    assert everything == sorted([*ids.values(), only_db]) and only_db in current
    after = files(memscore_home / "runs")
    assert {k: v for k, v in after.items() if k in runs_before} == runs_before
    assert len(after) == len(runs_before) + 1  # the row that had no run file now has one


def test_empty_database_with_run_files_says_how_to_get_them_back(memscore_home):
    ids = populate()
    (memscore_home / "results.sqlite").write_bytes(b"")  # cut to nothing: an empty database to SQLite
    r = cli("results")
    assert r.returncode == 0 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "memscore collect --rebuild" in lines[0]
    assert cli("collect", "--rebuild").returncode == 0
    assert listed() == expected(ids)


# ---------------------------------------------------------------------------------------- unreadable row
BAD_ROWS = {"not-json": "{this is not json", "json-list": "[1, 2, 3]", "not-a-score": '{"model": "ma"}',
            "value-not-a-number": '{"model": "ma", "benchmark": "b", "benchmark_version": "1", "value": "high"}'}


def _spoil(db: Path, run_id: str, text: str) -> None:
    con = sqlite3.connect(db)
    with con:
        con.execute("UPDATE runs SET score = ? WHERE run_id = ?", (text, run_id))
    con.close()


def _raw_rows(db: Path) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT run_id, key, current, score FROM runs ORDER BY run_id").fetchall()
    finally:
        con.close()


@pytest.mark.parametrize("bad", list(BAD_ROWS), ids=list(BAD_ROWS))
@pytest.mark.parametrize("spoiled", ["a_old", "b"])
def test_unreadable_row_is_skipped_with_one_notice_naming_it(bad, spoiled, memscore_home):
    ids = populate()
    db = memscore_home / "results.sqlite"
    _spoil(db, ids[spoiled], BAD_ROWS[bad])
    rows_before, runs_before = _raw_rows(db), files(memscore_home / "runs")
    r = cli("results", "--history", "--format", "json")
    assert r.returncode == 0 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and ids[spoiled] in lines[0], r.stderr
    assert sorted(s["meta"]["run_id"] for s in json.loads(r.stdout)) == sorted(
        v for k, v in ids.items() if k != spoiled)
    table = cli("results")
    assert table.returncode == 0 and len(table.stdout.strip().splitlines()) == 2 + (3 if spoiled == "a_old" else 2)
    assert _raw_rows(db) == rows_before and files(memscore_home / "runs") == runs_before  # nothing altered


def test_get_with_an_unreadable_current_row_is_missing_with_a_notice(memscore_home, capsys):
    ids = populate()
    db = memscore_home / "results.sqlite"
    _spoil(db, ids["b"], "{garbage")
    rows_before = _raw_rows(db)
    st = ResultStore()
    assert st.get(KEY_B) is None
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and ids["b"] in err[0] and "Traceback" not in err[0]
    assert st.get(KEY_A).meta["run_id"] == ids["a_new"]  # the others are served
    assert [s.meta["run_id"] for s in st.history(KEY_A)] == [ids["a_old"], ids["a_new"]]
    assert _raw_rows(db) == rows_before


# ------------------------------------------------------------------------------------------ read-only
def _ro_folder(mount, home: Path, tmp: Path) -> dict:
    tmpfs(mount, home)
    ids = populate()
    mount("-o", "remount,ro", str(home))
    return ids


def _ro_folder_live_wal(mount, home: Path, tmp: Path) -> dict:
    """A read-only copy taken while a process held the database open: recent rows live in the -wal file."""
    staging = tmp / "staging"
    holder = sqlite3.connect(ResultStore(staging).db_path, isolation_level=None)
    holder.execute("PRAGMA journal_mode = WAL")
    holder.execute("BEGIN")
    holder.execute("SELECT count(*) FROM sqlite_master").fetchall()  # an open read: no checkpoint gets past it
    ids = populate(staging)
    assert (staging / "results.sqlite-wal").stat().st_size > 0
    tmpfs(mount, home)
    for p in staging.rglob("*"):
        if p.is_file():
            (home / p.relative_to(staging)).parent.mkdir(parents=True, exist_ok=True)
            (home / p.relative_to(staging)).write_bytes(p.read_bytes())
    holder.close()
    mount("-o", "remount,ro", str(home))
    return ids


def _ro_db_file(mount, home: Path, tmp: Path) -> dict:
    ids = populate()
    db = str(home / "results.sqlite")
    mount("--bind", db, db)
    mount("-o", "remount,ro,bind", db)
    return ids


READ_ONLY = {"read-only-folder": _ro_folder, "read-only-folder-live-wal": _ro_folder_live_wal,
             "read-only-database-file": _ro_db_file}


@pytest.fixture(params=list(READ_ONLY))
def read_only_home(request, mounts, memscore_home, tmp_path):
    ids = READ_ONLY[request.param](mounts, memscore_home, tmp_path)
    blocked = memscore_home / ("results.sqlite" if request.param == "read-only-database-file" else "")
    return ids, blocked, files(memscore_home)


def test_read_only_home_serves_reads(read_only_home, memscore_home):
    ids, _, before = read_only_home
    assert listed() == expected(ids)
    r = cli("results", "--history")
    assert r.returncode == 0 and r.stderr == "" and len(r.stdout.strip().splitlines()) == 2 + 4
    st = ResultStore()
    assert st.get(KEY_A).meta["run_id"] == ids["a_new"]
    assert [s.meta["run_id"] for s in st.history(KEY_A)] == [ids["a_old"], ids["a_new"]]
    assert len(st.query()) == 3 and len(st.query(all_versions=True)) == 4
    assert unchanged(before, files(memscore_home))


@pytest.mark.parametrize("command", [["collect"], ["collect", "--rebuild"]])
def test_read_only_home_refuses_writes_in_one_line(read_only_home, command, memscore_home):
    ids, blocked, before = read_only_home
    one_line_error(cli(*command), f"{blocked} is read-only", "MEMSCORE_HOME")
    with pytest.raises(StoreReadOnlyError) as info:
        ResultStore().put(make("new", 0.9, time.time()), KEY("new"))
    assert str(blocked) in str(info.value) and "\n" not in str(info.value)
    assert unchanged(before, files(memscore_home))
    assert listed() == expected(ids)


def test_home_that_cannot_be_created_is_one_line(tmp_path, mounts):
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    ro = tmpfs(mounts, tmp_path / "ro")
    mounts("-o", "remount,ro", str(ro))
    for home in (a_file / "home", ro / "home"):
        for command in (["results"], ["collect"]):
            one_line_error(cli(*command, env={"MEMSCORE_HOME": str(home)}), str(home), "cannot create",
                           "MEMSCORE_HOME")
        assert not home.exists()


# ------------------------------------------------------------------------------------------ full disk
@pytest.mark.parametrize("where", ["run-file", "database"])
def test_full_disk_while_storing_is_one_line_and_keeps_what_was_stored(where, mounts, memscore_home):
    tmpfs(mounts, memscore_home, size="256k")
    ids = populate()
    fill(memscore_home)
    before = files(memscore_home / "runs")
    with pytest.raises(StoreDiskFullError) as info:
        ResultStore().put(make("new", 0.9, time.time()), KEY("new"),
                          write_json=where == "run-file")
    msg = str(info.value)
    assert "\n" not in msg and "disk is full" in msg and str(memscore_home) in msg
    assert files(memscore_home / "runs") == before  # no temp file left, no run file touched
    assert not [p for p in memscore_home.rglob("*") if ".tmp" in p.name]
    assert listed() == expected(ids)  # everything stored before is still readable (CLI)
    assert len(ResultStore().query(all_versions=True)) == 4


def test_full_disk_while_collecting_is_one_line(mounts, memscore_home, tmp_path):
    tmpfs(mounts, memscore_home, size="256k")
    ids = populate()
    job = tmp_path / "job"
    ResultStore(job).put(make("mj", 0.7, 1_700_000_500.0), KEY("mj"))
    fill(memscore_home)
    before = files(memscore_home / "runs")
    one_line_error(cli("collect", str(job / "runs")), str(memscore_home), "disk is full")
    assert files(memscore_home / "runs") == before
    assert listed() == expected(ids)


# ----------------------------------------------------------------------------------------- temp files
@pytest.mark.parametrize("failure", [OSError(errno.EIO, "Input/output error"), RuntimeError("boom"),
                                     KeyboardInterrupt()], ids=["io-error", "bug", "interrupt"])
def test_failed_run_file_write_removes_its_temp_file(failure, memscore_home, monkeypatch):
    ids = populate()
    before = files(memscore_home / "runs")

    def fail(fd):
        raise failure

    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", fail)
        with pytest.raises(StoreError if isinstance(failure, OSError) else type(failure)) as info:
            ResultStore().put(make("new", 0.9, time.time()), KEY("new"))
    if isinstance(failure, OSError):
        assert "\n" not in str(info.value) and str(memscore_home / "runs" / "b") in str(info.value)
    assert files(memscore_home / "runs") == before  # neither the temp file nor a partial run file
    assert listed() == expected(ids)


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_stale_temp_files_are_removed_when_the_store_is_opened_or_written(memscore_home):
    populate()
    folder = memscore_home / "runs" / "b"
    before = files(memscore_home / "runs")
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        hour_ago = time.time() - 2 * 3600
        names = {f".x.json.tmp{_dead_pid()}": False,  # its writer is gone
                 f".y.json.tmp{live.pid}": True,  # a run writing right now
                 f".z.json.tmp{live.pid}-old": None,  # not one of ours: kept
                 f".w.json.tmp{live.pid}": False,  # live pid but hours old (the pid was reused)
                 "tmpab12cd.tmp": False,  # an older release's temp name, hours old
                 "tmpef34gh.tmp": True,  # ... and a fresh one
                 "notes.tmp": None}
        for name in names:
            (folder / name).write_text("partial")
        for name in (f".w.json.tmp{live.pid}", "tmpab12cd.tmp", "notes.tmp"):
            os.utime(folder / name, (hour_ago, hour_ago))
        ResultStore()
        assert {n for n in names if (folder / n).exists()} == {n for n, keep in names.items() if keep is not False}
        # the next write of a store opened before a run was killed removes its temp file too
        st = ResultStore()
        (folder / f".v.json.tmp{_dead_pid()}").write_text("partial")
        st.put(make("new", 0.9, time.time()), KEY("new"))
        assert not list(folder.glob(".v.json.tmp*"))
    finally:
        live.kill()
        live.wait()
    after = files(memscore_home / "runs")
    assert {k: v for k, v in after.items() if k in before} == before


# --------------------------------------------------------------------------------------------- collect
def _bad_files(tmp_path: Path) -> dict[str, tuple[bytes, str]]:
    no_run_id = make("mz", 0.5, 1.0).to_json().encode()  # a score written by hand: no run_id, no key
    return {"broken.json": (b'{"model": "m", "value": ', "not JSON"),
            "empty.json": (b"", "not JSON"),
            "binary.json": (b"\xff\xfe\x00\x01", "not JSON"),
            "list.json": (b"[1, 2]", "not a memscore score"),
            "config.json": (b'{"lr": 0.1}', "not a memscore score"),
            "hand-made.json": (no_run_id, "not a run file: its meta has no run_id or key")}


@pytest.mark.parametrize("bad", list(_bad_files(Path("."))))
def test_collect_lists_and_skips_files_that_are_not_run_files(bad, memscore_home, tmp_path):
    ids = populate()
    job = tmp_path / "job"
    good = ResultStore(job).put(make("mj", 0.7, 1_700_000_500.0), KEY("mj"))
    content, why = _bad_files(tmp_path)[bad]
    (job / "runs" / "b" / bad).write_bytes(content)
    job_before, runs_before = files(job), files(memscore_home / "runs")
    r = cli("collect", str(job / "runs"))
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "1 new of 1 run files, 1 skipped"
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"skipped {job / 'runs' / 'b' / bad}: {why}"), r.stderr
    assert files(job) == job_before  # the collected folder is left as it was
    after = files(memscore_home / "runs")
    assert {k: v for k, v in after.items() if k in runs_before} == runs_before and len(after) == len(runs_before) + 1
    everything, current = listed()
    assert everything == sorted([*ids.values(), good.meta["run_id"]])
    # a bad file inside the store's own runs/ is skipped the same way, and is still there afterwards
    (memscore_home / "runs" / "b" / bad).write_bytes(content)
    r = cli("collect")
    assert r.returncode == 0 and r.stdout.strip().splitlines()[-1] == "0 new of 5 run files, 1 skipped"
    assert (memscore_home / "runs" / "b" / bad).read_bytes() == content


# ------------------------------------------------------------------------------------ results columns
def test_results_shows_the_short_data_fingerprint_and_keeps_rows_without_one(memscore_home):
    populate()
    r = cli("results", "--history", "--format", "csv")
    assert r.returncode == 0 and r.stderr == ""
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) == 4
    assert {row["model"]: row["data"] for row in rows} == {"ma": FP[:10], "mb": "", "mc": FP[:10]}
    table = cli("results").stdout.splitlines()
    assert table[0].split()[9] == "data" and any(FP[:10] in line for line in table[2:])  # after "95% CI"
    assert any(line.startswith("mb ") for line in table[2:])  # an old row without a fingerprint stays visible


# ------------------------------------------------------------------------------------ other sqlite errors
def test_other_sqlite_errors_are_one_store_error_line(memscore_home, tmp_path):
    assert issubclass(StoreError, MemscoreError)
    memscore_home.mkdir(parents=True)
    con = sqlite3.connect(memscore_home / "results.sqlite")
    con.execute("CREATE TABLE runs (x)")  # a database of another shape
    con.execute("INSERT INTO runs VALUES ('kept')")
    con.commit()
    con.close()
    job = tmp_path / "job"
    ResultStore(job).put(make("mj", 0.7, 1_700_000_500.0), KEY("mj"))
    one_line_error(cli("collect", str(job / "runs")), str(memscore_home / "results.sqlite"))
    one_line_error(cli("results"), str(memscore_home / "results.sqlite"))
    with pytest.raises(StoreError):
        ResultStore().query()
    con = sqlite3.connect(memscore_home / "results.sqlite")
    assert con.execute("SELECT name, sql FROM sqlite_master").fetchall() == [("runs", "CREATE TABLE runs (x)")]
    assert con.execute("SELECT * FROM runs").fetchall() == [("kept",)]
    con.close()
