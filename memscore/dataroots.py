"""One data-root shape on every command: ``--data-root PATH`` or ``--data-root NAME=PATH``, repeatable.

NAME is a benchmark (``lamem-pls``, ``neural-it``) or a data set (``lamem``, ``majajhong2015``, a manifest's
identifier), compared without case. A benchmark's own data comes from the root named after it or after its
data set, else from the unnamed ``PATH``; a benchmark that reads a second data set (``lamem-it``: LaMem and
the IT recordings) asks for it by name only, so one unnamed ``PATH`` never lands on the wrong data set. A NAME
that no benchmark of the run reads is an error naming the names it does read.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from .errors import OptionError

__all__ = ["DataRoots", "parse_data_roots"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


@dataclass
class DataRoots:
    """The named roots of one run (or sweep), and which names its benchmarks asked for. Shared by every
    copy of the run's options, so a second data set read through other options still counts as read."""

    named: dict[str, Path] = field(default_factory=dict)  # lower-case NAME -> PATH
    given: dict[str, str] = field(default_factory=dict)  # lower-case NAME -> NAME as the user wrote it
    used: set[str] = field(default_factory=set)
    asked: list[str] = field(default_factory=list)  # the names benchmarks asked for, in order
    strict: bool = True  # a NAME nobody read is an error (not for `verify`: its roots serve many runs)

    def get(self, *names: str) -> tuple[str, Path] | None:
        """(NAME, PATH) of the first of ``names`` given as NAME=PATH; marks it read."""
        keys = [str(n).lower() for n in names if n]
        self.asked += [k for k in dict.fromkeys(keys) if k not in self.asked]
        for k in keys:
            if k in self.named:
                self.used.add(k)
                return self.given[k], self.named[k]
        return None

    def items(self) -> list[tuple[str, Path]]:
        return [(self.given[k], p) for k, p in self.named.items()]

    def claim(self, name: str) -> None:
        """Mark ``name`` read (a benchmark that matched it by other means, e.g. a manifest's identifier)."""
        self.used.add(str(name).lower())

    def unused(self) -> list[str]:
        return [self.given[k] for k in self.named if k not in self.used]

    def check_all_used(self, what: str) -> None:
        """One line for a NAME=PATH that nothing read (a typo, or a data set ``what`` does not read)."""
        left = self.unused()
        if left and self.strict:
            reads = ", ".join(dict.fromkeys(self.asked)) or "no named data"
            raise OptionError(f"--data-root {left[0]}={self.named[left[0].lower()]}: {what} reads no data set "
                              f"called {left[0]!r}; the names it reads: {reads}")

    @classmethod
    def union(cls, sets: Iterable["DataRoots"]) -> "DataRoots":
        """One view of several benchmarks' roots (a sweep's): a name counts as read when any of them read it."""
        out = cls()
        for r in sets:
            out.named.update(r.named)
            out.given.update(r.given)
            out.used |= r.used
            out.asked += [a for a in r.asked if a not in out.asked]
        return out

    def to_dict(self) -> dict[str, str]:
        return {name: str(path) for name, path in self.items()}


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return str(value)


def parse_data_roots(values: Iterable[str | Path] | str | Path | None) -> tuple[Path | None, DataRoots]:
    """``(unnamed PATH or None, DataRoots)`` from the ``--data-root`` values. ``NAME=PATH`` is named when NAME
    is a plain name (letters, digits, ``_.+-``; no ``/``) and ``NAME=PATH`` is not itself an existing path;
    at most one unnamed PATH."""
    if values is None:
        values = []
    elif isinstance(values, (str, Path, bytes)):
        values = [values]
    default: Path | None = None
    roots = DataRoots()
    for raw in values:
        v = _text(raw)
        name, sep, path = v.partition("=")
        if sep and _NAME.match(name) and not Path(v).expanduser().exists():
            if not path.strip():
                raise OptionError(f"--data-root {v}: give a path after '=', e.g. --data-root {name}=/data/{name}")
            key = name.lower()
            if key in roots.named and roots.named[key] != Path(path).expanduser():
                raise OptionError(f"--data-root {name}=…: given twice ({roots.named[key]} and {path}); give it once")
            roots.named[key], roots.given[key] = Path(path).expanduser(), name
            continue
        if default is not None and Path(v).expanduser() != default:
            raise OptionError(f"--data-root {v}: a second unnamed data root (the first is {default}); name each "
                              f"one: --data-root NAME=PATH (NAME a benchmark or a data set, e.g. lamem=…)")
        default = Path(v).expanduser()
    return default, roots
