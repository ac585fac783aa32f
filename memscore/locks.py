"""Advisory file locks (``flock``) that die with their holder: a process killed with ``kill -9`` or by
``scancel`` releases its locks, so a lock never needs cleaning up and never outlives a run."""
from __future__ import annotations

import fcntl
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .notice import notice


@contextmanager
def file_lock(path: Path, what: str, *, poll_s: float = 0.5) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) for the ``with`` block. While another
    process holds it, wait, saying once who holds it (``what`` names what is locked)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = path.read_text(errors="replace").strip() or "another process"
            notice(f"waiting for {holder}, which is computing {what}")
            while True:
                time.sleep(poll_s)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    continue
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
