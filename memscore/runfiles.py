"""Run files: one JSON file per stored run under ``$MEMSCORE_HOME/runs/<benchmark>/``, the source of truth.

:class:`RunFiles` writes them (atomically, never over an existing one), reads them back through the integrity
checks (:mod:`memscore.runcheck`) and removes the temp files killed runs left. :class:`RunFileStore` is a store
of run files alone (what sweep jobs write into, so jobs never share a database over a network file system);
:class:`memscore.store.ResultStore` adds the SQLite index, rebuilt from these files.
"""
from __future__ import annotations

import errno
import os
import re
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

from . import atomic, paths
from .atomic import DiskFullError
from .errors import MemscoreError
from .paths import safe_name
from .record import SEAL_FIELD, seal
from .scores import Score

#: temp files of this store: ``.<name>.tmp<pid>`` (run files, rebuilt database with its journal) and the
#: ``tmpXXXX.tmp`` names of releases before that
_TMP_PID = re.compile(r"\.tmp(\d+)(-journal|-wal|-shm)?$")
_TMP_OLD = re.compile(r"^tmp[\w-]+\.tmp$")
STALE_S = 3600  # a store temp file this old is stale whatever its pid says (writing one takes milliseconds)
_READONLY_ERRNOS = (errno.EROFS, errno.EACCES, errno.EPERM)
_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


class StoreError(MemscoreError):
    """The result store cannot do what was asked (one line naming the file or folder and the fix)."""


class StoreDamagedError(StoreError):
    """The results database is not a database any more (truncated, overwritten, malformed)."""


class StoreReadOnlyError(StoreError):
    """The store's folder or database file cannot be written."""


class StoreDiskFullError(StoreError, DiskFullError):
    """No space left while storing a result."""


