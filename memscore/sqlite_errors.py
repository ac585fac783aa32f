"""SQLite's errors as the store reads them: the error's name (Python 3.11+ says it; before, the message does),
a full disk behind an I/O error, and a database file removed with its journal, WAL and index."""
from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path


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


def _remove_db(path: Path) -> None:
    for suffix in ("", "-journal", "-wal", "-shm"):
        try:
            os.unlink(f"{path}{suffix}")
        except OSError:
            pass
