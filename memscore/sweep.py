"""Sweeps: many models × many benchmarks in one command, one job per model, resumable.

A sweep is planned before anything runs: every pair's run key (data fingerprint included) is computed,
pairs already stored are skipped. Each model is one job that runs its benchmarks in an order that shares
work (a benchmark's declared ``run_after`` first: ``neural-it`` before ``lamem-it``, ``lamem-pls`` before
``lamem-it``), so the activation cache and the PCA bases of a model and stimulus set are computed once.

Jobs store **run files only** (:class:`~memscore.store.RunFileStore`), never a database shared over a
network file system; the driver merges them into the database as jobs finish. Each run is computed under
a per-key lock (:meth:`ResultStore.lock`) that dies with its process, so a job killed (``kill -9``,
``scancel``) loses only the pair it was computing, and a rerun beside a job still running never computes a
pair twice. A sweep lives in ``$MEMSCORE_HOME/sweeps/<id>/``: ``sweep.json`` (what it is), ``jobs/``
(who runs what, where), ``failed/`` (each failure's error and log), ``logs/`` and ``slurm/``.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from . import atomic, paths
from .benchmark import RunOptions
from .cache import read_json
from .errors import MemscoreError, OptionError
from .notice import notice
from .fingerprint import digest
from .paths import safe_name

SWEEP_VERSION = 1
EXECUTORS = ("inline", "local", "slurm")
#: the RunOptions a sweep passes on (progress is the driver's, data roots are per benchmark)
OPTION_FIELDS = ("device", "batch_size", "num_workers", "bf16", "seed", "limit", "skip_bad_images", "pca_bases")


class SweepError(MemscoreError):
    """A sweep cannot be planned or run as asked (one line)."""


# ---------------------------------------------------------------------------------------------
# what a sweep is
# ---------------------------------------------------------------------------------------------
@dataclass
class SweepSpec:
    """Everything that decides a sweep's pairs and their run keys."""

    models: list[str]
    benchmarks: list[str]  # in the order each job runs them
    weights: str = "default"
    model_args: dict[str, Any] = field(default_factory=dict)
    benchmark_args: dict[str, dict[str, Any]] = field(default_factory=dict)  # per benchmark
    data_roots: dict[str, str | None] = field(default_factory=dict)  # per benchmark
    options: dict[str, Any] = field(default_factory=dict)  # RunOptions fields of OPTION_FIELDS
    named_roots: dict[str, str] = field(default_factory=dict)  # every --data-root NAME=PATH

    @property
    def ident(self) -> str:
        d = asdict(self)
        if not d["named_roots"]:
            d.pop("named_roots")  # sweeps planned before named roots keep their identity
        return digest(json.dumps(d, sort_keys=True, default=str))[:12]

    def run_options(self, benchmark: str, progress: bool = False) -> RunOptions:
        from .dataroots import parse_data_roots

        root = self.data_roots.get(benchmark)
        _, named = parse_data_roots([f"{k}={v}" for k, v in self.named_roots.items()])
        named.strict = False  # the roots serve every benchmark of the sweep, each reads some (checked in plan)
        return RunOptions(**self.options, data_root=Path(root) if root else None, data_roots=named,
                          progress=progress)

    def score_kwargs(self, benchmark: str, progress: bool = False) -> dict[str, Any]:
        """The arguments of :func:`memscore.api.score` for one of this sweep's pairs."""
        return {"weights": self.weights, "model_args": dict(self.model_args),
                "benchmark_args": dict(self.benchmark_args.get(benchmark, {})),
                "options": self.run_options(benchmark, progress)}


@dataclass
class Pair:
    model: str
    benchmark: str
    key: str
    state: str = "pending"  # done | running | failed | pending
    detail: str = ""  # a failure's error, where a job runs
    log: str = ""  # the log of the failed or running job

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: the largest list-of-names file read (a name a line: far more than any sweep needs)
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