class RunFiles:
    """The run files of one store folder: what every store has, with or without a database."""

    def __init__(self, root: Path | str | None = None):
        self.root = Path(root) if root else paths.home()
        self.runs_dir = self.root / "runs"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            if not self.root.is_dir():
                raise StoreError(f"cannot create the result folder {self.root} ({exc.strerror or exc}); "
                                 f"set MEMSCORE_HOME to a writable folder") from None
        if self._dir_writable(self.root):
            self._clean_temp()

    # -- state -----------------------------------------------------------------------------
    @staticmethod
    def _dir_writable(folder: Path) -> bool:
        return os.access(folder, os.W_OK | os.X_OK)

    @property
    def writable(self) -> bool:
        """Whether results can be stored here."""
        return self._dir_writable(self.root)

    def _read_only_error(self, path: Path | None = None) -> StoreReadOnlyError:
        path = path or self.root
        what = "the result folder" if Path(path).is_dir() else "the result database"
        return StoreReadOnlyError(f"{what} {path} is read-only, so results cannot be stored there (reading them "
                                  f"still works); set MEMSCORE_HOME to a writable folder")

    def _disk_full_error(self, folder: Path, detail: str = "") -> StoreDiskFullError:
        return StoreDiskFullError(f"no space left in {folder}: the disk is full{detail}; results stored before "
                                  f"are unchanged; free some space or set MEMSCORE_HOME to a larger disk")

    def _require_writable(self) -> None:
        if not self.writable:
            raise self._read_only_error()

    require_writable = _require_writable  # public: a run checks this before computing what it cannot store

    def lock(self, key: str, what: str | None = None):
        """A lock held while the run ``key`` is computed: two processes (two ``memscore score`` calls, two
        sweep jobs, a rerun beside a job still running) never compute and store the same run twice."""
        from .locks import file_lock

        return file_lock(self.root / "locks" / f"{safe_name(key)}.lock", what or f"the run {key[:12]}")

    def _json_path(self, score: Score) -> Path:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(score.meta["created"]))
        name = f"{safe_name(score.model)}--{stamp}--{score.meta['run_id'][:12]}.json"
        return self.runs_dir / safe_name(score.benchmark) / name

    def _write_json(self, score: Score) -> Path:
        """Write the run file (never over an existing one); its temp file is removed on any failure."""
        path = self._json_path(score)
        folder = path.parent
        tmp = folder / f".{path.name}.tmp{os.getpid()}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            try:
                with open(tmp, "w") as f:
                    f.write(score.to_json(indent=1))
                    f.flush()
                    os.fsync(f.fileno())
                try:
                    os.link(tmp, path)  # fails rather than overwrite an existing result file
                except FileExistsError:
                    raise StoreError(f"the run file {path} exists already; a stored run is never overwritten "
                                     f"(run_id {score.meta['run_id']} was stored before)") from None
            finally:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
        except OSError as exc:
            if exc.errno in _FULL_ERRNOS:
                raise self._disk_full_error(folder, " (this result was not stored)") from None
            if exc.errno in _READONLY_ERRNOS:
                blocked = folder
                while not blocked.is_dir() and blocked != self.root:
                    blocked = blocked.parent
                raise self._read_only_error(blocked) from None
            raise StoreError(f"cannot write the run file in {folder} ({exc.strerror or exc})") from None
        self._clean_temp(folder)
        return path

    def _clean_temp(self, *folders: Path) -> int:
        """Remove temp files that killed runs left behind: their writer's pid is gone, or they are older
        than :data:`STALE_S`. Without ``folders``: the store's folder, ``runs/`` and its subfolders."""
        if not folders:
            folders = (self.root, self.runs_dir)
            try:
                folders += tuple(Path(e.path) for e in os.scandir(self.runs_dir) if e.is_dir(follow_symlinks=False))
            except OSError:
                pass
        removed, now = 0, time.time()
        for folder in folders:
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for e in entries:
                m = _TMP_PID.search(e.name)
                mine = (m and e.name.startswith(".")) or (folder != self.root and _TMP_OLD.match(e.name))
                if not mine:
                    continue
                try:
                    if not e.is_file(follow_symlinks=False):
                        continue
                    old = now - e.stat(follow_symlinks=False).st_mtime > STALE_S
                    if old or (m and not atomic.pid_alive(int(m.group(1)))):
                        os.unlink(e.path)
                        removed += 1
                except OSError:
                    continue
        return removed

    def _run_files(self, folders: list[Path], on_skip: Callable[[Path, str], None], *,
                   check: bool = True) -> Iterator[tuple[Path, Score]]:
        """The run files under ``folders`` as scores. With ``check`` (whenever a run can enter the database or
        be served) each passes :mod:`memscore.runcheck` first: strict JSON, the run schema, its key and seal
        recomputed from its content, its value against its own tables; a file that fails is ``on_skip``-ped
        with why, never returned."""
        from .runcheck import loads, problems

        for path in self._json_files(folders):
            try:
                data = loads(path.read_bytes())
            except OSError as exc:
                on_skip(path, f"cannot be read ({exc.strerror or exc})")
                continue
            except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, a duplicate key
                on_skip(path, f"not JSON ({_why(exc)})")
                continue
            try:
                score = _score(data)
            except (TypeError, ValueError) as exc:
                on_skip(path, f"not a memscore score ({exc})")
                continue
            missing = [k for k in ("run_id", "key") if not isinstance(score.meta.get(k), str) or not score.meta[k]]
            if missing:
                on_skip(path, f"not a run file: its meta has no {' or '.join(missing)}")
                continue
            bad = problems(data) if check else []
            if bad:
                on_skip(path, f"left out, it fails its integrity check ({bad[0]})")
                continue
            if not isinstance(score.meta.get("created"), (int, float)):
                score.meta["created"] = path.stat().st_mtime
            yield path, score

    def _load(self, path: Path) -> Score | None:
        """The run in ``path``, read again through the checks (None when it no longer passes them)."""
        return next((s for _, s in self._run_files([path], lambda p, why: None)), None)

    def items_of(self, score: Score):
        """A run's per-item outputs (:class:`memscore.items.Items`, None when it kept none): from the run itself,
        or, where an index kept only their stub, from its run file, read through the integrity checks."""
        from .errors import DataError
        from .items import Items, is_stub

        where = f"the run of {score.model} on {score.benchmark}"
        d = score.items
        if is_stub(d):
            full = self._load(self._json_path(score))
            if full is None or full.meta.get("run_id") != score.meta.get("run_id") or is_stub(full.items):
                raise DataError(f"{where}: its per-item outputs are in its run file, which is missing or fails its "
                                f"integrity check; rescore it with --force")
            d = full.items
        return Items.from_dict(d, where=where) if d else None

    @staticmethod
    def _json_files(folders: list[Path]) -> Iterator[Path]:
        """The ``.json`` files under each folder; a path that is a file is taken as it is."""
        for folder in folders:
            if Path(folder).is_file():
                yield Path(folder)
                continue
            yield from sorted(p for p in Path(folder).rglob("*.json") if p.is_file())



