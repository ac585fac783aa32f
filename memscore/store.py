"""Result store: the run files (:mod:`memscore.runfiles`, the truth) indexed by SQLite (``results.sqlite``).

A new score for a key keeps the earlier rows as history (``current = 0``); nothing stored is ever deleted or
overwritten. SQLite runs in WAL mode with a busy timeout; every write is one ``BEGIN IMMEDIATE`` transaction,
so concurrent writers serialise. ``collect`` merges run files from elsewhere (checked on the way in); a
damaged database is moved aside and rebuilt from the run files (``memscore collect --rebuild``). Every fault a
user can cause is one :class:`StoreError` line; a read-only home is read, an unreadable row skipped with a notice.
"""
from __future__ import annotations

import json
import os
import random
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import quote

from . import paths
from .notice import notice
from .runfiles import (_FULL_ERRNOS, RunFiles, RunFileStore, StoreDamagedError, StoreDiskFullError,  # noqa: F401
                       StoreError, StoreReadOnlyError, _inside, _score, _stamp, _why)
from .scores import Score
from .sqlite_errors import _errname, _is_full, _remove_db

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    model TEXT NOT NULL,
    weights TEXT NOT NULL,
    benchmark TEXT NOT NULL,
    benchmark_version TEXT NOT NULL,
    config TEXT NOT NULL,
    value REAL, error REAL, ceiling REAL, raw REAL,
    created REAL NOT NULL,
    current INTEGER NOT NULL DEFAULT 1,
    score TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_key ON runs(key, current);