def split_benchmark_args(args: dict[str, Any], benchmarks: list[str]) -> dict[str, dict[str, Any]]:
    """``--benchmark-args`` of a sweep: each key goes to every benchmark that declares it (``splits`` to
    the LaMem ones, ``folds`` to the neural ones); a key no benchmark of the sweep declares is one line."""
    from .pluginmanager import registry

    accepted = {b: _argument_names(registry().get("benchmark", b)[0]) for b in benchmarks}
    out: dict[str, dict[str, Any]] = {b: {} for b in benchmarks}
    for key, value in args.items():
        takers = [b for b in benchmarks if accepted[b] is None or key in accepted[b]]
        if not takers:
            valid = sorted({n for names in accepted.values() if names for n in names})
            raise OptionError(f"--benchmark-args {key}: no benchmark of this sweep takes it; "
                              f"valid keys: {', '.join(valid)}")
        for b in takers:
            out[b][key] = value
    return out


def forward_args(args: dict[str, dict[str, Any]], data_roots: dict[str, str | None]) -> None:
    """Fill the arguments a benchmark hands on to another benchmark of the sweep (its declared ``forwards``)
    from that benchmark's own arguments and data root, where the user did not set them: ``lamem-it`` then
    commits through the very ``neural-it`` run of the sweep instead of computing another."""
    from .pluginmanager import registry

    for b in args:
        entry = registry().get("benchmark", b)[0]
        names = _argument_names(entry)
        for prefix, target in (getattr(entry.resolve(), "forwards", None) or {}).items():
            if target not in args:
                continue
            given = {**args[target], **({"data_root": data_roots[target]} if data_roots.get(target) else {})}
            for k, v in given.items():
                if names is None or prefix + k in names:
                    args[b].setdefault(prefix + k, v)


def _argument_names(entry) -> set[str] | None:
    """The argument names a benchmark factory takes (None: it takes anything)."""
    import inspect

    factory = entry.resolve()
    declared = getattr(factory, "arguments", None)
    if declared:
        return {a.name for a in declared} - set(entry.params)
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params} - set(entry.params) - {"self"}


def parse_data_roots(values: Iterable[str], benchmarks: list[str]) -> tuple[dict[str, str | None], dict[str, str]]:
    """``--data-root PATH`` and ``--data-root NAME=PATH`` (repeatable, :mod:`memscore.dataroots`): (each
    benchmark's own root: named after it, else the unnamed PATH; every NAME=PATH, which each benchmark's
    options carry so a data set is found by its name)."""
    from .dataroots import parse_data_roots as parse

    default, named = parse(list(values))
    by_name = {k.lower(): str(p) for k, p in named.items()}
    roots = {b: by_name.get(b.lower(), str(default) if default is not None else None) for b in benchmarks}
    return roots, named.to_dict()


def order_benchmarks(benchmarks: list[str], run_after: dict[str, tuple[str, ...]]) -> list[str]:
    """The job order: the user's order, except that a benchmark runs after those it declares
    ``run_after`` (when they are in the sweep)."""
    out: list[str] = []
    visiting: set[str] = set()

    def visit(b: str) -> None:
        if b in out or b in visiting:
            return
        visiting.add(b)
        for dep in run_after.get(b, ()):
            if dep in benchmarks:
                visit(dep)
        out.append(b)

    for b in benchmarks:
        visit(b)
    return out


