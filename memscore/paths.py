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


def safe_name(name: str) -> str:
    """``name`` as a file name: letters, digits and ``-_.@`` kept, anything else ``_`` (model names such as
    ``timm:vit_b/16`` hold ``:`` and ``/``)."""
    return "".join(c if c.isalnum() or c in "-_.@" else "_" for c in name)
