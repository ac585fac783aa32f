"""Result bundles: stored runs carried between users (community leaderboards) and checked on arrival.

A bundle is a zip of ``manifest.json`` and the run files exactly as the store wrote them
(``runs/<benchmark>/<file>.json``). The manifest says where the runs were made (memscore, Python, platform,
devices, plugin versions), what data each benchmark read (by content fingerprint), the SHA-256 of every run
file and a ``memscore score`` command line that reproduces each run.

:func:`verify_bundle` trusts nothing in the zip: each run file is checked against its hash and the manifest,
its key is recomputed from its own content (an edited config, model or data fingerprint no longer matches),
its value against its own layer and split tables, its versions against the plugins installed here, its data
fingerprint against the user's own copy of the data; ``rescore=N`` re-runs N runs and compares the numbers.
Both schemas (``memscore/schemas/*.schema.json``) are JSON Schema 2020-12.
"""
from __future__ import annotations

import hashlib
import json
import math
import platform
import random
import shlex
import sys
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

from . import __version__, atomic, paths
from .errors import MemscoreError
from .paths import safe_name
from .scores import Score

__all__ = ["BundleError", "Bundle", "VerifyReport", "make_bundle", "read_bundle", "verify_bundle",
           "schema_errors", "reproduce"]

FORMAT = "memscore-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
_FIX = "ask its author for a new one made with `memscore bundle`"


class BundleError(MemscoreError):
    """A bundle that cannot be written or read (one line naming the bundle, the member and the fix)."""


# ---------------------------------------------------------------------------------------------
# schemas
# ---------------------------------------------------------------------------------------------
@lru_cache(maxsize=None)
def _validator(name: str):
    from jsonschema import Draft202012Validator

    text = resources.files("memscore").joinpath("schemas", f"{name}.schema.json").read_text()
    return Draft202012Validator(json.loads(text))