# ---------------------------------------------------------------------------------------------
# the sweep folder
# ---------------------------------------------------------------------------------------------
class Sweep:
    """A planned sweep and its folder ``$MEMSCORE_HOME/sweeps/<id>``."""

    def __init__(self, spec: SweepSpec, pairs: list[Pair], folder: Path, home: str | None = None):
        self.spec, self.pairs, self.folder = spec, pairs, Path(folder)
        self.home = home  # the MEMSCORE_HOME it was planned in (a job on another node stores there)

    @property
    def ident(self) -> str:
        return self.spec.ident

    @classmethod
    def plan(cls, spec: SweepSpec) -> "Sweep":
        """Validate every benchmark, argument and model name and compute every pair's key (reads the data
        once per benchmark to fingerprint it; runs no model)."""
        from . import api
        from .dataroots import DataRoots

        bplans, opts = {}, {b: spec.run_options(b) for b in spec.benchmarks}
        read = lambda: DataRoots.union(o.data_roots for o in opts.values())  # noqa: E731 (union is strict)
        what = f"this sweep ({', '.join(spec.benchmarks)})"
        failed: MemscoreError | None = None
        for b in spec.benchmarks:
            try:
                bplans[b] = api.plan_benchmark(b, benchmark_args=spec.benchmark_args.get(b), options=opts[b],
                                               check_roots=False)
            except MemscoreError as exc:  # the others still say which names they read
                failed = failed or exc
        read().check_all_used(what)  # a NAME=PATH no benchmark reads (likely the data that was missed): one line
        if failed is not None:
            raise failed
        order = order_benchmarks(spec.benchmarks, {b: tuple(p.benchmark.run_after) for b, p in bplans.items()})
        spec.benchmarks = order
        pairs = [Pair(m, b, bplans[b].key(m, spec.weights, spec.model_args).key)
                 for m in spec.models for b in order]
        return cls(spec, pairs, sweeps_dir() / spec.ident)

    @classmethod
    def load(cls, folder: Path | str) -> "Sweep":
        folder = Path(folder)
        try:
            d = json.loads((folder / "sweep.json").read_text())
            return cls(SweepSpec(**d["spec"]), [Pair(**p) for p in d["pairs"]], folder, d.get("home"))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SweepError(f"{folder}: not a readable sweep ({type(exc).__name__}: {exc}); "
                             f"`memscore sweep status --all` lists the sweeps") from None

    def save(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        d = {"version": SWEEP_VERSION, "id": self.ident, "created": time.time(), "home": str(paths.home()),
             "spec": asdict(self.spec), "pairs": [{"model": p.model, "benchmark": p.benchmark, "key": p.key}
                                                  for p in self.pairs]}
        path = self.folder / "sweep.json"
        if path.is_file():
            try:
                d["created"] = json.loads(path.read_text()).get("created", d["created"])
            except (OSError, ValueError):
                pass
        atomic.write_text(path, json.dumps(d, indent=1, default=str))

    # -- state -------------------------------------------------------------------------------
    def job_file(self, model: str) -> Path:
        return self.folder / "jobs" / f"{safe_name(model)}.json"

    def failure_file(self, pair: Pair) -> Path:
        return self.folder / "failed" / f"{safe_name(pair.model)}--{safe_name(pair.benchmark)}.json"

    def log_file(self, model: str) -> Path:
        return self.folder / "logs" / f"{safe_name(model)}.log"

    def refresh(self, store=None, collect: bool = True) -> list[Pair]:
        """Each pair's state: done (its key is stored: in the database or a run file, which is merged
        into the database here), running (its job's process or SLURM job is alive), failed (with the
        error and the log), else pending."""
        from .store import ResultStore

        st = store or ResultStore()
        for p in self.pairs:
            p.state, p.detail, p.log = "pending", "", ""
            if st.get(p.key) is not None or (collect and _collect_pair(st, p)):
                p.state = "done"
        running = {m: info for m in {p.model for p in self.pairs if p.state != "done"}
                   if (info := self._running(m))}
        for p in self.pairs:
            if p.state == "done":
                continue
            if p.model in running:
                p.state, p.detail, p.log = "running", running[p.model]["where"], running[p.model].get("log", "")
                continue
            fail = read_json(self.failure_file(p), None)
            if fail and fail.get("key") == p.key:
                p.state, p.detail, p.log = "failed", fail.get("error", ""), fail.get("log", "")
        return self.pairs

    def _running(self, model: str) -> dict | None:
        info = read_json(self.job_file(model), None)
        if not info or info.get("finished"):
            return None
        job_id = info.get("slurm_job_id")
        if job_id:
            if _slurm_alive(job_id):
                return {**info, "where": f"SLURM job {job_id} on {info.get('host')}"}
            return None
        if info.get("host") == socket.gethostname() and atomic.pid_alive(int(info.get("pid", 0))):
            return {**info, "where": f"pid {info['pid']} on {info['host']}"}
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"sweep": self.ident, "folder": str(self.folder), "counts": self.counts(),
                "pairs": [p.to_dict() for p in self.pairs]}

    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in ("done", "running", "failed", "pending")}
        for p in self.pairs:
            out[p.state] += 1
        return out


def sweeps_dir() -> Path:
    return paths.home() / "sweeps"


def find_sweep(ident: str | None = None) -> Sweep:
    """The sweep ``ident`` (a prefix is enough), else the most recently planned one."""
    folders = sorted((p for p in sweeps_dir().glob("*") if (p / "sweep.json").is_file()),
                     key=lambda p: (p / "sweep.json").stat().st_mtime)
    if ident:
        folders = [p for p in folders if p.name.startswith(ident)]
        if not folders:
            raise SweepError(f"no sweep {ident!r} in {sweeps_dir()}; `memscore sweep status --all` lists them")
    if not folders:
        raise SweepError(f"no sweep has run with MEMSCORE_HOME={paths.home()}; start one with `memscore sweep`")
    return Sweep.load(folders[-1])


