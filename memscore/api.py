"""The Python API: load plugins by name, score a model on a benchmark, list what is registered."""
from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field, replace
from typing import Any

from . import __version__
from .benchmark import Benchmark, RunOptions
from .fingerprint import DataInfo
from .arguments import validate
from .errors import MemscoreError, OptionError
from .options import check_kwargs
from .pluginmanager import get_plugins, registry
from .registry import Entry
from .scores import Score
from .record import RunRecord
from .store import ResultStore, open_store
from .weights import weights_identity


def _load(kind: str, name: str, kwargs: dict[str, Any], what: str, through: dict[str, Any] | None = None):
    """Create ``name`` after validating ``kwargs``: against the factory's declared ``arguments`` where it
    has them (types, ranges, choices; the registration's fixed params cannot be overridden), else against
    its signature (unknown keys). ``through``: what the core itself hands the factory (a data set's root),
    never validated as a user's option and never offered as one."""
    entry, args = registry().get(kind, name)
    through = dict(through or {})
    clash = [k for k in kwargs if k in through]
    if clash:
        raise OptionError(f"{what}: {clash[0]!r} is not an option here (it is given another way)")
    if entry.available:
        factory = entry.resolve()
        declared = getattr(factory, "arguments", None)
        if declared:
            accepts = getattr(factory, "accepts", None)
            passed = {k: v for k, v in kwargs.items() if k not in _PASSED_THROUGH}
            kwargs = {**kwargs, **validate(declared, passed, what, fixed=entry.params, extra=accepts)}
        else:
            fixed = [k for k in kwargs if k in entry.params and k not in _PASSED_THROUGH]
            if fixed:
                raise OptionError(f"{what} {fixed[0]}: fixed to {entry.params[fixed[0]]!r} by this registration "
                                  f"and cannot be changed")
            check_kwargs(factory, {**entry.params, **kwargs}, what, hide=tuple(through))
    return entry.create(*args, **through, **kwargs), entry


_PASSED_THROUGH = ("weights", "device")  # what the core itself hands a model factory


def load_model(name: str, weights: str | None = "default", *, seed: int = 0, **model_args):
    """Build model ``name``; random init (``weights="none"``) is seeded by ``seed``."""
    import torch

    torch.manual_seed(seed)
    try:
        model, entry = _load("model", name, {"weights": weights, **model_args}, "--model-args")
    except (TypeError, ValueError) as exc:
        if not model_args:
            raise
        args = ",".join(f"{k}={v}" for k, v in model_args.items())
        raise OptionError(f"--model-args {args}: {name} does not accept these values "
                          f"({type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''})") from None
    model.identifier = name
    model.meta["model_args"] = dict(model_args)
    # what its weights were trained on (a registration's ``trained_on=``, or the model's own declaration); random
    # init saw nothing. Scores on benchmarks testing on any of it are marked (memscore.layerwise.training_marks)
    declared = entry.meta.get("trained_on") if model.weights not in ("none", None) else []
    model.meta.setdefault("trained_on", [declared] if isinstance(declared, str) else list(declared or []))
    model.meta.setdefault("plugin", entry.plugin)
    model.meta.setdefault("plugin_version", entry.plugin_version)
    if model.weights == "none":
        model.weights = f"none(seed={seed})"
    return model


def load_benchmark(name: str, **benchmark_args) -> Benchmark:
    bench, entry = _load("benchmark", name, benchmark_args, "--benchmark-args")
    bench.identifier = bench.identifier or name
    bench.version = bench.version or entry.version
    bench.plugin = entry.plugin  # type: ignore[attr-defined]
    bench.plugin_version = entry.plugin_version  # type: ignore[attr-defined]
    return bench


def load_metric(name: str, **metric_args):
    return _load("metric", name, metric_args, "metric args")[0]


def load_dataset(name: str, root=None, **args):
    """Data set ``name`` read from ``root`` (None: where it looks by default), with its options ``args``
    (`--dataset-args`), validated as a benchmark's: against its declared ``arguments``, else its signature."""
    return _load("dataset", name, args, "--dataset-args", through={"root": root})[0]


@dataclass
class RunPlan:
    """What a run would be, before anything runs: its key (everything that changes the result: model,
    weights, plugins and their versions, benchmark, version, arguments, keyed options, data fingerprint)."""

    record: RunRecord  # what the run is (its key) and the provenance its run file will carry
    model: str
    benchmark: Benchmark
    weights: str  # the weights identity
    config: dict[str, Any]
    data: DataInfo | None
    options: RunOptions
    weights_arg: str | None = "default"  # as given (a path, "none", "default"): what the model is built from
    model_args: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.record.key


