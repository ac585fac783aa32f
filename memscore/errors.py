"""Errors a user can cause: each carries one line naming the thing and the fix.

The CLI prints ``str(error)`` alone (no traceback) and exits with ``exit_code``.
"""
from __future__ import annotations

import difflib
from typing import Iterable


class MemscoreError(Exception):
    """A problem the user can fix; its message is one clear line."""

    exit_code = 1


class UnknownNameError(MemscoreError, KeyError):
    """An unknown model/benchmark/metric/dataset name, with close matches."""

    exit_code = 2

    def __init__(self, kind: str, name: str, known: Iterable[str]):
        from .safetext import name as quoted

        known = sorted(known)
        # a name far longer than any registered one has no close match (and difflib on it would be slow)
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5) if len(name) <= 200 else []
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        super().__init__(
            f"unknown {kind} {quoted(name)}{hint} (run `memscore list {kind}s` to see all)"
        )
        self.kind, self.name, self.close = kind, name, close

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


class DuplicateNameError(MemscoreError):
    """Two plugins registered the same name."""


class DataError(MemscoreError):
    """Input data is missing or malformed (file named, fix suggested)."""


class OptionError(MemscoreError):
    """A bad ``--model-args`` / ``--benchmark-args`` key or value."""

    exit_code = 2
