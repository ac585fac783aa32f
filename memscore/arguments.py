"""Declared arguments: a plugin states each argument once (name, type, range or choices, default, help)
and the core validates every value the same way, before any work, with one line naming the argument,
the value and what is valid.

    class MyBenchmark(Benchmark):
        arguments = (Arg("n_components", int, 25, "PLS components", min=1),
                     Arg("ceiling", str, "split-half", "ceiling method", choices=("split-half", "none")))
"""
from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from .errors import OptionError

__all__ = ["Arg", "validate", "describe"]

_MISSING = object()


@dataclass(frozen=True)
class Arg:
    name: str
    #: int, float, str, bool, or a callable ``parse(value) -> value`` that raises ValueError with the reason
    type: type | Callable[[Any], Any]
    default: Any = None
    help: str = ""
    choices: tuple | None = None
    min: float | None = None
    max: float | None = None
    #: None is a valid value (``layers=none``); a None default implies it
    nullable: bool = False
    #: what a valid value looks like, for the error message of a custom ``type``
    expect: str = ""
    #: how the value enters the benchmark's config (and so the run key): True as it is, False not at all,
    #: "changed" only when it differs from the default (an argument added later keeps old keys), or a
    #: callable giving the keyed form (a folder keyed as the word "folder": its content is keyed as data)
    keyed: bool | str | Callable[[Any], Any] = True

    def keyed_value(self, value: Any) -> tuple[bool, Any]:
        """(whether the argument is part of the config, its keyed form) for ``value``."""
        if self.keyed is False or (self.keyed == "changed" and value == self.converted_default()):
            return False, None
        return True, self.keyed(value) if callable(self.keyed) else value

    def converted_default(self) -> Any:
        """The default as a validated value would be (``"1,2,3,4,5"`` parsed like a user's value)."""
        if self.default is None:
            return None
        try:
            return self.check(self.default, "default")
        except OptionError:  # a default the parser rejects is kept as declared
            return self.default

    def check(self, value: Any, what: str = "--benchmark-args") -> Any:
        """The value converted to the declared type, or an :class:`OptionError` in one line."""
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null", "")):
            if self.nullable or self.default is None:
                return None
            if (self.choices is not None and "none" in self.choices) or (self.choices is None and self.type is str):
                return "none"  # the word none as a value (ceiling=none, stratification=none), not a missing one
            self._fail(value, what)
        t = self.type
        try:
            if t is bool:
                v = _bool(value)
            elif t is int:
                v = _int(value)
            elif t is float:
                v = float(value)
                if isinstance(value, bool) or not math.isfinite(v):
                    raise ValueError
            elif t is str:
                v = str(value)
            else:
                v = t(value)
        except (ValueError, TypeError) as exc:
            self._fail(value, what, str(exc) if t not in (bool, int, float, str) else "")
        if self.choices is not None and v not in self.choices:
            self._fail(value, what)
        if self.min is not None and isinstance(v, (int, float)) and v < self.min:
            self._fail(value, what)
        if self.max is not None and isinstance(v, (int, float)) and v > self.max:
            self._fail(value, what)
        return v

    def valid(self) -> str:
        """What a valid value is, in words."""
        if self.choices is not None:
            return "one of " + ", ".join(str(c) for c in self.choices)
        if self.expect:
            return self.expect
        kind = {bool: "true or false", int: "an integer", float: "a number", str: "text"}.get(self.type, "a value")
        if self.min is not None and self.max is not None:
            kind += f" from {self.min:g} to {self.max:g}"
        elif self.min is not None:
            kind += f" >= {self.min:g}"
        elif self.max is not None:
            kind += f" <= {self.max:g}"
        return kind + (" (or none)" if self.nullable or self.default is None else "")

    def _fail(self, value: Any, what: str, why: str = "") -> None:
        why = f" ({why})" if why else ""
        raise OptionError(f"{what} {self.name}={_show(value)}: expected {self.valid()}{why}") from None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": getattr(self.type, "__name__", str(self.type)), "default": self.default,
                "valid": self.valid(), "help": self.help}


def _show(value: Any) -> str:
    s = str(value)
    return s if len(s) <= 60 else s[:57] + "..."


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    s = str(value).strip().lower()
    if s in ("true", "yes", "1", "on"):
        return True
    if s in ("false", "no", "0", "off"):
        return False
    raise ValueError


def _int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError
        return int(value)
    return int(str(value).strip())


def validate(declared: Iterable[Arg], given: Mapping[str, Any], what: str = "--benchmark-args", *,
             fixed: Mapping[str, Any] | None = None, extra: Callable[[str], bool] | None = None) -> dict[str, Any]:
    """Check ``given`` against ``declared``: unknown keys (with close matches), types, ranges, choices.

    ``fixed`` are the values the registration fixed (a benchmark's region): a user value for one of them
    is an error. ``extra(key)`` may accept keys outside the declaration (forwarded arguments).
    Returns the converted values of the given keys.
    """
    table = {a.name: a for a in declared}
    fixed = dict(fixed or {})
    out: dict[str, Any] = {}
    for key, value in given.items():
        if key in fixed:
            raise OptionError(f"{what} {key}={_show(value)}: {key} is fixed to {fixed[key]!r} by this "
                              f"registration and cannot be changed")
        arg = table.get(key)
        if arg is None:
            if extra is not None and extra(key):
                out[key] = value
                continue
            valid = [n for n in table if n not in fixed]
            close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise OptionError(f"{what}: unknown key {key!r}{hint} (valid keys: {', '.join(valid) or 'none'})")
        out[key] = arg.check(value, what)
    return out


def describe(declared: Iterable[Arg]) -> list[dict[str, Any]]:
    return [a.to_dict() for a in declared]
