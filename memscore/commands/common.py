"""What the commands share: number and time formatting, a plain-text table, a registry lookup."""
from __future__ import annotations

import click

from ..errors import MemscoreError


def _f(x) -> str:
    return "" if x is None else f"{x:.4f}" if isinstance(x, float) else str(x)


def _when(t) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t)) if t else ""


def _table(header, rows) -> None:
    from ..safetext import printable

    rows = [[printable(c) for c in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]
    widths[-1] = min(widths[-1], 80)
    click.echo("  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip())
    click.echo("  ".join("-" * w for w in widths))
    for r in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


def _known(reg, kind: str, name: str) -> bool:
    try:
        reg.get(kind, name)
        return True
    except MemscoreError:
        return False
