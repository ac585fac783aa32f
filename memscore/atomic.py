"""Atomic file writes: write a temp file beside the target, then ``os.replace`` it into place.

One pattern for every file memscore keeps (cache arrays, meta files, bases, checkpoints): a reader never
sees half a file, a failed write leaves no temp file behind, and the temp files of killed runs (their
names carry the writer's pid) are removed by the next run that looks at the folder.
"""
from __future__ import annotations

import errno
import os
import re
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import MemscoreError

_TMP = re.compile(r"\.tmp(\d+)$")
STALE_S = 6 * 3600  # a temp file this old is stale whatever its pid says (pids are reused)


class DiskFullError(MemscoreError):
    """No space left where memscore must write."""


def tmp_path(path: Path) -> Path:
    """The temp name of ``path`` for this process (``<name>.tmp<pid>``)."""
    path = Path(path)
    return path.with_name(f"{path.name}.tmp{os.getpid()}")


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` (the writer named in a temp file's name) still runs on this machine."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


def clean_stale(folder: Path) -> int:
    """Remove temp files in ``folder`` (not below) whose writer is gone; returns how many."""
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    now = time.time()
    for e in entries:
        m = _TMP.search(e.name)
        if not m:
            continue
        try:
            old = now - e.stat(follow_symlinks=False).st_mtime > STALE_S
            if old or not pid_alive(int(m.group(1))):
                if e.is_dir(follow_symlinks=False):
                    shutil.rmtree(e.path, ignore_errors=True)
                else:
                    os.unlink(e.path)
                removed += 1
        except OSError:
            continue
    return removed


def no_space(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def disk_full(folder: Path, need: int | None = None) -> DiskFullError:
    free = _free(folder)
    need_s = f"; this step needs {_gb(need)}" if need else ""
    return DiskFullError(f"no space left in {folder} ({_gb(free)} free{need_s}); free some space or point "
                         f"MEMSCORE_HOME / MEMSCORE_CACHE at a larger disk")


def _free(folder: Path) -> int:
    p = Path(folder)
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        return shutil.disk_usage(p).free
    except OSError:
        return 0


def _gb(n: int | None) -> str:
    if n is None:
        return "?"
    return f"{n / 2**30:.2f} GB" if n >= 2**28 else f"{n / 2**20:.1f} MB"


def ensure_space(folder: Path, need: int, *, margin: float = 1.05) -> None:
    """Fail in one line before writing ``need`` bytes into ``folder`` when the disk cannot hold them."""
    if need > 0 and _free(folder) < need * margin:
        raise disk_full(folder, need)


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yields the temp path to write; on success it replaces ``path``, on any failure it is removed.
    A full disk becomes :class:`DiskFullError` naming the folder."""
    path = Path(path)
    tmp = tmp_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if no_space(exc):
            raise disk_full(path.parent) from None
        raise


def write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode())


def reserve(fd: int, size: int, folder: Path) -> None:
    """Allocate ``size`` bytes for an open file now, so a memory map of it cannot hit a full disk later
    (a sparse map dies with SIGBUS); a full disk is one line."""
    if size <= 0 or not hasattr(os, "posix_fallocate"):
        return
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as exc:
        if no_space(exc):
            raise disk_full(folder, size) from None
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            raise
