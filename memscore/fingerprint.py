"""Content fingerprints: what a result was computed on, independent of where the files lie.

A file's fingerprint is the SHA-1 of its bytes. Hashing 58,741 JPEGs on every run would cost seconds, so
the digest of each file is remembered under ``$MEMSCORE_CACHE/digests`` keyed by the file's identity as
the OS reports it (size, modification time, inode, and **ctime**, which no user tool can set back): any
change of the bytes changes the ctime and so is hashed again; a copy elsewhere is hashed once and gives
the same fingerprint.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from . import atomic, paths

__all__ = ["DataInfo", "digest", "file_sha1", "file_sha1s", "files_digest"]


@dataclass
class DataInfo:
    """The data one run reads: stored in ``Score.meta["data"]`` and part of the run key."""

    name: str
    fingerprint: str
    counts: dict[str, Any] = field(default_factory=dict)
    root: str = ""  # where it was read from (informative only: never keyed)
    parts: dict[str, str] = field(default_factory=dict)  # fingerprints of its parts (stimuli, targets, ...)
    #: what a board calls it: ``--data-name``, else its folder's name (two copies of one data set told apart
    #: by more than a hash); informative only, never keyed
    label: str = ""

    def labelled(self, given: str | None = None) -> "DataInfo":
        """This data with its label: ``given``, else the root folder's name (a manifest's data set name)."""
        from pathlib import PurePath

        root = PurePath(self.root) if self.root else None
        self.label = given or (self.name if root is None or root.suffix.lower() == ".json" else root.name) \
            or self.name
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def short(self) -> str:
        return self.fingerprint[:10]


def digest(*parts: Any) -> str:
    """A stable hash of JSON-able values, numpy arrays and bytes (order matters)."""
    h = hashlib.sha256()
    for p in parts:
        _feed(h, p)
    return h.hexdigest()[:32]


def _feed(h, p: Any) -> None:
    if isinstance(p, (bytes, bytearray, memoryview)):
        h.update(b"b%d:" % len(p))
        h.update(p)
    elif hasattr(p, "dtype") and hasattr(p, "tobytes"):  # numpy array / scalar
        import numpy as np

        a = np.ascontiguousarray(p)
        h.update(f"a{a.dtype.str}{a.shape}:".encode())
        if a.dtype == object:
            h.update(json.dumps(a.tolist(), default=str).encode())
        else:
            h.update(a.tobytes())
    elif isinstance(p, (list, tuple)) and any(hasattr(x, "dtype") for x in p):
        h.update(b"l%d:" % len(p))
        for x in p:
            _feed(h, x)
    else:
        h.update(b"j:" + json.dumps(p, sort_keys=True, default=str).encode())
    h.update(b"\0")


# ---------------------------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------------------------
class _Memo:
    """Remembered digests of the files of one folder (a JSON file; damage means recomputing)."""

    def __init__(self, folder: Path):
        key = hashlib.sha1(os.fsencode(folder)).hexdigest()[:20]  # a non-UTF-8 folder name too
        self.path = paths.cache_dir() / "digests" / f"{key}.json"
        self.folder = str(folder)
        self.entries: dict[str, list] = {}
        self.dirty = False
        try:
            d = json.loads(self.path.read_text())
            if isinstance(d, dict) and d.get("folder") == self.folder and isinstance(d.get("files"), dict):
                self.entries = d["files"]
        except (OSError, ValueError):
            pass

    def get(self, name: str, stamp: list) -> str | None:
        e = self.entries.get(name)
        return e[-1] if isinstance(e, list) and e[:-1] == stamp else None

    def put(self, name: str, stamp: list, sha: str) -> None:
        self.entries[name] = [*stamp, sha]
        self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic.write_text(self.path, json.dumps({"folder": self.folder, "files": self.entries}))
        except (OSError, atomic.DiskFullError):
            pass  # a memo only saves time; a read-only or full cache just hashes again next time


def _stamp(st: os.stat_result) -> list:
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def hash_file(path: Path | str, algorithm: str = "sha1") -> str:
    """The hex digest of a file's bytes, read in 1 MiB chunks (not remembered: see :func:`file_sha1`)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _sha1(path: Path) -> str:
    return hash_file(path, "sha1")


def file_sha1(path: Path | str) -> str:
    """SHA-1 of the file's bytes (remembered while the file is unchanged)."""
    return _digests([Path(path)])[0]


def file_sha1s(files: Sequence[Path | str]) -> list[str]:
    """SHA-1 of each file's bytes, in order (remembered as :func:`file_sha1`; ``"missing"``, ``"not-a-file"`` or
    ``"unreadable"`` for a file that cannot be hashed)."""
    return _digests([Path(f) for f in files])


def _digests(files: Sequence[Path]) -> list[str]:
    memos: dict[Path, _Memo] = {}
    out = []
    for path in files:
        path = Path(path)
        try:
            st = os.stat(path)
        except OSError:  # missing, a symlink loop, no permission: the run itself names it
            out.append("missing")
            continue
        if not os.path.isfile(path):
            out.append("not-a-file")
            continue
        real = Path(os.path.realpath(path))
        memo = memos.get(real.parent)
        if memo is None:
            memo = memos[real.parent] = _Memo(real.parent)
        stamp = _stamp(st)
        sha = memo.get(real.name, stamp)
        if sha is None:
            try:
                sha = _sha1(path)
            except OSError:
                out.append("unreadable")
                continue
            memo.put(real.name, stamp, sha)
        out.append(sha)
    for memo in memos.values():
        memo.save()
    return out


def files_digest(ids: Iterable[str], files: Sequence[Path]) -> str:
    """The content fingerprint of a stimulus set: each id with its file's SHA-1, in order."""
    ids = list(ids)
    shas = _digests(files)
    h = hashlib.sha256()
    for sid, sha in zip(ids, shas):
        h.update(f"{sid}\0{sha}\n".encode())
    return h.hexdigest()[:24]