@dataclass
class BenchmarkPlan:
    """The model-independent half of a run plan: the benchmark loaded and validated, its config (arguments
    and keyed options) and the data it reads, fingerprinted once (a sweep reuses it for every model)."""

    benchmark: Benchmark
    config: dict[str, Any]
    data: DataInfo | None
    options: RunOptions

    def key(self, model: str, weights: str | None = "default", model_args: dict[str, Any] | None = None) -> RunPlan:
        """The run plan of ``model`` on this benchmark (an unknown model name fails here, before any work)."""
        entry, _ = registry().get("model", model)
        weights_id = weights_identity(weights, entry.meta)
        bench = self.benchmark
        config = {**self.config, "model_args": dict(model_args or {})}
        record = RunRecord(model, weights_id, bench.identifier, str(bench.version), config,
                           self.data.to_dict() if self.data else None, (entry.plugin, entry.plugin_version),
                           (getattr(bench, "plugin", ""), getattr(bench, "plugin_version", "")))
        return RunPlan(record, model, bench, weights_id, config, self.data, self.options, weights,
                       dict(model_args or {}))


def plan_benchmark(benchmark: str, *, benchmark_args: dict[str, Any] | None = None,
                   options: RunOptions | None = None, check_roots: bool = True, **option_kwargs) -> BenchmarkPlan:
    """Validate the benchmark, its arguments and the options, and fingerprint its data (runs no model)."""
    options = _options(options, option_kwargs).check()
    bench = load_benchmark(benchmark, **(benchmark_args or {}))
    config = {"benchmark_args": bench.config(), "model_args": {}, **options.keyed()}
    options = options.for_benchmark(bench)
    try:
        data = bench.data(options)
    except MemscoreError:
        if check_roots:  # a NAME=PATH nothing read is likely the data the run missed, mistyped: say that
            options.data_roots.check_all_used(bench.identifier)
        raise
    if check_roots:
        options.data_roots.check_all_used(bench.identifier)
    if _limit_cut_nothing(bench, options, data):  # the whole data set: a full run, keyed as one, not a smoke run
        options = replace(options, limit=None)
        config["limit"] = None
        data = bench.data(options)
    return BenchmarkPlan(bench, config, data.labelled(options.data_name) if data else data, options)


def _limit_cut_nothing(bench: Benchmark, options: RunOptions, data: DataInfo | None) -> bool:
    """Whether ``--limit`` left out no stimulus: fewer stimuli than the limit, and the data read without it
    are the same (same fingerprint)."""
    counts = (data.counts or {}) if data is not None else {}
    count = counts.get("stimuli", counts.get("images"))
    if not options.limit or not isinstance(count, int) or count >= options.limit:
        return False
    whole = bench.data(replace(options, limit=None))
    return whole is not None and whole.fingerprint == data.fingerprint


def _options(options: RunOptions | None, kwargs: dict[str, Any]) -> RunOptions:
    """The run options; ``data_root`` may be a path, ``NAME=PATH`` or a list of them (as ``--data-root``)."""
    if options is None:
        kwargs = dict(kwargs)
        root = kwargs.pop("data_root", None)
        if root is not None:
            from .dataroots import parse_data_roots

            kwargs["data_root"], kwargs["data_roots"] = parse_data_roots(root)
        options = RunOptions(**kwargs)
    return options


def plan(model: str, benchmark: str, *, weights: str | None = "default", model_args: dict[str, Any] | None = None,
         benchmark_args: dict[str, Any] | None = None, options: RunOptions | None = None,
         **option_kwargs) -> RunPlan:
    """Validate everything and compute the run key (reads the data to fingerprint it; runs no model)."""
    registry().get("model", model)  # an unknown name fails before any work
    return plan_benchmark(benchmark, benchmark_args=benchmark_args, options=options,
                          **option_kwargs).key(model, weights, model_args)


def score(model: str, benchmark: str, *, weights: str | None = "default",
          model_args: dict[str, Any] | None = None, benchmark_args: dict[str, Any] | None = None,
          options: RunOptions | None = None, force: bool = False,
          store: ResultStore | None | bool = True, **option_kwargs) -> Score:
    """Score ``model`` on ``benchmark``; a stored result for the same key is returned unless ``force``.

    A benchmark's fan-out argument given several values (``benchmark_args={"metric": "pls,rsa,cka"}``) gives
    one run per value: a list of Scores, in that order (the first computes the activations, the others read them).

    ``option_kwargs`` are :class:`RunOptions` fields (device, batch_size, seed, limit, data_root, ...).
    """
    fan = _fanned(benchmark, benchmark_args)
    if len(fan) > 1:  # one run per value of the benchmark's fan-out argument (a list of Scores, in that order)
        return [score(model, benchmark, weights=weights, model_args=model_args, benchmark_args=args,
                      options=options, force=force, store=store, **option_kwargs) for args in fan]
    p = plan(model, benchmark, weights=weights, model_args=model_args, benchmark_args=benchmark_args,
             options=options, **option_kwargs)
    st = open_store() if store is True else (store or None)
    if st is None:
        return run_plan(p)
    stored = None if force else _stored(st, p.key)
    if stored is not None:
        return stored
    st.require_writable()  # a read-only home serves stored results but must not waste a run
    with st.lock(p.key):  # one computation per key at a time, across processes and machines
        stored = None if force else _stored(st, p.key)  # another process may have finished it meanwhile
        if stored is not None:
            return stored
        return st.put(run_plan(p), p.key)


