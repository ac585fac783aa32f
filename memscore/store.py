"""Result store: SQLite (``$MEMSCORE_HOME/results.sqlite``) plus one JSON file per run.

A run is keyed by (model, weights, benchmark, benchmark version, config). Storing a new score for a
key keeps the earlier rows as history (``current = 0``); nothing stored is ever deleted or overwritten.
Each run also lands as its own JSON file under ``runs/`` so cluster jobs never share a database file;
``collect`` merges such files back in. SQLite runs in WAL mode with a busy timeout, and every write is
one ``BEGIN IMMEDIATE`` transaction, so concurrent writers serialise and lose nothing.

The JSON run files are the source of truth: a damaged database is moved aside and rebuilt from them
(``memscore collect --rebuild``, :meth:`ResultStore.rebuild`). Every fault a user can cause is one
:class:`StoreError` line: a damaged database, a read-only or missing home, a full disk. Reading works on a
read-only home (the database is opened read-only); an unreadable row is skipped with one notice.
"""
from __future__ import annotations

import errno
import json
import os
import random
import re
import shutil
import sqlite3
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import quote

from . import atomic, paths
from .paths import safe_name
from .atomic import DiskFullError
from .errors import MemscoreError
from .notice import notice
from .record import SEAL_FIELD, run_key, seal
from .scores import Score

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

#: temp files of this store: ``.<name>.tmp<pid>`` (run files, rebuilt database with its journal) and the
#: ``tmpXXXX.tmp`` names of releases before that
_TMP_PID = re.compile(r"\.tmp(\d+)(-journal|-wal|-shm)?$")
_TMP_OLD = re.compile(r"^tmp[\w-]+\.tmp$")
STALE_S = 3600  # a store temp file this old is stale whatever its pid says (writing one takes milliseconds)
_READONLY_ERRNOS = (errno.EROFS, errno.EACCES, errno.EPERM)
_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


class StoreError(MemscoreError):
    """The result store cannot do what was asked (one line naming the file or folder and the fix)."""


class StoreDamagedError(StoreError):
    """The results database is not a database any more (truncated, overwritten, malformed)."""


class StoreReadOnlyError(StoreError):
    """The store's folder or database file cannot be written."""


class StoreDiskFullError(StoreError, DiskFullError):
    """No space left while storing a result."""