def schema_errors(doc: Any, name: str) -> list[str]:
    """What is wrong with ``doc`` under schema ``name`` ("run" or "bundle"), as ``at /path: why`` lines."""
    errors = sorted(_validator(name).iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    return [f"at /{'/'.join(map(str, e.absolute_path))}: {_short(e.message)}" for e in errors]


def _short(text: str, n: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


# ---------------------------------------------------------------------------------------------
# reproducing a run: its `memscore score` arguments, rebuilt from the stored config
# ---------------------------------------------------------------------------------------------
@dataclass
class Recipe:
    """How to run a stored run again. ``exact`` says whether the arguments rebuild exactly the stored config
    (a reference folder or a data set manifest is stored as a word, not a path, so those cannot be)."""

    model: str
    benchmark: str
    weights: str
    model_args: str
    benchmark_args: str
    seed: int
    limit: int | None
    bf16: bool
    skip_bad_images: bool
    exact: bool = True  # the whole run can be rebuilt (arguments and weights)
    why: str = ""
    args_exact: bool = True  # the benchmark's config can be rebuilt (what the data check needs)

    def argv(self) -> list[str]:
        argv = ["memscore", "score", "--model", self.model, "--benchmark", self.benchmark, "--weights", self.weights]
        argv += ["--model-args", self.model_args] if self.model_args else []
        argv += ["--benchmark-args", self.benchmark_args] if self.benchmark_args else []
        argv += ["--seed", str(self.seed)]
        argv += ["--limit", str(self.limit)] if self.limit else []
        argv += ["--bf16"] if self.bf16 else []
        argv += ["--skip-bad-images"] if self.skip_bad_images else []
        return argv

    @property
    def command(self) -> str:
        return shlex.join(self.argv())

    def options(self, data_root: Path | None = None, progress: bool = False, device: str = "auto"):
        from .benchmark import RunOptions

        return RunOptions(device=device, seed=self.seed, limit=self.limit, data_root=data_root, bf16=self.bf16,
                          skip_bad_images=self.skip_bad_images, progress=progress)


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "none"
    if isinstance(v, (list, tuple)):
        return "+".join(_fmt(x) for x in v)
    return repr(v) if isinstance(v, float) else str(v)


def _kv(args: dict[str, Any]) -> str:
    return ",".join(f"{k}={_fmt(v)}" for k, v in args.items())


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


_MISSING = object()


def _benchmark_args(name: str, stored: dict[str, Any]) -> tuple[str, bool, str]:
    """The ``--benchmark-args`` that rebuild ``stored`` (the run's ``config.benchmark_args``): the keys whose
    stored value differs from the benchmark's defaults here (a nested ``<x>_args`` dict as ``<x>_<key>``),
    checked by building the benchmark from them and comparing its config."""
    from .api import load_benchmark
    from .options import parse_kv

    try:
        base = load_benchmark(name).config()
    except MemscoreError as exc:
        return _kv(stored), False, f"benchmark {name} cannot be loaded here ({_short(exc, 100)})"
    args: dict[str, Any] = {}
    for k, v in stored.items():
        b = base.get(k, _MISSING)
        if _same(b, v):
            continue
        if isinstance(v, dict) and isinstance(b, dict) and k.endswith("_args"):
            args.update({f"{k[:-4]}{sk}": sv for sk, sv in v.items() if not _same(b.get(sk, _MISSING), sv)})
        else:
            args[k] = v
    text = _kv(args)
    try:
        got = load_benchmark(name, **parse_kv(text, "--benchmark-args")).config()
    except MemscoreError as exc:
        return text, False, f"its benchmark arguments cannot be rebuilt from the stored config ({_short(exc, 100)})"
    if not _same(got, stored):
        diff = sorted(k for k in set(got) | set(stored) if not _same(got.get(k), stored.get(k)))
        return text, False, f"its stored config ({', '.join(diff)}) cannot be rebuilt from --benchmark-args"
    return text, True, ""


def reproduce(score: Score) -> Recipe:
    """The ``memscore score`` arguments that re-run ``score`` (loads its benchmark to rebuild its arguments)."""
    meta = score.meta
    cfg = meta.get("config") or {}
    wid = str(meta.get("weights", "default"))
    weights, exact, why = wid, True, ""
    if wid == "none" or wid.startswith("none("):
        weights = "none"
    elif wid == "default" or wid.startswith("default:"):
        weights = "default"
    elif wid.startswith("file:"):
        exact, why = False, f"its weights are a local checkpoint ({wid}); pass that file as --weights"
    bargs, b_exact, b_why = _benchmark_args(score.benchmark, cfg.get("benchmark_args") or {})
    return Recipe(model=score.model, benchmark=score.benchmark, weights=weights,
                  model_args=_kv(cfg.get("model_args") or {}), benchmark_args=bargs,
                  seed=int(cfg.get("seed", meta.get("seed", 0)) or 0), limit=cfg.get("limit"),
                  bf16=bool(cfg.get("bf16", False)), skip_bad_images=bool(cfg.get("skip_bad_images", False)),
                  exact=exact and b_exact, why="; ".join(w for w in (why, b_why) if w), args_exact=b_exact)


# ---------------------------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------------------------
def _run_file(score: Score, runs_dir: Path) -> tuple[str, bytes]:
    """(file name, bytes) of ``score``'s run file: the stored file itself where it is found, else the JSON the
    store writes for it."""
    meta = score.meta
    run_id = str(meta["run_id"])
    folder = runs_dir / safe_name(score.benchmark)
    for path in sorted(folder.glob(f"*--{run_id[:12]}.json")) if folder.is_dir() else []:
        try:
            data = path.read_bytes()
            if json.loads(data).get("meta", {}).get("run_id") == run_id:
                return path.name, data
        except (OSError, ValueError, AttributeError):
            continue
    clean = Score.from_dict({**score.to_dict(), "meta": {k: v for k, v in meta.items() if k != "from_store"}})
    stamp = datetime.fromtimestamp(float(meta["created"]), timezone.utc).strftime("%Y%m%dT%H%M%S")
    return f"{safe_name(score.model)}--{stamp}--{run_id[:12]}.json", clean.to_json(indent=1).encode()


def _label(model: Any, benchmark: Any, run_id: Any, file: Any = None) -> str:
    where = f", {file}" if file else ""
    return f"{model} on {benchmark} (run {str(run_id or '?')[:12]}{where})"


def _data(meta: dict) -> dict | None:
    d = meta.get("data")
    return {"name": d.get("name"), "fingerprint": d.get("fingerprint")} if isinstance(d, dict) else None


def make_bundle(out: Path | str, scores: Iterable[Score], *, command: list[str] | None = None,
                force: bool = False, runs_dir: Path | None = None) -> Path:
    """Write the bundle ``out`` (a zip) of ``scores`` (stored runs) atomically; an existing ``out`` is
    replaced only with ``force``. Returns ``out``."""
    from .api import KEY_VERSION

    out = Path(out).expanduser()
    if out.is_dir():
        raise BundleError(f"--out {out} is a folder; give the bundle's file name, e.g. {out / 'results.zip'}")
    if out.exists() and not force:
        raise BundleError(f"--out {out} exists already; pass --force to replace it, or choose another name")
    runs_dir = Path(runs_dir) if runs_dir else paths.runs_dir()
    seen: dict[str, Score] = {}
    for s in scores:
        rid = s.meta.get("run_id")
        if not rid or not s.meta.get("key") or not s.meta.get("created"):
            raise BundleError(f"the result of {s.model} on {s.benchmark} is not a stored run (no run id or key); "
                              f"bundle results from the store (`memscore results` lists them)")
        seen.setdefault(str(rid), s)
    if not seen:
        raise BundleError(f"no results to put in {out}; `memscore results` lists the stored ones")
    members: list[tuple[str, bytes]] = []
    runs: list[dict[str, Any]] = []
    for s in sorted(seen.values(), key=lambda s: (s.benchmark, s.model, s.meta["created"])):
        name, data = _run_file(s, runs_dir)
        member = f"runs/{safe_name(s.benchmark)}/{name}"
        doc = json.loads(data)
        bad = schema_errors(doc, "run")
        if bad:
            raise BundleError(f"the run file of {_label(s.model, s.benchmark, s.meta['run_id'])} does not follow the "
                              f"run schema ({bad[0]}); re-run it with --force and bundle the new run")
        m = doc["meta"]
        recipe = reproduce(Score.from_dict(doc))
        d = _data(m)
        runs.append({
            "file": member, "run_id": m["run_id"], "key": m["key"], "model": doc["model"], "weights": m["weights"],
            "benchmark": doc["benchmark"], "benchmark_version": doc["benchmark_version"], "value": doc["value"],
            "data_name": d["name"] if d else None, "data_fingerprint": d["fingerprint"] if d else None,
            "model_plugin": [str(m.get("model_plugin", "")), str(m.get("model_plugin_version", ""))],
            "benchmark_plugin": [str(m.get("benchmark_plugin", "")), str(m.get("benchmark_plugin_version", ""))],
            "device": str(m.get("device", "")), "sha256": hashlib.sha256(data).hexdigest(),
            "command": recipe.command, "command_exact": recipe.exact,
            **({"command_note": recipe.why} if recipe.why else {})})
        members.append((member, data))
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "memscore_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(), "platform": platform.platform(),
        "devices": sorted({r["device"] for r in runs if r["device"]}), "key_version": KEY_VERSION,
        "plugins": _plugins(runs), "benchmarks": _benchmarks(runs), "runs": runs,
        "command_lines": [shlex.join(command)] if command else [],
    }
    bad = schema_errors(manifest, "bundle")
    if bad:  # pragma: no cover - a bug here, not the user's
        raise BundleError(f"the manifest made for {out} does not follow the bundle schema ({bad[0]})")
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic.atomic_path(out) as tmp:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(MANIFEST, json.dumps(manifest, indent=1))
            for member, data in members:
                zf.writestr(member, data)
    return out


def _plugins(runs: list[dict]) -> dict[str, str]:
    versions: dict[str, set[str]] = {}
    for r in runs:
        for name, version in (r["model_plugin"], r["benchmark_plugin"]):
            if name:
                versions.setdefault(name, set()).add(version)
    return {n: ", ".join(sorted(v)) for n, v in sorted(versions.items())}


def _benchmarks(runs: list[dict]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for name in sorted({r["benchmark"] for r in runs}):
        rs = [r for r in runs if r["benchmark"] == name]
        versions = sorted({r["benchmark_version"] for r in rs})
        sets = {(r["data_name"], r["data_fingerprint"]) for r in rs if r["data_fingerprint"]}
        data = [{"name": n, "fingerprint": f} for n, f in sorted(sets, key=str)]
        out[name] = {"version": versions[0] if len(versions) == 1 else None, "versions": versions,
                     "data": data[0] if len(data) == 1 else None, "data_sets": data}
    return out


# ---------------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------------
@dataclass
class Bundle:
    """A bundle as read: its manifest, its runs as :class:`Score` (manifest order) and the member bytes."""

    path: Path
    manifest: dict[str, Any]
    scores: list[Score] = field(default_factory=list)
    members: dict[str, bytes] = field(default_factory=dict)


def _open(path: Path | str) -> Bundle:
    """The zip's manifest (schema-checked) and all its members; anything else is one :class:`BundleError`."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise BundleError(f"bundle {path} " + ("is a folder, not a bundle file" if path.is_dir() else
                                               "does not exist") + "; give the .zip `memscore bundle` wrote")
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise BundleError(f"bundle {path} is not a zip file ({_short(exc, 80)}); {_FIX}") from None
    except OSError as exc:
        raise BundleError(f"bundle {path} cannot be read ({exc.strerror or exc})") from None
    members, member = {}, None
    try:
        with zf:
            for info in zf.infolist():
                if not info.is_dir():
                    member = info.filename
                    members[member] = zf.read(info)
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, ValueError, NotImplementedError) as exc:
        raise BundleError(f"bundle {path}: member {member} is damaged ({type(exc).__name__}: {_short(exc, 80)}); "
                          f"{_FIX}") from None
    if MANIFEST not in members:
        raise BundleError(f"bundle {path} has no {MANIFEST}; it was not made by `memscore bundle` ({_FIX})")
    try:
        manifest = json.loads(members[MANIFEST])
    except (ValueError, UnicodeDecodeError) as exc:
        raise BundleError(f"bundle {path}: {MANIFEST} is not valid JSON ({_short(exc, 80)}); {_FIX}") from None
    bad = schema_errors(manifest, "bundle")
    if bad:
        raise BundleError(f"bundle {path}: {MANIFEST} does not follow the bundle schema ({bad[0]}); {_FIX}")
    return Bundle(path, manifest, [], members)


def read_bundle(path: Path | str) -> Bundle:
    """Read and schema-check bundle ``path``: its manifest and every run it lists (strict: the first bad
    member is a :class:`BundleError`; :func:`verify_bundle` reports them all instead)."""
    b = _open(path)
    for entry in b.manifest["runs"]:
        member = entry["file"]
        if member not in b.members:
            raise BundleError(f"bundle {b.path}: {member} is listed in {MANIFEST} but missing; {_FIX}")
        try:
            doc = json.loads(b.members[member])
        except (ValueError, UnicodeDecodeError) as exc:
            raise BundleError(f"bundle {b.path}: {member} is not valid JSON ({_short(exc, 80)}); {_FIX}") from None
        bad = schema_errors(doc, "run")
        if bad:
            raise BundleError(f"bundle {b.path}: {member} does not follow the run schema ({bad[0]}); {_FIX}")
        b.scores.append(Score.from_dict(doc))
    return b


# ---------------------------------------------------------------------------------------------
# verifying
# ---------------------------------------------------------------------------------------------
@dataclass
class VerifyReport:
    """The checks of one bundle: a row per (run, check) with status ok / fail / warn / skipped. ``ok`` is
    True when no row failed (warnings and skipped checks do not fail a bundle)."""

    bundle: str
    tolerance: float
    rows: list[dict[str, Any]] = field(default_factory=list)
    runs: int = 0
    rescored: int = 0

    @property
    def ok(self) -> bool:
        return not any(r["status"] == "fail" for r in self.rows)

    def add(self, run: str, check: str, status: str, detail: str = "", **extra: Any) -> None:
        self.rows.append({"run": run, "check": check, "status": status, "detail": detail, **extra})

    def failures(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["status"] == "fail"]

    def to_dict(self) -> dict[str, Any]:
        counts = {s: sum(r["status"] == s for r in self.rows) for s in ("ok", "fail", "warn", "skipped")}
        return {"bundle": self.bundle, "ok": self.ok, "runs": self.runs, "rescored": self.rescored,
                "tolerance": self.tolerance, "tolerance_kind": "absolute", "counts": counts, "rows": self.rows}


@dataclass
class _Run:
    entry: dict[str, Any]
    label: str
    score: Score | None = None
    sound: bool = True  # every integrity check passed
    key_ok: bool = False  # its config, data fingerprint and versions are those its key was made from
    versions_ok: bool = False
    data_ok: bool = False
    recipe: Recipe | None = None


def _close(a: Any, b: Any, tol: float = 1e-12) -> bool:
    if a is None or b is None:
        return a is None and b is None
    try:
        a, b = float(a), float(b)
    except (TypeError, ValueError):
        return False
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)


def _num(x: Any) -> str:
    return "null" if x is None else f"{x:.6g}" if isinstance(x, (int, float)) else repr(x)


def verify_bundle(path: Path | str, *, rescore: int = 0, seed: int = 0,
                  data_roots: dict[str, Path] | None = None, tolerance: float = 1e-4,
                  progress: bool = True) -> VerifyReport:
    """Check bundle ``path`` (see the module docstring); ``rescore`` runs are re-scored (chosen at random with
    ``seed`` among those whose data and versions match here) and compared within ``tolerance`` (absolute).
    ``data_roots`` maps a benchmark (or data set) name to the user's copy of its data."""
    b = _open(path)
    report = VerifyReport(bundle=str(b.path), tolerance=tolerance)
    key_version = int(b.manifest.get("key_version", 0)) or None
    runs = [_check_file(b, e, report, key_version) for e in b.manifest["runs"]]
    report.runs = len(runs)
    listed = {e["file"] for e in b.manifest["runs"]}
    extra = sorted(m for m in b.members if m != MANIFEST and m not in listed)
    if extra:
        report.add("bundle", "members", "fail",
                   f"{len(extra)} file(s) not listed in {MANIFEST}: {', '.join(extra[:3])}")
    if len(listed) != len(b.manifest["runs"]):
        report.add("bundle", "members", "fail", f"{MANIFEST} lists a run file twice")
    parsed = [r for r in runs if r.score is not None]  # the others failed their file checks already
    for r in parsed:
        _check_versions(r, report)
    _check_data(parsed, report, data_roots or {})
    _official_data(parsed, report)
    _rescore(parsed, report, rescore, seed, data_roots or {}, tolerance, progress)
    return report


def _check_file(b: Bundle, entry: dict, report: VerifyReport, key_version: int | None) -> _Run:
    """Hash, schema, manifest fields, key and internal consistency of one listed run file."""
    member = entry["file"]
    run = _Run(entry, _label(entry.get("model"), entry.get("benchmark"), entry.get("run_id"), member))
    add = lambda check, status, detail="": report.add(run.label, check, status, detail,  # noqa: E731
                                                      run_id=entry.get("run_id"), file=member)
    data = b.members.get(member)
    if data is None:
        add("file", "fail", f"listed in {MANIFEST} but not in the bundle")
        run.sound = False
        return run
    got = hashlib.sha256(data).hexdigest()
    if got != entry["sha256"]:
        add("sha256", "fail", f"the file's SHA-256 is {got[:16]}…, the manifest says {entry['sha256'][:16]}…: "
                              f"the file was changed after the bundle was made")
        run.sound = False
    else:
        add("sha256", "ok")
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        add("schema", "fail", f"not valid JSON ({_short(exc, 80)})")
        run.sound = False
        return run
    bad = schema_errors(doc, "run")
    if bad:
        add("schema", "fail", f"{bad[0]}" + (f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""))
        run.sound = False
        return run
    add("schema", "ok")
    score = run.score = Score.from_dict(doc)
    meta = score.meta
    d = _data(meta)
    mine = {"run_id": meta["run_id"], "key": meta["key"], "model": score.model, "weights": meta["weights"],
            "benchmark": score.benchmark, "benchmark_version": score.benchmark_version,
            "data_fingerprint": d["fingerprint"] if d else None}
    wrong = [f"{k} {_num(entry.get(k)) if k == 'value' else entry.get(k)!r} in the manifest, "
             f"{_num(v) if k == 'value' else repr(v)} in the file"
             for k, v in [*mine.items(), ("value", score.value)]
             if not (_close(entry.get(k), v) if k == "value" else entry.get(k) == v)]
    if wrong:
        add("manifest", "fail", "; ".join(wrong))
        run.sound = False
    else:
        add("manifest", "ok")
    expect = _recompute_key(score, key_version)
    if expect != meta["key"]:
        add("key", "fail", f"the run's key {meta['key'][:12]}… does not match its content (recomputed "
                           f"{expect[:12]}…): its model, weights, config, versions or data fingerprint was edited")
        run.sound = False
    else:
        run.key_ok = True
        add("key", "ok")
    status, detail = _consistency(score)
    add("consistency", status, detail)
    run.sound = run.sound and status != "fail"
    return run


def _recompute_key(score: Score, key_version: int | None) -> str:
    from .store import run_key

    if key_version is None:
        from .api import KEY_VERSION as key_version
    meta = score.meta
    d = _data(meta)
    return run_key(score.model, str(meta["weights"]), score.benchmark, str(score.benchmark_version), {
        "config": meta["config"], "data": d["fingerprint"] if d else None, "key": key_version,
        "model_plugin": [meta.get("model_plugin", ""), meta.get("model_plugin_version", "")],
        "benchmark_plugin": [meta.get("benchmark_plugin", ""), meta.get("benchmark_plugin_version", "")]})


def _consistency(score: Score) -> tuple[str, str]:
    """The value against the run's own tables: a layer-by-layer run's value, error and raw value are its
    committed layer's (``meta.layer``), whose split values are the run's split rows; a run without layers
    whose error is the SD of its splits has their mean as its value."""
    meta, problems, notes = score.meta, [], []
    if score.ceiling is not None and not (score.ceiling > 0 and math.isfinite(score.ceiling)):
        problems.append(f"ceiling {_num(score.ceiling)} is not positive")
    if score.error is not None and score.error < 0:
        problems.append(f"error {_num(score.error)} is negative")
    if score.layers:
        name = meta.get("layer")
        rows = [r for r in score.layers if r.get("layer") == name]
        if not name or not rows:
            return "fail", f"meta.layer {name!r} names no row of its {len(score.layers)} layer rows"
        row = rows[0]
        if not _close(score.value, row.get("value")):
            problems.append(f"value {_num(score.value)} is not the value {_num(row.get('value'))} of its layer {name}")
        if "error" in row and not _close(score.error, row.get("error")):
            problems.append(f"error {_num(score.error)} is not layer {name}'s {_num(row.get('error'))}")
        if score.raw is not None and not _close(score.raw, row.get("raw", row.get("value"))):
            problems.append(f"raw {_num(score.raw)} is not layer {name}'s {_num(row.get('raw', row.get('value')))}")
        split_values = [s.get("value") for s in score.splits]
        if isinstance(row.get("splits"), list) and score.splits and len(row["splits"]) == len(split_values) \
                and not all(_close(a, b) for a, b in zip(row["splits"], split_values)):
            problems.append(f"the split rows are not layer {name}'s split values")
        finite = [r for r in score.layers if isinstance(r.get("value"), (int, float))]
        best_v = max(finite, key=lambda r: r["value"])["layer"] if finite else None
        with_raw = [r for r in score.layers if isinstance(r.get("raw"), (int, float))]
        best_r = max(with_raw, key=lambda r: r["raw"])["layer"] if with_raw else None
        if not problems and name not in (best_v, best_r):
            return "warn", f"the committed layer {name} is the best neither by value ({best_v}) nor by raw ({best_r})"
        notes.append(f"value = layer {name}")
    elif score.splits and score.value is not None:
        vals = [s.get("value") for s in score.splits]
        if all(isinstance(v, (int, float)) for v in vals) and vals:
            mean = sum(vals) / len(vals)
            sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else None
            if _close(score.value, mean, 1e-9):
                notes.append(f"value = mean of {len(vals)} splits")
            elif sd is not None and _close(score.error, sd, 1e-9):
                problems.append(f"value {_num(score.value)} is not the mean {_num(mean)} of its {len(vals)} split "
                                f"rows (whose SD is its error)")
            else:
                return "skipped", "the value is not derivable from the run's split rows"
    if problems:
        return "fail", "; ".join(problems)
    return ("ok", ", ".join(notes)) if notes else ("skipped", "nothing to compare the value with")


def _check_versions(run: _Run, report: VerifyReport) -> None:
    """Benchmark version and plugin versions against what is installed here (a mismatch: a warning, and
    the run cannot be rescored, since its key names other versions)."""
    from .api import load_benchmark
    from .pluginmanager import registry

    s = run.score
    meta = s.meta
    add = lambda status, detail: report.add(run.label, "versions", status, detail,  # noqa: E731
                                            run_id=meta["run_id"], file=run.entry["file"])
    try:
        entry, _ = registry().get("model", s.model)
        bench = load_benchmark(s.benchmark)
    except MemscoreError as exc:
        add("warn", f"not installed here ({_short(exc, 120)}); this run cannot be rescored")
        return
    diffs = []
    if str(bench.version) != s.benchmark_version:
        diffs.append(f"benchmark {s.benchmark} version {s.benchmark_version} (here {bench.version})")
    for what, name, version, here in (
            ("model plugin", meta.get("model_plugin"), meta.get("model_plugin_version"),
             (entry.plugin, entry.plugin_version)),
            ("benchmark plugin", meta.get("benchmark_plugin"), meta.get("benchmark_plugin_version"),
             (getattr(bench, "plugin", ""), getattr(bench, "plugin_version", "")))):
        if (name, version) != here:
            diffs.append(f"{what} {name} {version} (here {here[0]} {here[1]})")
    if diffs:
        add("warn", "made with " + "; ".join(diffs) + ": this run cannot be rescored here (its key names "
                                                         "other versions); install those versions to rescore it")
        return
    run.versions_ok = True
    note = "" if meta.get("memscore_version") == __version__ else \
        f"; made with memscore {meta.get('memscore_version')} (here {__version__})"
    add("ok", f"benchmark {s.benchmark} {s.benchmark_version}, plugins {meta.get('model_plugin')} "
              f"{meta.get('model_plugin_version')} / {meta.get('benchmark_plugin')} "
              f"{meta.get('benchmark_plugin_version')} as installed{note}")


def _root(data_roots: dict[str, Path], score: Score) -> Path | None:
    d = _data(score.meta) or {}
    for k in (score.benchmark, d.get("name")):
        if k and k in data_roots:
            return Path(data_roots[k]).expanduser()
    return None


def _check_data(runs: list[_Run], report: VerifyReport, data_roots: dict[str, Path]) -> None:
    """Each run's data fingerprint against the user's own data, fingerprinted once per (benchmark, config,
    data root) with the run's own arguments and keyed options."""
    cache: dict[str, tuple[str, str, str | None]] = {}
    for run in runs:
        s = run.score
        run.recipe = reproduce(s)
        theirs = _data(s.meta)
        root = _root(data_roots, s)
        add = lambda status, detail: report.add(run.label, "data", status, detail,  # noqa: E731
                                                run_id=s.meta["run_id"], file=run.entry["file"])
        if not run.key_ok:
            add("skipped", "not checked: the run's content does not match its key")
            continue
        if theirs is None:
            run.data_ok = True
            add("ok", "the benchmark reads no data")
            continue
        group = json.dumps([s.benchmark, s.meta["config"], str(root)], sort_keys=True, default=str)
        if group not in cache:
            cache[group] = _your_data(run.recipe, root)
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


def _your_data(recipe: Recipe, root: Path | None) -> tuple[str, str, str | None]:
    """(status, detail or data name, fingerprint) of the user's data for ``recipe``."""
    from .api import plan_benchmark
    from .options import parse_kv

    if not recipe.args_exact:
        return "skipped", f"not checked ({recipe.why})", None
    where = str(root) if root else "the default location"
    try:
        bp = plan_benchmark(recipe.benchmark, benchmark_args=parse_kv(recipe.benchmark_args),
                            options=recipe.options(root))
    except MemscoreError as exc:
        return "skipped", f"not checked (no data at {where}: {_short(exc, 200)}; --data-root BENCH=PATH)", None
    if bp.data is None:
        return "skipped", "not checked (the benchmark here reads no data)", None
    return "ok", bp.data.name, bp.data.fingerprint


def _official_data(runs: list[_Run], report: VerifyReport) -> None:
    """Where a data set plugin knows the official SHA-1 of its files (Brain-Score's BrainIO assemblies), name
    them: the user's files are checked against them when read, so a matching fingerprint is official data."""
    names = sorted({n for r in runs if (d := _data(r.score.meta)) for n in str(d["name"]).split("+")})
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
        matched = [r for r in runs if r.data_ok and name in str((_data(r.score.meta) or {}).get("name")).split("+")]
        status = "ok" if matched else "skipped"
        how = ("your copy, which matches the bundle's fingerprint, was checked against them when read"
               if matched else "not compared (your data was not available or differs)")
        report.add("bundle", "official data", status, f"{name}: official SHA-1 {', '.join(files)}; {how}")


def _rescore(runs: list[_Run], report: VerifyReport, n: int, seed: int, data_roots: dict[str, Path],
             tolerance: float, progress: bool) -> None:
    """Re-run ``n`` seeded-random runs whose integrity, versions and data check out, and compare numbers."""
    if n <= 0:
        report.add("bundle", "rescore", "skipped", "not asked (--rescore N re-runs N runs)")
        return
    eligible = [r for r in runs if r.sound and r.versions_ok and r.data_ok and r.recipe and r.recipe.exact]
    eligible.sort(key=lambda r: r.entry["file"])
    chosen = random.Random(seed).sample(eligible, min(n, len(eligible)))
    if len(chosen) < n:
        held = [r for r in runs if r not in eligible]
        why = "; ".join(sorted({_why_not(r) for r in held})) or "the bundle holds fewer runs"
        report.add("bundle", "rescore", "warn" if held else "ok",
                   f"{len(chosen)} of {n} asked re-scores possible ({why})")
    from tqdm.auto import tqdm

    for run in tqdm(chosen, desc="re-scoring", unit="run", disable=not progress or not chosen, file=sys.stderr):
        _rescore_one(run, report, data_roots, tolerance, progress)
        report.rescored += 1


def _why_not(run: _Run) -> str:
    if not run.sound:
        return "runs that failed a check are not rescored"
    if not run.versions_ok:
        return "runs made with other versions cannot be rescored"
    if not run.data_ok:
        return "runs whose data is not yours cannot be rescored"
    return f"runs that cannot be rebuilt: {run.recipe.why}" if run.recipe else "runs that cannot be rebuilt"


def _rescore_one(run: _Run, report: VerifyReport, data_roots: dict[str, Path], tolerance: float,
                 progress: bool) -> None:
    from .api import score as run_score
    from .options import parse_kv

    s, r = run.score, run.recipe
    add = lambda status, detail: report.add(run.label, "rescore", status, detail,  # noqa: E731
                                            run_id=s.meta["run_id"], file=run.entry["file"])
    try:
        new = run_score(r.model, r.benchmark, weights=r.weights, model_args=parse_kv(r.model_args, "--model-args"),
                        benchmark_args=parse_kv(r.benchmark_args), options=r.options(_root(data_roots, s), progress),
                        force=True, store=None)
    except MemscoreError as exc:
        add("skipped", f"cannot be re-run here: {_short(exc, 200)}")
        return
    except Exception as exc:  # noqa: BLE001 - a crash is reported against the run, the other checks stand
        add("fail", f"the re-run crashed: {type(exc).__name__}: {_short(exc, 160)}")
        return
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
    where = f"device {new.meta.get('device')} (bundle: {s.meta.get('device')})"
    if bad:
        add("fail", "; ".join(bad) + f" (tolerance {tolerance:g} absolute; {where})")
    else:
        add("ok", f"value {_num(s.value)} and {len(theirs)} layer values reproduced, max |Δ| "
                  f"{max(deltas, default=0.0):.2g} ≤ {tolerance:g} absolute; {where}")


def _within(a: Any, b: Any, tol: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(float(a) - float(b)) <= tol
