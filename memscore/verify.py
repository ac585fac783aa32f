"""``memscore verify``: a bundle checked against this installation — on top of the integrity checks every
read of a bundle makes (:func:`memscore.bundle.read_bundle`: SHA-256, schema, key, seal, value against its own
tables), each run's versions against the plugins installed here, its data fingerprint against the user's own
copy of the data, and ``rescore=N`` runs re-run and their numbers compared.
"""
from __future__ import annotations

import json
import math
import random
import sys
from pathlib import Path
from typing import Any, Iterable

from . import __version__
from .bundle import VerifyReport, _check_file, _data, _open, _Run
from .errors import MemscoreError
from .recipe import Recipe
from .record import RunRecord
from .runcheck import num as _num
from .safetext import one_line as _short
from .scores import Score

__all__ = ["verify_bundle"]


def verify_bundle(path: Path | str, *, rescore: int = 0, seed: int = 0,
                  data_roots: Iterable[str] | dict[str, Any] | None = None, tolerance: float = 1e-4,
                  progress: bool = True) -> VerifyReport:
    """Check bundle ``path`` (see the module docstring); ``rescore`` runs are re-scored (chosen at random with
    ``seed`` among those whose data and versions match here) and compared within ``tolerance`` (absolute).
    ``data_roots`` are ``--data-root`` values (``PATH``, ``NAME=PATH``; or a {NAME: PATH} dict): the user's copy of
    each benchmark's (or data set's) data."""
    b = _open(path)
    report = VerifyReport(bundle=str(b.path), tolerance=tolerance)
    runs = [_check_file(b, e, report) for e in b.manifest["runs"]]
    report.runs = len(runs)
    parsed = [r for r in runs if r.score is not None]  # the others failed their file checks already
    for r in parsed:
        _check_versions(r, report)
    roots = _roots(data_roots)
    _check_data(parsed, report, roots)
    _official_data(parsed, report)
    _rescore(parsed, report, rescore, seed, roots, tolerance, progress)
    return report


def _check_versions(run: _Run, report: VerifyReport) -> None:
    """Benchmark version and plugin versions against what is installed here (a mismatch: a warning, and
    the run cannot be rescored, since its key names other versions)."""
    from .api import load_benchmark
    from .pluginmanager import registry

    s = run.score
    rec = RunRecord.of(s)
    add = lambda status, detail: report.add(run.label, "versions", status, detail,  # noqa: E731
                                            run_id=rec.run_id, file=run.entry["file"])
    try:
        entry, _ = registry().get("model", s.model)
        bench = load_benchmark(s.benchmark)
    except MemscoreError as exc:
        add("warn", f"not installed here ({_short(exc, 120)}); this run cannot be rescored")
        return
    diffs = []
    if str(bench.version) != s.benchmark_version:
        diffs.append(f"benchmark {s.benchmark} version {s.benchmark_version} (here {bench.version})")
    for what, (name, version), here in (
            ("model plugin", rec.model_plugin, (entry.plugin, entry.plugin_version)),
            ("benchmark plugin", rec.benchmark_plugin,
             (getattr(bench, "plugin", ""), getattr(bench, "plugin_version", "")))):
        if (name, version) != here:
            diffs.append(f"{what} {name} {version} (here {here[0]} {here[1]})")
    if diffs:
        add("warn", "made with " + "; ".join(diffs) + ": this run cannot be rescored here (its key names "
                                                         "other versions); install those versions to rescore it")
        return
    run.versions_ok = True
    note = "" if rec.memscore_version == __version__ else \
        f"; made with memscore {rec.memscore_version or None} (here {__version__})"
    add("ok", f"benchmark {s.benchmark} {s.benchmark_version}, plugins {' '.join(rec.model_plugin)} / "
              f"{' '.join(rec.benchmark_plugin)} as installed{note}")


def _roots(data_roots: Iterable[str] | dict[str, Any] | None):
    """``--data-root`` values (or a {NAME: PATH} dict) as (unnamed PATH, named roots for every run)."""
    from .dataroots import parse_data_roots

    if isinstance(data_roots, dict):
        data_roots = [f"{k}={v}" if k else str(v) for k, v in data_roots.items()]
    default, named = parse_data_roots(list(data_roots or []))
    named.strict = False  # the roots serve every run of the bundle; a run reads only some of them
    return default, named