def _collect_pair(store, pair: Pair) -> bool:
    """Merge the run files of ``pair`` (a job wrote them; the driver may have died before merging)."""
    folder = store.runs_dir / safe_name(pair.benchmark)
    files = sorted(folder.glob(f"{safe_name(pair.model)}--*.json")) if folder.is_dir() else []
    if not files or not store.writable:
        return False
    store.collect(files, on_skip=_merge_skip)
    return store.get(pair.key) is not None


def _merge_skip(path: Path, why: str) -> None:
    """A job's run file that does not enter the store (damaged, or failing its integrity check): said once."""
    notice(f"sweep: the run file {path} was not merged: {why}")


def _slurm_alive(job_id: str) -> bool:
    """Whether SLURM still has the job (pending or running)."""
    try:
        out = subprocess.run(["squeue", "-h", "-j", str(job_id), "-o", "%T"], capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and any(s in out.stdout for s in ("RUNNING", "PENDING", "CONFIGURING", "COMPLETING"))


# ---------------------------------------------------------------------------------------------
# one job: one model's pairs
# ---------------------------------------------------------------------------------------------
def run_job(folder: str, model: str, log: str = "", progress: bool = False) -> dict[str, Any]:
    """Run ``model``'s pairs of the sweep in ``folder`` in order, storing run files only. A failing pair
    is recorded (error, traceback, log) and the next one runs. Returns the run files written."""
    from .store import STORE_ENV

    saved = {k: os.environ.get(k) for k in ("MEMSCORE_HOME", STORE_ENV)}
    try:
        return _run_job(folder, model, log, progress)
    finally:  # an inline job runs in the driver's process: leave its environment as it was
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _run_job(folder: str, model: str, log: str, progress: bool) -> dict[str, Any]:
    sweep = Sweep.load(folder)
    if sweep.home:
        os.environ["MEMSCORE_HOME"] = sweep.home  # a job on another node stores where its sweep lives
    from .store import STORE_ENV, RunFileStore, open_store

    os.environ[STORE_ENV] = "files"  # every store this job opens (commitments included) is run files only
    store = open_store()
    assert isinstance(store, RunFileStore)
    first = len(store.written)
    slurm_id = os.environ.get("SLURM_JOB_ID")
    if slurm_id and os.environ.get("SLURM_ARRAY_JOB_ID"):
        slurm_id = f"{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ.get('SLURM_ARRAY_TASK_ID', '')}"
    state = {"model": model, "pid": os.getpid(), "host": socket.gethostname(), "slurm_job_id": slurm_id,
             "started": time.time(), "log": log, "finished": False}
    job_file = sweep.job_file(model)
    job_file.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(job_file, json.dumps(state, indent=1))
    failed: list[str] = []
    try:
        from . import api

        for pair in (p for p in sweep.pairs if p.model == model):
            ff = sweep.failure_file(pair)
            try:
                result = api.score(model, pair.benchmark, store=store,
                                   **sweep.spec.score_kwargs(pair.benchmark, progress=progress))
                if result.meta.get("key") not in (None, pair.key):
                    raise SweepError(f"{model} on {pair.benchmark}: the run key changed since the sweep was "
                                     f"planned (data or plugins changed); run the sweep again to re-plan it")
                ff.unlink(missing_ok=True)
            except Exception as exc:  # noqa: BLE001 - one failing pair never stops the others
                failed.append(pair.benchmark)
                ff.parent.mkdir(parents=True, exist_ok=True)
                atomic.write_text(ff, json.dumps({
                    "model": model, "benchmark": pair.benchmark, "key": pair.key, "time": time.time(),
                    "error": f"{type(exc).__name__}: {exc}".splitlines()[0][:500], "log": log,
                    "traceback": traceback.format_exc()}, indent=1))
                print(f"memscore sweep: {model} on {pair.benchmark} failed: {exc}", file=sys.stderr, flush=True)
    finally:
        files = [str(p) for p in store.written[first:]]
        atomic.write_text(job_file, json.dumps({**state, "finished": time.time(), "files": files,
                                                "failed": failed}, indent=1))
    return {"model": model, "files": files, "failed": failed}


# ---------------------------------------------------------------------------------------------
# executors: they start jobs and say when each ends
# ---------------------------------------------------------------------------------------------
@dataclass
class Finished:
    model: str
    files: list[str] = field(default_factory=list)
    error: str = ""  # the job itself died (killed, cancelled, crashed)
    log: str = ""


class InlineExecutor:
    """Every job in this process, one after the other."""

    name = "inline"
    rerun_running = True  # a job still running here holds its locks: a rerun of its model waits for it

    def __init__(self, progress: bool = True):
        self.progress = progress

    def run(self, sweep: Sweep, models: list[str]) -> Iterator[Finished]:
        for m in models:
            out = run_job(str(sweep.folder), m, progress=self.progress)
            yield Finished(m, out["files"])


class LocalExecutor:
    """``jobs`` worker processes on this machine (``python -m memscore.sweep job``), each with its log;
    on a machine with GPUs each worker sees one GPU (round robin)."""

    name = "local"
    rerun_running = True

    def __init__(self, jobs: int = 1, gpus: int | None = None):
        self.jobs = max(1, jobs)
        self.gpus = _cuda_count() if gpus is None else gpus

    def run(self, sweep: Sweep, models: list[str]) -> Iterator[Finished]:
        todo = list(models)
        running: dict[subprocess.Popen, tuple[str, int, Path]] = {}
        free = list(range(self.jobs))
        try:
            while todo or running:
                while todo and free:
                    model, slot = todo.pop(0), free.pop(0)
                    log = sweep.log_file(model)
                    log.parent.mkdir(parents=True, exist_ok=True)
                    env = dict(os.environ)
                    if self.gpus:
                        env["CUDA_VISIBLE_DEVICES"] = str(slot % self.gpus)
                    with open(log, "ab") as fh:
                        proc = subprocess.Popen([sys.executable, "-m", "memscore.sweep", "job", str(sweep.folder),
                                                 model, str(log)], stdout=fh, stderr=subprocess.STDOUT, env=env)
                    running[proc] = (model, slot, log)
                time.sleep(0.2)
                for proc in [p for p in running if p.poll() is not None]:
                    model, slot, log = running.pop(proc)
                    free.append(slot)
                    info = read_json(sweep.job_file(model), None) or {}
                    err = "" if proc.returncode == 0 else f"worker exited with code {proc.returncode}"
                    yield Finished(model, info.get("files", []) if info.get("finished") else [], err, str(log))
        finally:
            for proc in running:  # the driver stops (Ctrl-C): its workers stop too; finished runs are kept
                proc.terminate()


class SlurmExecutor:
    """One SLURM job array through submitit: one array task per model."""

    name = "slurm"
    rerun_running = False  # a queued or running SLURM job is left to finish (`sweep status` shows it)

    def __init__(self, *, partition: str | None = None, time_limit: str = "24:00:00", mem: str | None = None,
                 gpus_per_job: int = 0, array_parallelism: int = 64, account: str | None = None,
                 extra: dict[str, Any] | None = None, wait: bool = True):
        self.params: dict[str, Any] = {"time": slurm_minutes(time_limit), "array_parallelism": array_parallelism}
        if partition:
            self.params["partition"] = partition
        if mem:
            self.params["mem"] = mem
        if gpus_per_job:
            self.params["gpus_per_node"] = gpus_per_job
        if account:
            self.params["account"] = account
        if extra:
            self.params["additional_parameters"] = dict(extra)
        self.wait = wait
        self.jobs: list = []

    @staticmethod
    def require() -> None:
        """Fail in one line when this machine cannot submit to SLURM: submitit or SLURM's own commands
        (``sbatch``, and ``srun``, which submitit looks for) missing. The CLI calls it before planning."""
        import importlib.util
        import shutil

        if importlib.util.find_spec("submitit") is None:
            raise SweepError("--executor slurm needs submitit, which is not installed: pip install 'memscore[slurm]' "
                             "(or use --executor local)")
        missing = [c for c in ("sbatch", "srun") if shutil.which(c) is None]
        if missing:
            raise SweepError(f"--executor slurm: SLURM is not installed here ({' and '.join(missing)} not on PATH); "
                             f"run the sweep on a SLURM login node (or install slurm-wlm), or use --executor local")

    def run(self, sweep: Sweep, models: list[str]) -> Iterator[Finished]:
        self.require()
        import submitit

        ex = submitit.SlurmExecutor(folder=str(sweep.folder / "slurm" / "%j"))
        ex.update_parameters(job_name=f"memscore-{sweep.ident}", **self.params)
        try:
            self.jobs = ex.map_array(run_job, [str(sweep.folder)] * len(models), models)
        except Exception as exc:  # noqa: BLE001 - sbatch refusing is the user's to fix
            raise SweepError(f"sbatch refused the sweep's job array: {str(exc).strip().splitlines()[-1][:300]}") from None
        for m, job in zip(models, self.jobs):
            _write_submitted(sweep, m, job)
        if not self.wait:
            return
        pending = dict(zip(models, self.jobs))
        while pending:
            time.sleep(1.0)
            for m, job in list(pending.items()):
                if not job.done():
                    continue
                del pending[m]
                log = str(job.paths.stdout)
                try:
                    out = job.result()
                    yield Finished(m, out["files"], "", log)
                except Exception as exc:  # noqa: BLE001 - cancelled, timed out, node failure
                    yield Finished(m, [], f"SLURM job {job.job_id}: {str(exc).strip().splitlines()[0][:300]}", log)


def _write_submitted(sweep: Sweep, model: str, job) -> None:
    """Record a submitted SLURM job before it starts, so `sweep status` shows it as running (queued)."""
    path = sweep.job_file(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(path, json.dumps({"model": model, "slurm_job_id": str(job.job_id), "host": "(queued)",
                                        "submitted": time.time(), "log": str(job.paths.stdout),
                                        "finished": False}, indent=1))


def slurm_minutes(text: str) -> int:
    """SLURM's time formats (``MM``, ``HH:MM:SS``, ``D-HH:MM``, ...) as whole minutes."""
    t = str(text).strip()
    try:
        days, _, rest = t.rpartition("-")
        parts = [int(x) for x in rest.split(":")]
        if days == "" and len(parts) == 1:
            h, m, s = 0, parts[0], 0
        elif days == "" and len(parts) == 2:
            h, m, s = 0, parts[0], parts[1]
        else:
            h, m, s = (parts + [0, 0, 0])[:3]
        minutes = int(days or 0) * 1440 + h * 60 + m + (1 if s else 0)
    except ValueError:
        minutes = -1
    if minutes <= 0:
        raise OptionError(f"--slurm-time {text}: use MINUTES, HH:MM:SS or D-HH:MM:SS (e.g. 12:00:00)")
    return minutes


def _cuda_count() -> int:
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:  # noqa: BLE001
        return 0


# ---------------------------------------------------------------------------------------------
# the driver
# ---------------------------------------------------------------------------------------------
@dataclass
class SweepReport:
    sweep: Sweep
    ran: list[str] = field(default_factory=list)  # models whose job ran
    job_errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(p.state == "done" for p in self.sweep.pairs)


def run_sweep(sweep: Sweep, executor, *, progress: bool = True,
              on_plan: Callable[[Sweep], None] | None = None, dry_run: bool = False) -> SweepReport:
    """Run what ``sweep`` lacks: merge run files already there, plan, start one job per model that has a
    pending or failed pair, merge each job's run files as it ends. Running it again runs only what is
    missing."""
    from tqdm.auto import tqdm

    from .store import ResultStore

    store = ResultStore()
    sweep.refresh(store)
    if on_plan:
        on_plan(sweep)
    report = SweepReport(sweep)
    if dry_run:
        return report
    wanted = ("pending", "failed", "running") if executor.rerun_running else ("pending", "failed")
    models = list(dict.fromkeys(p.model for p in sweep.pairs if p.state in wanted))
    if not models:
        return report
    store.require_writable()
    sweep.save()
    todo = sum(1 for p in sweep.pairs if p.model in models and p.state != "done")
    bar = tqdm(total=todo, desc=f"sweep {sweep.ident}", unit="pair", disable=not progress)
    for fin in executor.run(sweep, models):
        report.ran.append(fin.model)
        if fin.files:
            store.collect([Path(f) for f in fin.files], on_skip=_merge_skip)
        if fin.error:
            report.job_errors[fin.model] = fin.error
            _record_job_error(sweep, fin, store)
        bar.update(sum(1 for p in sweep.pairs if p.model == fin.model and p.state != "done"))
    bar.close()
    sweep.refresh(store)
    return report


def _record_job_error(sweep: Sweep, fin: Finished, store) -> None:
    """A job that died (killed, cancelled) recorded nothing itself: record it for its unfinished pairs."""
    for p in sweep.pairs:
        if p.model != fin.model or store.get(p.key) is not None or _collect_pair(store, p):
            continue
        ff = sweep.failure_file(p)
        if (read_json(ff, None) or {}).get("key") == p.key:
            continue  # the job recorded this pair's own error
        ff.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_text(ff, json.dumps({"model": p.model, "benchmark": p.benchmark, "key": p.key,
                                          "time": time.time(), "error": fin.error, "log": fin.log}, indent=1))


def sweep(models: Iterable[str], benchmarks: Iterable[str], *, weights: str = "default",
          model_args: dict[str, Any] | None = None, benchmark_args: dict[str, Any] | None = None,
          data_roots: Iterable[str] | dict[str, str] = (), executor: Any = "inline", jobs: int = 1,
          progress: bool = True, dry_run: bool = False, on_plan: Callable[[Sweep], None] | None = None,
          **options: Any) -> SweepReport:
    """The Python form of ``memscore sweep``: names or ``tag:T`` for models and benchmarks, benchmark
    arguments given once (each goes to the benchmarks that declare it), ``data_roots`` as ``PATH`` or
    ``BENCHMARK=PATH`` strings (or a dict), ``options`` = RunOptions fields (device, seed, limit, ...)."""
    unknown = set(options) - set(OPTION_FIELDS)
    if unknown:
        raise OptionError(f"sweep: unknown option(s) {', '.join(sorted(unknown))}; valid: {', '.join(OPTION_FIELDS)}")
    model_names = resolve_names("model", list(models), "--models")
    bench_names = resolve_names("benchmark", list(benchmarks), "--benchmarks")
    if isinstance(data_roots, dict):
        data_roots = [f"{k}={v}" for k, v in data_roots.items()]
    roots, named = parse_data_roots(data_roots, bench_names)
    bargs = split_benchmark_args(dict(benchmark_args or {}), bench_names)
    forward_args(bargs, roots)
    defaults = RunOptions()
    spec = SweepSpec(models=model_names, benchmarks=bench_names, weights=weights, model_args=dict(model_args or {}),
                     benchmark_args=bargs, data_roots=roots, named_roots=named,
                     options={k: options.get(k, getattr(defaults, k)) for k in OPTION_FIELDS})
    ex = {"inline": lambda: InlineExecutor(progress), "local": lambda: LocalExecutor(jobs)}.get(executor)
    ex = ex() if ex else executor
    return run_sweep(Sweep.plan(spec), ex, progress=progress, dry_run=dry_run, on_plan=on_plan)


def estimate(sweep: Sweep, store=None) -> tuple[float, int]:
    """(seconds, pairs) the pairs to run would take, from the wall time of earlier runs of the same model
    and benchmark (any data or arguments); pairs never run before are not counted."""
    from .store import ResultStore

    st = store or ResultStore()
    total, known = 0.0, 0
    seen: dict[tuple[str, str], float | None] = {}
    for p in sweep.pairs:
        if p.state == "done":
            continue
        k = (p.model, p.benchmark)
        if k not in seen:
            walls = [s.meta.get("wall_s") for s in st.query(p.model, p.benchmark, all_versions=True)]
            walls = sorted(w for w in walls if isinstance(w, (int, float)))
            seen[k] = walls[len(walls) // 2] if walls else None
        if seen[k] is not None:
            total += seen[k]
            known += 1
    return total, known


def main(argv: list[str] | None = None) -> int:
    """``python -m memscore.sweep job FOLDER MODEL [LOG]``: one job of a local sweep."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 3 or argv[0] != "job":
        print("usage: python -m memscore.sweep job SWEEP_FOLDER MODEL [LOG]", file=sys.stderr)
        return 2
    out = run_job(argv[1], argv[2], argv[3] if len(argv) > 3 else "")
    return 0 if not out["failed"] else 3


if __name__ == "__main__":
    sys.exit(main())