def dry_run(model: str, benchmark: str, *, weights: str | None = "default", model_args: dict[str, Any] | None = None,
            benchmark_args: dict[str, Any] | None = None, options: RunOptions | None = None,
            **option_kwargs) -> dict[str, Any]:
    """What scoring would do, without doing it: the run key, whether it is stored, and per stimulus set the
    cost (layers, passes, PCA mode, disk and memory) and a time estimate calibrated on this machine now. The
    model is built with random weights (its shapes are what matter: nothing is downloaded)."""
    from .cost import size

    p = plan(model, benchmark, weights=weights, model_args=model_args, benchmark_args=benchmark_args,
             options=options, **option_kwargs)
    st = open_store()
    stored = st.get(p.key) is not None
    estimates = []
    if hasattr(p.benchmark, "estimate"):
        try:
            m = load_model(model, weights="none", seed=p.options.seed, **(model_args or {}))
        except MemscoreError:  # a model that only runs with its own weights (a fine-tuned one): those
            m = load_model(model, weights=weights, seed=p.options.seed, **(model_args or {}))
        for e in p.benchmark.estimate(m, p.options):
            c = e["cost"]
            estimates.append({"stimuli": e["stimuli"], "line": c.line(), "cost": c.__dict__, "seconds": e["seconds"],
                              "disk_bytes": c.bases_bytes + c.activations_bytes,
                              "disk_bytes_h": size(c.bases_bytes + c.activations_bytes),
                              "memory_bytes": c.peak_bytes, "memory_bytes_h": size(c.peak_bytes)})
    return {"model": model, "benchmark": p.benchmark.identifier, "key": p.key, "stored": stored,
            "estimates": estimates}


def _fanned(benchmark: str, benchmark_args: dict[str, Any] | None) -> list[dict[str, Any]]:
    """``benchmark_args`` once per value of the benchmark's fan-out argument (``metric=pls,rsa``), else as given."""
    args = dict(benchmark_args or {})
    entry, _ = registry().get("benchmark", benchmark)
    name = getattr(entry.resolve(), "fans_out", None) if entry.available else None
    value = args.get(name) if name else None
    values = value if isinstance(value, (list, tuple)) else str(value).replace("+", ",").split(",") \
        if isinstance(value, str) else None
    values = [v.strip() if isinstance(v, str) else v for v in (values or []) if str(v).strip()]
    if len(values) < 2:
        return [args]
    return [{**args, name: v} for v in dict.fromkeys(values)]


def _stored(st: ResultStore, key: str) -> Score | None:
    stored = st.get(key)
    if stored is not None:
        stored.meta["from_store"] = True
    return stored


def run_plan(p: RunPlan) -> Score:
    """Compute the run ``p`` describes (no store involved) and fill in its provenance."""
    options, bench, data, model = p.options, p.benchmark, p.data, p.model
    m = load_model(model, weights=p.weights_arg, seed=options.seed, **p.model_args)
    t0 = time.perf_counter()
    result = bench(m, options)
    result.model, result.benchmark = model, bench.identifier
    result.benchmark_version = str(bench.version)
    result.meta.update({
        **p.record.provenance(), "memscore_version": __version__, "weights_resolved": m.weights,
        "params": sum(int(p.numel()) for p in m.module.parameters()),  # the board's parameters, with the run
        "seed": options.seed, "device": str(_device_name(options.device)), "options": options.to_dict(),
        "data": data.to_dict() if data else None,  # as it is after the run (what it read, counted)
        "python": platform.python_version(), "wall_s": round(time.perf_counter() - t0, 3),
    })
    return result


def _device_name(device: str) -> str:
    from .activations import resolve_device

    return str(resolve_device(device))


def _list(kind: str, tag: str | None = None) -> list[Entry]:
    return registry().entries(kind, tag)


def list_models(tag: str | None = None) -> list[Entry]:
    return _list("model", tag)


def list_benchmarks(tag: str | None = None) -> list[Entry]:
    return _list("benchmark", tag)


def list_metrics(tag: str | None = None) -> list[Entry]:
    return _list("metric", tag)


def list_datasets(tag: str | None = None) -> list[Entry]:
    return _list("dataset", tag)


def plugins():
    return get_plugins()
