"""Result store: SQLite (``$MEMSCORE_HOME/results.sqlite``) plus one JSON file per run.

A run is keyed by (model, weights, benchmark, benchmark version, config). Storing a new score for a
key keeps the earlier rows as history (``current = 0``); nothing stored is ever deleted or overwritten.
Each run also lands as its own JSON file under ``runs/`` so cluster jobs never share a database file;
``collect`` merges such files back in. SQLite runs in WAL mode with a busy timeout, and every write is
one ``BEGIN IMMEDIATE`` transaction, so concurrent writers serialise and lose nothing.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

from . import paths
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


def run_key(model: str, weights: str, benchmark: str, version: str, config: dict[str, Any]) -> str:
    blob = json.dumps([model, weights, benchmark, version, config], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


class ResultStore:
    def __init__(self, root: Path | str | None = None):
        self.root = Path(root) if root else paths.home()
        self.db_path = self.root / "results.sqlite"
        self.runs_dir = self.root / "runs"
        self.root.mkdir(parents=True, exist_ok=True)
        self._create()

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
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
            finally:
                con.close()
            time.sleep(0.02 + 0.08 * random.random())

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.db_path, timeout=60, isolation_level=None)
        con.execute("PRAGMA busy_timeout = 60000")
        return con

    # -- reading ---------------------------------------------------------------------------
    def get(self, key: str) -> Score | None:
        con = self._connect()
        try:
            row = con.execute(
                "SELECT score FROM runs WHERE key = ? AND current = 1 ORDER BY created DESC LIMIT 1", (key,)
            ).fetchone()
        finally:
            con.close()
        return Score.from_json(row[0]) if row else None

    def history(self, key: str) -> list[Score]:
        con = self._connect()
        try:
            rows = con.execute("SELECT score FROM runs WHERE key = ? ORDER BY created", (key,)).fetchall()
        finally:
            con.close()
        return [Score.from_json(r[0]) for r in rows]

    def query(self, model: str | None = None, benchmark: str | None = None,
              all_versions: bool = False) -> list[Score]:
        sql, args = "SELECT score FROM runs WHERE 1=1", []
        if not all_versions:
            sql += " AND current = 1"
        if model:
            sql += " AND model = ?"
            args.append(model)
        if benchmark:
            sql += " AND benchmark = ?"
            args.append(benchmark)
        con = self._connect()
        try:
            rows = con.execute(sql + " ORDER BY benchmark, model, created", args).fetchall()
        finally:
            con.close()
        return [Score.from_json(r[0]) for r in rows]

    # -- writing ---------------------------------------------------------------------------
    def put(self, score: Score, key: str, *, write_json: bool = True) -> Score:
        """Store ``score`` as the current result for ``key``; earlier rows become history."""
        meta = score.meta
        meta.setdefault("run_id", uuid.uuid4().hex)
        meta.setdefault("created", time.time())
        meta["key"] = key
        if write_json:
            self._write_json(score)
        self._insert(score)
        return score

    def _insert(self, score: Score) -> bool:
        meta = score.meta
        con = self._connect()
        try:
            con.execute("BEGIN IMMEDIATE")
            if con.execute("SELECT 1 FROM runs WHERE run_id = ?", (meta["run_id"],)).fetchone():
                con.execute("ROLLBACK")
                return False
            newer = con.execute(
                "SELECT 1 FROM runs WHERE key = ? AND created > ?", (meta["key"], meta["created"])
            ).fetchone()
            if not newer:
                con.execute("UPDATE runs SET current = 0 WHERE key = ?", (meta["key"],))
            con.execute(
                "INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (meta["run_id"], meta["key"], score.model, str(meta.get("weights", "")), score.benchmark,
                 score.benchmark_version, json.dumps(meta.get("config", {}), sort_keys=True),
                 score.value, score.error, score.ceiling, score.raw, meta["created"],
                 0 if newer else 1, score.to_json()),
            )
            con.executemany(
                "INSERT INTO layers VALUES (?,?,?,?,?)",
                [(meta["run_id"], i, str(r.get("layer")), r.get("value"), r.get("error"))
                 for i, r in enumerate(score.to_dict()["layers"])],
            )
            con.execute("COMMIT")
            return True
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
        finally:
            con.close()

    def _write_json(self, score: Score) -> Path:
        folder = self.runs_dir / _safe(score.benchmark)
        folder.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(score.meta["created"]))
        path = folder / f"{_safe(score.model)}--{stamp}--{score.meta['run_id'][:12]}.json"
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.write(score.to_json(indent=1))
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp, path)  # fails rather than overwrite an existing result file
        os.unlink(tmp)
        return path

    def collect(self, folders: list[Path] | None = None) -> tuple[int, int]:
        """Merge run JSON files (e.g. from cluster jobs) into the database; returns (added, seen)."""
        added = seen = 0
        for path in self._json_files(folders or [self.runs_dir]):
            score = Score.from_json(path.read_text())
            if "run_id" not in score.meta or "key" not in score.meta:
                continue
            seen += 1
            score.meta.setdefault("created", path.stat().st_mtime)
            added += self._insert(score)
        return added, seen

    @staticmethod
    def _json_files(folders: list[Path]) -> Iterator[Path]:
        for folder in folders:
            yield from sorted(Path(folder).rglob("*.json"))


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.@" else "_" for c in name)