class ResultStore:
    def __init__(self, root: Path | str | None = None, *, create: bool = True):
        self.root = Path(root) if root else paths.home()
        self.db_path = self.root / "results.sqlite"
        self.runs_dir = self.root / "runs"
        self._schema_ok = False
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            if not self.root.is_dir():
                raise StoreError(f"cannot create the result folder {self.root} ({exc.strerror or exc}); "
                                 f"set MEMSCORE_HOME to a writable folder") from None
        if self._dir_writable(self.root):
            self._clean_temp()

    # -- state -----------------------------------------------------------------------------
    @staticmethod
    def _dir_writable(folder: Path) -> bool:
        return os.access(folder, os.W_OK | os.X_OK)

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

    def _disk_full_error(self, folder: Path, detail: str = "") -> StoreDiskFullError:
        return StoreDiskFullError(f"no space left in {folder}: the disk is full{detail}; results stored before "
                                  f"are unchanged; free some space or set MEMSCORE_HOME to a larger disk")

    def _damaged_error(self, why: str) -> StoreDamagedError:
        why = " ".join(why.replace("***", "").split())
        return StoreDamagedError(f"the result database {self.db_path} is damaged ({why}); run "
                                 f"`memscore collect --rebuild` to rebuild it from the run files in "
                                 f"{self.runs_dir} (the damaged file is kept aside)")

    def _require_writable(self) -> None:
        if not self.writable:
            raise self._read_only_error()

    require_writable = _require_writable  # public: a run checks this before computing what it cannot store

    def lock(self, key: str, what: str | None = None):
        """A lock held while the run ``key`` is computed: two processes (two ``memscore score`` calls, two
        sweep jobs, a rerun beside a job still running) never compute and store the same run twice."""
        from .locks import file_lock

        return file_lock(self.root / "locks" / f"{safe_name(key)}.lock", what or f"the run {key[:12]}")

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
             1 if current else 0, score.to_json()),
        )
        con.executemany(
            "INSERT INTO layers VALUES (?,?,?,?,?)",
            [(meta["run_id"], i, str(r.get("layer")), r.get("value"), r.get("error"))
             for i, r in enumerate(score.to_dict()["layers"])],
        )
        return True

    def _json_path(self, score: Score) -> Path:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(score.meta["created"]))
        name = f"{safe_name(score.model)}--{stamp}--{score.meta['run_id'][:12]}.json"
        return self.runs_dir / safe_name(score.benchmark) / name

    def _write_json(self, score: Score) -> Path:
        """Write the run file (never over an existing one); its temp file is removed on any failure."""
        path = self._json_path(score)
        folder = path.parent
        tmp = folder / f".{path.name}.tmp{os.getpid()}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            try:
                with open(tmp, "w") as f:
                    f.write(score.to_json(indent=1))
                    f.flush()
                    os.fsync(f.fileno())
                try:
                    os.link(tmp, path)  # fails rather than overwrite an existing result file
                except FileExistsError:
                    raise StoreError(f"the run file {path} exists already; a stored run is never overwritten "
                                     f"(run_id {score.meta['run_id']} was stored before)") from None
            finally:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
        except OSError as exc:
            if exc.errno in _FULL_ERRNOS:
                raise self._disk_full_error(folder, " (this result was not stored)") from None
            if exc.errno in _READONLY_ERRNOS:
                blocked = folder
                while not blocked.is_dir() and blocked != self.root:
                    blocked = blocked.parent
                raise self._read_only_error(blocked) from None
            raise StoreError(f"cannot write the run file in {folder} ({exc.strerror or exc})") from None
        self._clean_temp(folder)
        return path

    def _clean_temp(self, *folders: Path) -> int:
        """Remove temp files that killed runs left behind: their writer's pid is gone, or they are older
        than :data:`STALE_S`. Without ``folders``: the store's folder, ``runs/`` and its subfolders."""
        if not folders:
            folders = (self.root, self.runs_dir)
            try:
                folders += tuple(Path(e.path) for e in os.scandir(self.runs_dir) if e.is_dir(follow_symlinks=False))
            except OSError:
                pass
        removed, now = 0, time.time()
        for folder in folders:
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for e in entries:
                m = _TMP_PID.search(e.name)
                mine = (m and e.name.startswith(".")) or (folder != self.root and _TMP_OLD.match(e.name))
                if not mine:
                    continue
                try:
                    if not e.is_file(follow_symlinks=False):
                        continue
                    old = now - e.stat(follow_symlinks=False).st_mtime > STALE_S
                    if old or (m and not atomic.pid_alive(int(m.group(1)))):
                        os.unlink(e.path)
                        removed += 1
                except OSError:
                    continue
        return removed

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
            added += self._insert(score)
            if not _inside(path, self.runs_dir):
                self._keep_copy(score)
        return added, seen

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

    def _run_files(self, folders: list[Path], on_skip: Callable[[Path, str], None], *,
                   check: bool = True) -> Iterator[tuple[Path, Score]]:
        """The run files under ``folders`` as scores. With ``check`` (whenever a run can enter the database or
        be served) each passes :mod:`memscore.runcheck` first: strict JSON, the run schema, its key and seal
        recomputed from its content, its value against its own tables; a file that fails is ``on_skip``-ped
        with why, never returned."""
        from .runcheck import loads, problems

        for path in self._json_files(folders):
            try:
                data = loads(path.read_bytes())
            except OSError as exc:
                on_skip(path, f"cannot be read ({exc.strerror or exc})")
                continue
            except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, a duplicate key
                on_skip(path, f"not JSON ({_why(exc)})")
                continue
            try:
                score = _score(data)
            except (TypeError, ValueError) as exc:
                on_skip(path, f"not a memscore score ({exc})")
                continue
            missing = [k for k in ("run_id", "key") if not isinstance(score.meta.get(k), str) or not score.meta[k]]
            if missing:
                on_skip(path, f"not a run file: its meta has no {' or '.join(missing)}")
                continue
            bad = problems(data) if check else []
            if bad:
                on_skip(path, f"left out, it fails its integrity check ({bad[0]})")
                continue
            if not isinstance(score.meta.get("created"), (int, float)):
                score.meta["created"] = path.stat().st_mtime
            yield path, score

    @staticmethod
    def _json_files(folders: list[Path]) -> Iterator[Path]:
        """The ``.json`` files under each folder; a path that is a file is taken as it is."""
        for folder in folders:
            if Path(folder).is_file():
                yield Path(folder)
                continue
            yield from sorted(p for p in Path(folder).rglob("*.json") if p.is_file())

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


