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
import socket
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from . import atomic, paths
from .benchmark import RunOptions
from .cache import read_json
from .errors import MemscoreError, OptionError
from .notice import notice
from .fingerprint import digest
from .names import resolve_names
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


def _record_job_error(sweep: Sweep, fin, store) -> None:
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
    from .api import _fanned

    for b in bench_names:
        if len(_fanned(b, bargs.get(b))) > 1:  # one run per value is `memscore score`'s, not yet a sweep's
            from .errors import OptionError

            name = next(k for k in (bargs.get(b) or {}) if len(_fanned(b, {k: bargs[b][k]})) > 1)
            raise OptionError(f"--benchmark-args {name}={bargs[b][name]}: a sweep takes one value for {b}; run "
                              f"one sweep per value, or `memscore score` with {name}={bargs[b][name]}")
    forward_args(bargs, roots)
    defaults = RunOptions()
    spec = SweepSpec(models=model_names, benchmarks=bench_names, weights=weights, model_args=dict(model_args or {}),
                     benchmark_args=bargs, data_roots=roots, named_roots=named,
                     options={k: options.get(k, getattr(defaults, k)) for k in OPTION_FIELDS})
    from .jobs import InlineExecutor, LocalExecutor

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