CREATE INDEX IF NOT EXISTS runs_model ON runs(model, benchmark);
CREATE TABLE IF NOT EXISTS layers (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    idx INTEGER NOT NULL,
    layer TEXT NOT NULL,
    value REAL, error REAL,
    PRIMARY KEY (run_id, idx)
);
"""

class ResultStore(RunFiles):
    """The run files plus their SQLite index (``results.sqlite``): the default store."""

    def __init__(self, root: Path | str | None = None, *, create: bool = True):
        self.db_path = (Path(root) if root else paths.home()) / "results.sqlite"
        self._schema_ok = False
        super().__init__(root)

    # -- state -----------------------------------------------------------------------------
    @property
    def writable(self) -> bool:
        """Whether results can be stored here (the folder, and the database file if there is one)."""
        if not self._dir_writable(self.root):
            return False
        return not self.db_path.exists() or os.access(self.db_path, os.W_OK)

    def _read_only_error(self, path: Path | None = None) -> StoreReadOnlyError:
        if path is None:
            path = self.root if not self._dir_writable(self.root) else (
                self.db_path if self.db_path.exists() and not os.access(self.db_path, os.W_OK) else self.root)
        what = "the result folder" if Path(path).is_dir() else "the result database"
        return StoreReadOnlyError(f"{what} {path} is read-only, so results cannot be stored there (reading them "
                                  f"still works); set MEMSCORE_HOME to a writable folder")

    def _damaged_error(self, why: str) -> StoreDamagedError:
        why = " ".join(why.replace("***", "").split())
        return StoreDamagedError(f"the result database {self.db_path} is damaged ({why}); run "
                                 f"`memscore collect --rebuild` to rebuild it from the run files in "
                                 f"{self.runs_dir} (the damaged file is kept aside)")

    def _translate(self, exc: sqlite3.Error) -> StoreError:
        """A sqlite3 error as one line naming the database and what to do."""
        name = _errname(exc)
        msg = " ".join(str(exc).split())
        if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
            return self._damaged_error(msg)
        if _is_full(exc, self.root):
            return self._disk_full_error(self.root)
        if name.startswith("SQLITE_READONLY"):
            return self._read_only_error()
        if name.startswith("SQLITE_CANTOPEN"):
            return StoreError(f"cannot open the result database {self.db_path} ({msg}); check that "
                              f"{self.root} and the file can be read")
        if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
            return StoreError(f"the result database {self.db_path} stayed locked by another process ({msg}); "
                              f"try again when the other memscore run has finished")
        return StoreError(f"the result database {self.db_path} cannot be used: {msg}")

    # -- connections -----------------------------------------------------------------------
    def _create(self, wait_s: float = 60.0) -> None:
        """WAL mode (kept in the file) and the schema. Switching a new database to WAL needs it to
        itself, and SQLite answers "database is locked" at once rather than waiting when another
        process is opening it too (two runs started together), so that step is retried."""
        deadline = time.monotonic() + wait_s
        while True:
            con = self._connect()
            try:
                if con.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    con.execute("PRAGMA journal_mode = WAL")
                con.executescript(SCHEMA)
                self._schema_ok = True
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
            finally:
                con.close()
            time.sleep(0.02 + 0.08 * random.random())

    def _connect(self, path: Path | None = None) -> sqlite3.Connection:
        con = sqlite3.connect(path or self.db_path, timeout=60, isolation_level=None)
        con.execute("PRAGMA busy_timeout = 60000")
        return con

    def _connect_ro(self, immutable: bool = False) -> sqlite3.Connection:
        """A read-only connection. ``immutable`` when even the WAL index (-shm) cannot be created
        (a read-only folder or a full disk): SQLite then reads the database file alone."""
        uri = f"file:{quote(str(self.db_path.absolute()))}?mode=ro" + ("&immutable=1" if immutable else "")
        con = sqlite3.connect(uri, uri=True, timeout=60, isolation_level=None)
        con.execute("PRAGMA busy_timeout = 60000")
        return con

    @contextmanager
    def _write_db(self) -> Iterator[sqlite3.Connection]:
        """A connection for one write; any SQLite error becomes one :class:`StoreError` line."""
        self._require_writable()
        try:
            self._check_header()
            if not self._schema_ok:
                self._create()
            con = self._connect()
        except sqlite3.Error as exc:
            raise self._translate(exc) from None
        try:
            yield con
        except sqlite3.Error as exc:
            raise self._translate(exc) from None
        except OSError as exc:
            if exc.errno in _FULL_ERRNOS:
                raise self._disk_full_error(self.root) from None
            raise
        finally:
            con.close()

    def _rows(self, sql: str, args: tuple | list = ()) -> list[tuple]:
        """Rows of a read; never writes (a missing database or table reads as empty). A store that cannot
        be written is opened read-only; where SQLite cannot even create its WAL index (-shm: a read-only
        folder, a full disk) the database file is read alone (``immutable``)."""
        if not self.db_path.exists():
            return []
        self._check_header()
        for mode in ("rw" if self.writable else "ro", "immutable"):
            con = None
            try:
                con = self._connect() if mode == "rw" else self._connect_ro(immutable=mode == "immutable")
                rows = con.execute(sql, args).fetchall()
                if mode == "immutable" and self._wal_pending():
                    notice(f"{self.db_path} is read without its write-ahead log (it cannot be opened here): "
                           f"results stored since its last checkpoint are not shown")
                return rows
            except sqlite3.Error as exc:
                if "no such table" in str(exc):
                    self._empty_notice()
                    return []
                name = _errname(exc)
                if mode != "immutable" and name.startswith(
                        ("SQLITE_CANTOPEN", "SQLITE_READONLY", "SQLITE_IOERR", "SQLITE_FULL")):
                    continue
                raise self._translate(exc) from None
            finally:
                if con is not None:
                    con.close()
        return []

    def _empty_notice(self) -> None:
        """A database without tables (e.g. cut to nothing) while run files exist: say how to get them back."""
        try:
            has_runs = next(self._json_files([self.runs_dir]), None) is not None
        except OSError:
            has_runs = False
        if has_runs:
            notice(f"the result database {self.db_path} holds no results but {self.runs_dir} holds run files; "
                   f"`memscore collect --rebuild` adds them")

    def _wal_pending(self) -> bool:
        wal = self.db_path.with_name(self.db_path.name + "-wal")
        try:
            return wal.stat().st_size > 0
        except OSError:
            return False

    def _check_header(self, retry: bool = True) -> None:
        """A database file that is not SQLite, or shorter than its own header says (cut off by a full disk
        or a copy), is damaged; SQLite itself would only notice when a query touches a missing page."""
        if self._wal_pending():
            return  # the file of a database with a live WAL may lag behind its header; SQLite checks it then
        try:
            with open(self.db_path, "rb") as f:
                head = f.read(100)
                size = os.fstat(f.fileno()).st_size
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StoreError(f"cannot read the result database {self.db_path} ({exc.strerror or exc})") from None
        if size == 0 or self._wal_pending():
            return  # an empty file is an empty database; a writer started meanwhile
        why = None
        if len(head) < 100 or not head.startswith(b"SQLite format 3\x00"):
            why = "file is not a database"
        else:
            page = int.from_bytes(head[16:18], "big")
            page = 65536 if page == 1 else page
            pages = int.from_bytes(head[28:32], "big")
            if head[24:28] == head[92:96] and pages and size < page * pages:  # the in-header size is valid
                why = f"file is truncated: {size} of {page * pages} bytes"
        if why:
            if retry:  # a checkpoint of another process may have been extending the file just then
                time.sleep(0.05)
                return self._check_header(retry=False)
            raise self._damaged_error(why)

    # -- reading ---------------------------------------------------------------------------
    def _parse(self, run_id: str, text: str) -> Score | None:
        try:
            return _score(json.loads(text))
        except Exception as exc:  # noqa: BLE001 - one bad row never hides the others
            notice(f"skipped the unreadable stored result {run_id} in {self.db_path} ({_why(exc)}); "
                   f"`memscore collect --rebuild` restores it if its run file is intact")
            return None

    def _scores(self, rows: list[tuple]) -> list[Score]:
        return [s for s in (self._parse(r[0], r[1]) for r in rows) if s is not None]

    def get(self, key: str) -> Score | None:
        rows = self._rows("SELECT run_id, score FROM runs WHERE key = ? AND current = 1 "
                          "ORDER BY created DESC LIMIT 1", (key,))
        return self._parse(*rows[0]) if rows else None

    def history(self, key: str) -> list[Score]:
        return self._scores(self._rows("SELECT run_id, score FROM runs WHERE key = ? ORDER BY created", (key,)))

    def query(self, model: str | None = None, benchmark: str | None = None,
              all_versions: bool = False) -> list[Score]:
        sql, args = "SELECT run_id, score FROM runs WHERE 1=1", []
        if not all_versions:
            sql += " AND current = 1"
        if model:
            sql += " AND model = ?"
            args.append(model)
        if benchmark:
            sql += " AND benchmark = ?"
            args.append(benchmark)
        return self._scores(self._rows(sql + " ORDER BY benchmark, model, created", args))

    # -- writing ---------------------------------------------------------------------------
    def put(self, score: Score, key: str, *, write_json: bool = True) -> Score:
        """Store ``score`` as the current result for ``key``; earlier rows become history."""
        self._require_writable()
        _stamp(score, key)
        path = self._write_json(score) if write_json else None
        try:
            self._insert(score)
        except StoreDiskFullError:
            if path is None:
                raise
            raise self._disk_full_error(self.root, f" (the run file {path} was written; `memscore collect` adds "
                                                   f"it to the database once there is space)") from None
        return score

    def _insert(self, score: Score) -> bool:
        with self._write_db() as con:
            try:
                con.execute("BEGIN IMMEDIATE")
                added = self._insert_row(con, score)
                con.execute("COMMIT" if added else "ROLLBACK")
                return added
            except BaseException:
                if con.in_transaction:
                    try:
                        con.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
                raise

    @staticmethod
    def _insert_row(con: sqlite3.Connection, score: Score, current: bool | None = None) -> bool:
        """Insert one run inside an open transaction; False when its run_id is stored already.
        ``current`` None: current unless a newer row of its key exists (which stays current)."""
        meta = score.meta
        if con.execute("SELECT 1 FROM runs WHERE run_id = ?", (meta["run_id"],)).fetchone():
            return False
        if current is None:
            newer = con.execute(
                "SELECT 1 FROM runs WHERE key = ? AND created > ?", (meta["key"], meta["created"])
            ).fetchone()
            if not newer:
                con.execute("UPDATE runs SET current = 0 WHERE key = ?", (meta["key"],))
            current = not newer
        con.execute(
            "INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (meta["run_id"], meta["key"], score.model, str(meta.get("weights", "")), score.benchmark,
             score.benchmark_version, json.dumps(meta.get("config", {}), sort_keys=True, default=str),
             score.value, score.error, score.ceiling, score.raw, meta["created"],
             1 if current else 0, _index_json(score)),
        )
        con.executemany(
            "INSERT INTO layers VALUES (?,?,?,?,?)",
            [(meta["run_id"], i, str(r.get("layer")), r.get("value"), r.get("error"))
             for i, r in enumerate(score.to_dict()["layers"])],
        )
        return True

    # -- collecting and rebuilding ---------------------------------------------------------
    def collect(self, folders: list[Path] | None = None, *,
                on_skip: Callable[[Path, str], None] | None = None) -> tuple[int, int]:
        """Merge run JSON files (e.g. from cluster jobs) into the database; returns (added, seen).

        A ``.json`` file that is not a run file (not JSON, not a score, no run_id/key) is skipped and
        reported to ``on_skip(path, why)`` (default: one notice each). Run files from folders outside
        ``runs/`` are copied into it, so ``runs/`` keeps every stored run (what :meth:`rebuild` reads)."""
        self._require_writable()
        on_skip = on_skip or (lambda p, why: notice(f"skipped {p}: {why}"))
        self._quick_check()
        added = seen = 0
        for path, score in self._run_files(folders or [self.runs_dir], on_skip):
            seen += 1
            foreign = not _inside(path, self.runs_dir)
            if foreign and (why := self._disagrees(score)):
                on_skip(path, why)  # one key, two runs: the stored one stays current
                continue
            added += self._insert(score)
            if foreign:
                self._keep_copy(score)
        return added, seen

    def _disagrees(self, score: Score) -> str:
        """Why a run from elsewhere must not replace the stored run of its key: another run with another
        value ('' when there is none, or it is the same run or the same numbers)."""
        from .runcheck import same_numbers

        stored = self.get(score.meta["key"])
        if stored is None or stored.meta.get("run_id") == score.meta.get("run_id") or same_numbers(stored, score):
            return ""
        return (f"left out: its key has a stored run ({str(stored.meta.get('run_id'))[:12]}, value "
                f"{stored.value}) and this run ({str(score.meta.get('run_id'))[:12]}) says {score.value}; the stored "
                f"run stays current (recompute with `memscore score --force` to settle it)")

    def _quick_check(self) -> None:
        """Damage a merge would not touch (its lookups go through indexes) still stops it: one line."""
        with self._write_db() as con:
            row = con.execute("PRAGMA quick_check(1)").fetchone()
        if not row or row[0] != "ok":
            raise self._damaged_error(str(row[0] if row else "quick_check answered nothing")[:200])

    def _keep_copy(self, score: Score) -> None:
        if self._json_path(score).exists():
            return
        try:
            self._write_json(score)
        except StoreError:
            if not self._json_path(score).exists():
                raise  # read-only runs/, a full disk: said in one line
            # the file is there already (an earlier collect of the same run): nothing to copy

    def rebuild(self, *, on_skip: Callable[[Path, str], None] | None = None) -> dict[str, Any]:
        """Build a fresh database from the run files under ``runs/`` (the newest ``created`` of each key is
        current) and put it in place of the old one, which is moved aside (``results.sqlite.damaged-<time>``,
        or ``.replaced-<time>`` when it was sound), never deleted. Rows that only the old database holds and
        that can still be read are written as run files first, so nothing readable is lost.
        Returns {"added", "seen", "salvaged", "moved_to"}."""
        self._require_writable()
        on_skip = on_skip or (lambda p, why: notice(f"skipped {p}: {why}"))
        damaged, salvaged = self._salvage()
        tmp = self.root / f".{self.db_path.name}.rebuild.tmp{os.getpid()}"
        added = seen = 0
        try:
            _remove_db(tmp)
            con = self._connect(tmp)
            try:
                con.executescript(SCHEMA)
                con.execute("BEGIN IMMEDIATE")
                for _, score in self._run_files([self.runs_dir], on_skip):
                    seen += 1
                    added += self._insert_row(con, score, current=False)
                con.execute("UPDATE runs SET current = (created = (SELECT MAX(r.created) FROM runs r "
                            "WHERE r.key = runs.key))")
                con.execute("COMMIT")
                con.execute("PRAGMA journal_mode = WAL")
            finally:
                con.close()
        except BaseException as exc:
            _remove_db(tmp)
            if isinstance(exc, sqlite3.Error):
                if _is_full(exc, self.root):
                    raise self._disk_full_error(self.root, " (the database was not rebuilt)") from None
                raise StoreError(f"cannot rebuild the result database in {self.root}: "
                                 f"{' '.join(str(exc).split())}") from None
            if isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS:
                raise self._disk_full_error(self.root, " (the database was not rebuilt)") from None
            raise
        moved_to = None
        if self.db_path.exists():
            moved_to = self.db_path.with_name(
                f"{self.db_path.name}.{'damaged' if damaged else 'replaced'}-{time.strftime('%Y%m%dT%H%M%S')}")
            while moved_to.exists():
                moved_to = moved_to.with_name(moved_to.name + "x")
            for suffix in ("-wal", "-shm", "-journal"):  # they belong to the old file: never apply them to the new one
                side = self.db_path.with_name(self.db_path.name + suffix)
                if side.exists():
                    os.replace(side, moved_to.with_name(moved_to.name + suffix))
            os.replace(self.db_path, moved_to)
        os.replace(tmp, self.db_path)
        self._schema_ok = False
        return {"added": added, "seen": seen, "salvaged": salvaged, "moved_to": moved_to}

    def _salvage(self) -> tuple[bool, int]:
        """(whether the old database is damaged, how many of its readable rows had no run file and were
        written as one)."""
        if not self.db_path.exists():
            return False, 0
        damaged, rows = False, []
        try:
            self._check_header()
        except StoreDamagedError:
            damaged = True
        con = None
        try:
            con = self._connect_ro()
            ok = con.execute("PRAGMA quick_check").fetchone()
            damaged = damaged or not ok or ok[0] != "ok"
            for row in con.execute("SELECT run_id, score FROM runs"):
                rows.append(row)
        except sqlite3.Error:
            damaged = True
        finally:
            if con is not None:
                con.close()
        have = {s.meta.get("run_id") for _, s in self._run_files([self.runs_dir], lambda p, why: None, check=False)}
        salvaged = 0
        for run_id, text in rows:
            if run_id in have:
                continue
            try:
                score = _score(json.loads(text))
            except Exception:  # noqa: BLE001 - what cannot be read is left in the moved-aside file
                continue
            if score.meta.get("run_id") == run_id and score.meta.get("key") and not self._json_path(score).exists():
                self._write_json(score)
                salvaged += 1
        return damaged, salvaged


#: ``MEMSCORE_STORE=files``: this process stores run files only (set for sweep jobs)
STORE_ENV = "MEMSCORE_STORE"
_FILE_STORES: dict[str, "RunFileStore"] = {}


def open_store(root: Path | str | None = None) -> ResultStore:
    """The store a run uses by default: the database, or the run files alone inside a sweep job."""
    mode = os.environ.get(STORE_ENV, "").strip().lower()
    if mode in ("", "db", "sqlite"):
        return ResultStore(root)
    if mode == "files":  # one per folder and process: a job's `written` lists every run file it stored
        folder = str(Path(root) if root else paths.home())
        if folder not in _FILE_STORES:
            _FILE_STORES[folder] = RunFileStore(folder)
        return _FILE_STORES[folder]
    raise StoreError(f"{STORE_ENV}={mode!r}: use 'files' (run files only) or leave it unset")


def _index_json(score: Score) -> str:
    """The run as its index row keeps it: the run file's JSON, large per-item outputs left in the file
    (:func:`memscore.items.index_form`; :meth:`RunFiles.items_of` reads them back, checked)."""
    from .items import index_form

    d = score.to_dict()
    if d.get("items") is not None:
        d["items"] = index_form(d["items"])
    return json.dumps(d)