class RunFileStore(ResultStore):
    """The run files alone, no database: what sweep jobs store into. Jobs on many machines then never
    share one SQLite file over a network file system; the sweep's driver (or ``memscore collect``) merges
    the files into the database. Lookups read the run files (each parsed once per store object)."""

    def __init__(self, root: Path | str | None = None):
        super().__init__(root)
        self._index: dict[str, tuple[float, Path]] = {}  # key -> (created, run file) of its newest run
        self._parsed: set[Path] = set()
        self.written: list[Path] = []  # the run files this store wrote, in order

    @property
    def writable(self) -> bool:
        return self._dir_writable(self.root)

    def _refresh(self) -> None:
        if not self.runs_dir.is_dir():
            return
        new = [p for p in self._json_files([self.runs_dir]) if p not in self._parsed]
        for path, score in self._run_files(new, lambda p, why: None):
            self._add(path, score)
        self._parsed.update(new)

    def _add(self, path: Path, score: Score) -> None:
        key, created = score.meta["key"], float(score.meta.get("created") or 0)
        if key not in self._index or self._index[key][0] <= created:
            self._index[key] = (created, path)

    def _load(self, path: Path) -> Score | None:
        try:
            return _score(json.loads(path.read_bytes()))
        except (OSError, ValueError, TypeError):
            return None

    def get(self, key: str) -> Score | None:
        self._refresh()
        hit = self._index.get(key)
        return self._load(hit[1]) if hit else None

    def history(self, key: str) -> list[Score]:
        self._refresh()
        runs = [s for _, s in self._run_files(sorted(self._parsed), lambda p, why: None) if s.meta["key"] == key]
        return sorted(runs, key=lambda s: s.meta.get("created", 0))

    def query(self, model: str | None = None, benchmark: str | None = None,
              all_versions: bool = False) -> list[Score]:
        self._refresh()
        paths = sorted(self._parsed) if all_versions else sorted(p for _, p in self._index.values())
        out = [s for _, s in self._run_files(paths, lambda p, why: None)
               if (model is None or s.model == model) and (benchmark is None or s.benchmark == benchmark)]
        return sorted(out, key=lambda s: (s.benchmark, s.model, s.meta.get("created", 0)))

    def put(self, score: Score, key: str, *, write_json: bool = True) -> Score:
        self._require_writable()
        _stamp(score, key)
        path = self._write_json(score)
        self.written.append(path)
        self._parsed.add(path)
        self._add(path, score)
        return score


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


def _stamp(score: Score, key: str) -> None:
    """Give a run its identity before it is stored: run id, time, key."""
    score.meta.setdefault("run_id", uuid.uuid4().hex)
    score.meta.setdefault("created", time.time())
    score.meta["key"] = key
    score.meta[SEAL_FIELD] = seal(score.to_dict())


def _score(data: Any) -> Score:
    """A Score from parsed JSON, or TypeError/ValueError saying why it is not one."""
    if not isinstance(data, dict):
        raise TypeError(f"a JSON {type(data).__name__}, not an object")
    missing = [k for k in ("model", "benchmark", "benchmark_version", "value") if k not in data]
    if missing:
        raise ValueError(f"no {', '.join(missing)}")
    if not isinstance(data["model"], str) or not isinstance(data["benchmark"], str):
        raise TypeError("model and benchmark must be strings")
    if data["value"] is not None and (isinstance(data["value"], bool) or not isinstance(data["value"], (int, float))):
        raise TypeError(f"value {data['value']!r} is not a number")
    for k, kind in (("meta", dict), ("layers", list), ("splits", list)):
        if k in data and not isinstance(data[k], kind):
            raise TypeError(f"{k} is not a JSON {'object' if kind is dict else 'list'}")
    return Score.from_dict(data)


_MESSAGES = {"malformed": "SQLITE_CORRUPT", "not a database": "SQLITE_NOTADB", "disk is full": "SQLITE_FULL",
             "readonly database": "SQLITE_READONLY", "unable to open": "SQLITE_CANTOPEN",
             "disk I/O error": "SQLITE_IOERR", "locked": "SQLITE_BUSY"}


def _errname(exc: sqlite3.Error) -> str:
    """SQLite's name of the error (Python 3.11+ says it; before, it is read from the message)."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name:
        return name
    return next((n for text, n in _MESSAGES.items() if text in str(exc)), "")


def _is_full(exc: sqlite3.Error, folder: Path | None = None) -> bool:
    """SQLITE_FULL, or an I/O error (e.g. the WAL index cannot be sized) while ``folder``'s disk is full."""
    name = _errname(exc)
    if name.startswith("SQLITE_FULL"):
        return True
    if folder is not None and name.startswith("SQLITE_IOERR"):
        try:
            return shutil.disk_usage(folder).free < 1 << 20
        except OSError:
            return False
    return False


def _why(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:120]}" if text else type(exc).__name__


def _inside(path: Path, folder: Path) -> bool:
    try:
        return Path(path).resolve().is_relative_to(Path(folder).resolve())
    except OSError:
        return False


def _remove_db(path: Path) -> None:
    for suffix in ("", "-journal", "-wal", "-shm"):
        try:
            os.unlink(f"{path}{suffix}")
        except OSError:
            pass