def _root(roots, score: Score) -> Path | None:
    """The root of ``score``'s own data: named after its benchmark or data set, else the unnamed one."""
    default, named = roots
    d = _data(score) or {}
    hit = named.get(score.benchmark, *str(d.get("name") or "").split("+"))
    return hit[1] if hit else default


def _check_data(runs: list[_Run], report: VerifyReport, data_roots) -> None:
    """Each run's data fingerprint against the user's own data, fingerprinted once per (benchmark, config,
    data root) with the run's own arguments and keyed options."""
    cache: dict[str, tuple[str, str, str | None]] = {}
    for run in runs:
        s = run.score
        rec = RunRecord.of(s)
        run.recipe = rec.recipe()
        theirs = _data(s)
        root = _root(data_roots, s)
        add = lambda status, detail: report.add(run.label, "data", status, detail,  # noqa: E731
                                                run_id=rec.run_id, file=run.entry["file"])
        if not run.key_ok:
            add("skipped", "not checked: the run's content does not match its key")
            continue
        if theirs is None:
            run.data_ok = True
            add("ok", "the benchmark reads no data")
            continue
        group = json.dumps([s.benchmark, rec.config, str(root)], sort_keys=True, default=str)
        if group not in cache:
            cache[group] = _your_data(run.recipe, root, data_roots[1])
        status, detail, yours = cache[group]  # detail: why not checked, or the name of your data
        if status != "ok":
            add(status, detail)
            continue
        mine = f"{theirs['name']}:{str(theirs['fingerprint'])[:10]}"
        if yours == theirs["fingerprint"]:
            run.data_ok = True
            add("ok", f"same data as yours ({mine})")
        else:
            add("fail", f"data differs: bundle {mine} vs yours {detail}:{str(yours)[:10]} (the run read other "
                        f"data than your copy; it cannot be compared or rescored)")


def _your_data(recipe: Recipe, root: Path | None, named=None) -> tuple[str, str, str | None]:
    """(status, detail or data name, fingerprint) of the user's data for ``recipe``."""
    from .api import plan_benchmark
    from .options import parse_kv

    if not recipe.args_exact:
        return "skipped", f"not checked ({recipe.why})", None
    where = str(root) if root else "the default location"
    try:
        bp = plan_benchmark(recipe.benchmark, benchmark_args=parse_kv(recipe.benchmark_args),
                            options=recipe.options(root, data_roots=named))
    except MemscoreError as exc:
        return "skipped", f"not checked (no data at {where}: {_short(exc, 200)}; --data-root BENCH=PATH)", None
    if bp.data is None:
        return "skipped", "not checked (the benchmark here reads no data)", None
    return "ok", bp.data.name, bp.data.fingerprint


def _official_data(runs: list[_Run], report: VerifyReport) -> None:
    """Where a data set plugin knows the official SHA-1 of its files (Brain-Score's BrainIO assemblies), name
    them: the user's files are checked against them when read, so a matching fingerprint is official data."""
    names = sorted({n for r in runs if (d := _data(r.score)) for n in str(d["name"]).split("+")})
    if not names:
        return
    from .pluginmanager import registry

    specs = {}
    for entry in registry().entries("dataset"):
        try:
            spec = getattr(entry.resolve(), "spec", None)
        except Exception:  # noqa: BLE001 - a data set plugin that cannot load has nothing to say here
            continue
        if spec is not None and getattr(spec, "identifier", None) in names:
            specs[spec.identifier] = spec
    for name in names:
        spec = specs.get(name)
        if spec is None:
            continue
        files = [f"{f.name} {f.sha1[:10]}" for f in getattr(spec, "files", []) if getattr(f, "sha1", None)]
        if not files:
            continue
        matched = [r for r in runs if r.data_ok and name in str((_data(r.score) or {}).get("name")).split("+")]
        status = "ok" if matched else "skipped"
        how = ("your copy, which matches the bundle's fingerprint, was checked against them when read"
               if matched else "not compared (your data was not available or differs)")
        report.add("bundle", "official data", status, f"{name}: official SHA-1 {', '.join(files)}; {how}")


