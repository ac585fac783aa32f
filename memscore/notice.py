"""One-line notices on stderr: what memscore did on the user's behalf (recomputed a damaged cache file,
moved an old checkpoint aside), said once, never silently."""
from __future__ import annotations

import sys


def notice(message: str) -> None:
    try:
        from tqdm.auto import tqdm

        tqdm.write(f"memscore: {message}", file=sys.stderr)
    except Exception:  # noqa: BLE001 - a notice must never fail a run
        print(f"memscore: {message}", file=sys.stderr)


def move_aside(path, why: str) -> None:
    """Rename ``path`` to ``<name>.moved-<time>`` (never delete what a run stored) and say so."""
    import os
    import time
    from pathlib import Path

    path = Path(path)
    target = path.with_name(f"{path.name}.moved-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}")
    os.replace(path, target)
    notice(f"{why}; moved {path.name} aside to {target.name} and started afresh")
