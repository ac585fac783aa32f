"""Names given on a command line: model and benchmark names, ``tag:T`` and ``@FILE`` lists (one name a line,
``#`` comments), read with a size cap and a loop check, each name checked against the registry."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from .errors import MemscoreError, OptionError


MAX_NAMES_FILE = 1 << 20


def _read_names_file(path: Path, item: str, option: str) -> list[str]:
    """The lines of a list-of-names file: a regular file of at most :data:`MAX_NAMES_FILE` bytes of UTF-8
    text (a FIFO or a device such as /dev/zero is refused unread, never read forever)."""
    from .images import path_kind

    kind = path_kind(path)
    if kind != "file":
        raise OptionError(f"{option} {item}: cannot read this list of names ({path} is "
                          f"{'missing' if kind == 'missing' else kind}); give a text file with one name a line")
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_NAMES_FILE + 1)
    except OSError as exc:
        raise OptionError(f"{option} {item}: cannot read this list of names ({exc.strerror or exc})") from None
    if len(raw) > MAX_NAMES_FILE:
        raise OptionError(f"{option} {item}: cannot read this list of names (larger than "
                          f"{MAX_NAMES_FILE >> 20} MiB: not a list of names); give a text file with one name a line")
    try:
        return raw.decode("utf-8-sig").splitlines()
    except UnicodeDecodeError:
        raise OptionError(f"{option} {item}: cannot read this list of names (not UTF-8 text); give a text file "
                          f"with one name a line") from None


def resolve_names(kind: str, items: Iterable[str], option: str, _reading: tuple[Path, ...] = ()) -> list[str]:
    """Names from ``items``: a registered name, ``tag:T`` (every entry with tag T), a tag alone, or a file
    with one name a line (``#`` comments; it may name other files, never itself). Order kept, duplicates
    dropped; an unknown name is one line."""
    from .pluginmanager import registry

    reg = registry()
    out: list[str] = []
    for raw in items:
        item = raw.strip()
        if not item:
            continue
        if item.startswith("@") or (os.sep in item and Path(item).expanduser().is_file()):
            path = Path(item.lstrip("@")).expanduser()
            real = Path(os.path.realpath(path))
            if real in _reading:
                chain = " -> ".join(str(p) for p in (*_reading, real))
                raise OptionError(f"{option} {item}: the list of names includes itself ({chain}); remove the line")
            lines = _read_names_file(path, item, option)
            out += resolve_names(kind, [ln.split("#")[0] for ln in lines], f"{option} {path}:", (*_reading, real))
            continue
        tag = item[4:] if item.startswith("tag:") else None
        if tag is None:
            try:
                reg.get(kind, item)
                out.append(item)
                continue
            except MemscoreError:
                if not reg.entries(kind, item):
                    raise
                tag = item
        tagged = [e for e in reg.entries(kind, tag) if not e.prefix]
        entries = [e.name for e in tagged if e.available]
        if len(entries) < len(tagged):
            from .notice import notice

            notice(f"{option} tag:{tag}: left out the unavailable "
                   + "; ".join(f"{e.name} ({e.reason.split(';')[0][:80]})" for e in tagged if not e.available))
        if not entries:
            tags = sorted({t for e in reg.entries(kind) for t in e.tags})
            raise OptionError(f"{option} tag:{tag}: no {kind} has this tag; tags: {', '.join(tags)}")
        out += entries
    if not out:
        raise OptionError(f"{option}: no {kind}s given")
    return list(dict.fromkeys(out))