class RunFileStore(RunFiles):
    """The run files alone, no database: what sweep jobs store into. Jobs on many machines then never
    share one SQLite file over a network file system; the sweep's driver (or ``memscore collect``) merges
    the files into the database. Lookups read the run files (each parsed once per store object)."""

    def __init__(self, root: Path | str | None = None):
        super().__init__(root)
        self._index: dict[str, tuple[float, Path]] = {}  # key -> (created, run file) of its newest run
        self._parsed: set[Path] = set()
        self.written: list[Path] = []  # the run files this store wrote, in order

    def _refresh(self) -> None:
        if not self.runs_dir.is_dir():
            return
        new = [p for p in self._json_files([self.runs_dir]) if p not in self._parsed]
        for path, score in self._run_files(new, lambda p, why: None):
            self._add(path, score)
        self._parsed.update(new)

    def _add(self, path: Path, score: Score) -> None:
        key, created = score.meta["key"], float(score.meta.get("created") or 0)
        if key not in self._index or self._index[key][0] <= created:
            self._index[key] = (created, path)

    def get(self, key: str) -> Score | None:
        self._refresh()
        hit = self._index.get(key)
        return self._load(hit[1]) if hit else None

    def history(self, key: str) -> list[Score]:
        self._refresh()
        runs = [s for _, s in self._run_files(sorted(self._parsed), lambda p, why: None) if s.meta["key"] == key]
        return sorted(runs, key=lambda s: s.meta.get("created", 0))

    def query(self, model: str | None = None, benchmark: str | None = None,
              all_versions: bool = False) -> list[Score]:
        self._refresh()
        paths = sorted(self._parsed) if all_versions else sorted(p for _, p in self._index.values())
        out = [s for _, s in self._run_files(paths, lambda p, why: None)
               if (model is None or s.model == model) and (benchmark is None or s.benchmark == benchmark)]
        return sorted(out, key=lambda s: (s.benchmark, s.model, s.meta.get("created", 0)))

    def put(self, score: Score, key: str, *, write_json: bool = True) -> Score:
        self._require_writable()
        _stamp(score, key)
        path = self._write_json(score)
        self.written.append(path)
        self._parsed.add(path)
        self._add(path, score)
        return score


def _stamp(score: Score, key: str) -> None:
    """Give a run its identity before it is stored: run id, time, key."""
    score.meta.setdefault("run_id", uuid.uuid4().hex)
    score.meta.setdefault("created", time.time())
    score.meta["key"] = key
    score.meta[SEAL_FIELD] = seal(score.to_dict())


def _score(data: Any) -> Score:
    """A Score from parsed JSON, or TypeError/ValueError saying why it is not one."""
    if not isinstance(data, dict):
        raise TypeError(f"a JSON {type(data).__name__}, not an object")
    missing = [k for k in ("model", "benchmark", "benchmark_version", "value") if k not in data]
    if missing:
        raise ValueError(f"no {', '.join(missing)}")
    if not isinstance(data["model"], str) or not isinstance(data["benchmark"], str):
        raise TypeError("model and benchmark must be strings")
    if data["value"] is not None and (isinstance(data["value"], bool) or not isinstance(data["value"], (int, float))):
        raise TypeError(f"value {data['value']!r} is not a number")
    for k, kind in (("meta", dict), ("layers", list), ("splits", list)):
        if k in data and not isinstance(data[k], kind):
            raise TypeError(f"{k} is not a JSON {'object' if kind is dict else 'list'}")
    return Score.from_dict(data)


def _why(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:120]}" if text else type(exc).__name__


def _inside(path: Path, folder: Path) -> bool:
    try:
        return Path(path).resolve().is_relative_to(Path(folder).resolve())
    except OSError:
        return False
