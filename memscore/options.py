"""``k=v,k=v`` option strings (as lm-evaluation-harness's ``--model_args``) and their validation."""
from __future__ import annotations

import inspect
from typing import Any, Callable, Mapping

from .errors import OptionError


def parse_kv(text: str | None, what: str = "--benchmark-args") -> dict[str, Any]:
    """Parse ``"epochs=3,splits=1,lr=1e-3"``; values become int/float/bool/None where they look so.

    A value may itself contain commas when quoted isn't needed for lists: ``splits=1,3`` is ambiguous,
    so lists use ``+`` or ``;`` inside a value (``splits=1+3``) — or a trailing key-less item
    continues the previous value (``splits=1,3`` → ``{"splits": "1,3"}``).
    """
    out: dict[str, Any] = {}
    if not text:
        return out
    last = None
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        if "=" not in item:
            if last is None:
                raise OptionError(f"{what}: {item!r} is not key=value (example: {what} epochs=3,splits=1)")
            out[last] = f"{out[last]},{item}"
            continue
        key, _, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not key:
            raise OptionError(f"{what}: empty key in {item!r}")
        out[key] = value.strip()
        last = key
    return {k: coerce(v) for k, v in out.items()}


def coerce(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    low = value.lower()
    if low in ("true", "yes"):
        return True
    if low in ("false", "no"):
        return False
    if low in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


def check_kwargs(func: Callable, kwargs: Mapping[str, Any], what: str, *, hide: tuple[str, ...] = ()) -> None:
    """Reject keys ``func`` does not accept, naming the valid ones (those in ``hide`` are given another way:
    neither accepted here nor named)."""
    sig = inspect.signature(func)
    if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        return
    valid = [n for n, p in sig.parameters.items()
             if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and not n.startswith("_") and n not in hide]
    bad = [k for k in kwargs if k not in valid]
    if bad:
        raise OptionError(f"{what}: unknown key {bad[0]!r}; valid keys: {', '.join(valid) or '(none)'}")
