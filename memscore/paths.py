"""Where memscore keeps things: ``$MEMSCORE_HOME`` (default ``~/.memscore``)."""
from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    return Path(os.environ.get("MEMSCORE_HOME") or Path.home() / ".memscore").expanduser()


def data_dir() -> Path:
    return home() / "data"


def cache_dir() -> Path:
    return Path(os.environ.get("MEMSCORE_CACHE") or home() / "cache").expanduser()


def runs_dir() -> Path:
    return home() / "runs"


def results_db() -> Path:
    return home() / "results.sqlite"