def _rescore(runs: list[_Run], report: VerifyReport, n: int, seed: int, data_roots,
             tolerance: float, progress: bool) -> None:
    """Re-run ``n`` seeded-random runs whose integrity, versions and data check out, and compare numbers."""
    if n <= 0:
        report.add("bundle", "rescore", "skipped", "not asked (--rescore N re-runs N runs)")
        return
    eligible = [r for r in runs if r.sound and r.versions_ok and r.data_ok and r.recipe and r.recipe.exact]
    eligible.sort(key=lambda r: r.entry["file"])
    chosen = random.Random(seed).sample(eligible, min(n, len(eligible)))
    held = [r for r in runs if r not in eligible]
    why = "; ".join(sorted({_why_not(r) for r in held})) or "the bundle holds fewer runs"
    if len(chosen) < n:
        report.add("bundle", "rescore", "warn" if held else "ok",
                   f"{len(chosen)} of {n} asked re-scores possible ({why})")
    from tqdm.auto import tqdm

    for run in tqdm(chosen, desc="re-scoring", unit="run", disable=not progress or not chosen, file=sys.stderr):
        if _rescore_one(run, report, data_roots, tolerance, progress):
            report.rescored += 1
    target = min(n, report.runs)
    if report.rescored < target:
        report.add("bundle", "rescore", "fail",
                   f"re-scored {report.rescored} of the {target} runs asked (--rescore {n}): nothing was compared for "
                   f"the others ({why if len(chosen) < target else 'see their rescore rows'}); give your copy of "
                   f"their data with --data-root NAME=PATH, or ask for fewer")


def _why_not(run: _Run) -> str:
    if not run.sound:
        return "runs that failed a check are not rescored"
    if not run.versions_ok:
        return "runs made with other versions cannot be rescored"
    if not run.data_ok:
        return "runs whose data is not yours cannot be rescored"
    return f"runs that cannot be rebuilt: {run.recipe.why}" if run.recipe else "runs that cannot be rebuilt"


def _rescore_one(run: _Run, report: VerifyReport, data_roots, tolerance: float,
                 progress: bool) -> bool:
    from .api import score as run_score
    from .options import parse_kv

    s, r = run.score, run.recipe
    add = lambda status, detail: report.add(run.label, "rescore", status, detail,  # noqa: E731
                                            run_id=RunRecord.of(s).run_id, file=run.entry["file"])
    try:
        new = run_score(r.model, r.benchmark, weights=r.weights, model_args=parse_kv(r.model_args, "--model-args"),
                        benchmark_args=parse_kv(r.benchmark_args), options=r.options(_root(data_roots, s), progress,
                                                                          data_roots=data_roots[1]),
                        force=True, store=None)
    except MemscoreError as exc:
        add("skipped", f"cannot be re-run here: {_short(exc, 200)}")
        return False
    except Exception as exc:  # noqa: BLE001 - a crash is reported against the run, the other checks stand
        add("fail", f"the re-run crashed: {type(exc).__name__}: {_short(exc, 160)}")
        return False
    bad = []
    if not _within(s.value, new.value, tolerance):
        bad.append(f"value {_num(s.value)} in the bundle, {_num(new.value)} re-scored")
    ours = {row.get("layer"): row.get("value") for row in new.layers}
    theirs = {row.get("layer"): row.get("value") for row in s.layers}
    if set(ours) != set(theirs):
        bad.append(f"layers differ ({len(theirs)} in the bundle, {len(ours)} re-scored)")
    off = [(name, v, ours[name]) for name, v in theirs.items()
           if name in ours and not _within(v, ours[name], tolerance)]
    if off:
        name, a, b = max(off, key=lambda t: abs((t[1] or 0) - (t[2] or 0)))
        bad.append(f"{len(off)} layer value(s) differ, e.g. {name}: {_num(a)} in the bundle, {_num(b)} re-scored")
    deltas = [abs(a - b) for a, b in [(s.value, new.value), *((theirs[k], ours[k]) for k in theirs if k in ours)]
              if isinstance(a, (int, float)) and isinstance(b, (int, float))]
    where = f"device {RunRecord.of(new).device or None} (bundle: {RunRecord.of(s).device or None})"
    if bad:
        add("fail", "; ".join(bad) + f" (tolerance {tolerance:g} absolute; {where})")
    else:
        add("ok", f"value {_num(s.value)} and {len(theirs)} layer values reproduced, max |Δ| "
                  f"{max(deltas, default=0.0):.2g} ≤ {tolerance:g} absolute; {where}")
    return True


def _within(a: Any, b: Any, tol: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(float(a) - float(b)) <= tol
