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
from pathlib import Path
from typing import Any, Iterable

from . import __version__, atomic, paths
from .errors import MemscoreError
from .paths import safe_name
from .runcheck import check_run, close as _close, loads, num as _num, schema_errors
from .safetext import cut
from .scores import Score

__all__ = ["BundleError", "Bundle", "VerifyReport", "make_bundle", "read_bundle", "verify_bundle",
           "schema_errors", "reproduce"]

FORMAT = "memscore-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
_FIX = "ask its author for a new one made with `memscore bundle`"


class BundleError(MemscoreError):
    """A bundle that cannot be written or read (one line naming the bundle, the member and the fix)."""


def _short(text: str, n: int = 160) -> str:
    return cut(" ".join(str(text).split()), n)


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
            "device": str(m.get("device", "")), "sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
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
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (run label, why) of runs left out
    oversized: set[str] = field(default_factory=set)  # members larger than the manifest says (left unread)


#: what a bundle may make this process read: the manifest, each run file (unless the manifest gives its size)
#: and all members together. A zip's own size fields can lie, so members are streamed and counted.
MAX_MANIFEST = 16 << 20
MAX_MEMBER = 64 << 20
MAX_TOTAL = 512 << 20


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int, path: Path, why: str,
                 refuse: bool = True) -> bytes | None:
    """The member's bytes, streamed; more than ``cap`` bytes is one :class:`BundleError` (a zip bomb is
    refused after ``cap`` bytes, never inflated whole), or None without ``refuse``."""
    if info.file_size > cap and refuse:
        raise BundleError(f"bundle {path}: member {cut(info.filename)} is {info.file_size} bytes, more than "
                          f"{why} ({cap} bytes); refused unread ({_FIX})")
    chunks, n = [], 0
    with zf.open(info) as f:
        while chunk := f.read(min(1 << 20, cap + 1)):
            n += len(chunk)
            if n > cap:
                if not refuse:
                    return None
                raise BundleError(f"bundle {path}: member {cut(info.filename)} inflates to more than {why} "
                                  f"({cap} bytes; its zip header said {info.file_size}); refused ({_FIX})")
            chunks.append(chunk)
    return b"".join(chunks)


def _open(path: Path | str) -> Bundle:
    """The zip's manifest (strict JSON, schema-checked) and the run files it lists, read with size caps; a zip
    with a duplicate member, a member the manifest does not list, an encrypted member or a member larger than
    the manifest says is one :class:`BundleError`. A listed member that is absent is left to the checks."""
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
    member = None
    try:
        with zf:
            infos = [i for i in zf.infolist() if not i.is_dir()]
            seen: set[str] = set()
            for info in infos:
                if info.filename in seen:
                    raise BundleError(f"bundle {path}: member {cut(info.filename)} appears twice in the zip (which "
                                      f"copy counts?); refused ({_FIX})")
                seen.add(info.filename)
                if info.flag_bits & 0x1:
                    raise BundleError(f"bundle {path}: member {cut(info.filename)} is encrypted; {_FIX}")
            by_name = {i.filename: i for i in infos}
            if MANIFEST not in by_name:
                raise BundleError(f"bundle {path} has no {MANIFEST}; it was not made by `memscore bundle` ({_FIX})")
            member = MANIFEST
            text = _read_member(zf, by_name[MANIFEST], MAX_MANIFEST, path, "a manifest may be")
            try:
                manifest = loads(text)
            except ValueError as exc:
                raise BundleError(f"bundle {path}: {MANIFEST} is not valid JSON ({_short(exc, 80)}); "
                                  f"{_FIX}") from None
            bad = schema_errors(manifest, "bundle")
            if bad:
                raise BundleError(f"bundle {path}: {MANIFEST} does not follow the bundle schema ({bad[0]}); {_FIX}")
            listed: dict[str, dict] = {}
            for entry in manifest["runs"]:
                if entry["file"] in listed:
                    raise BundleError(f"bundle {path}: {MANIFEST} lists {cut(entry['file'])} twice; {_FIX}")
                listed[entry["file"]] = entry
            extra = sorted(n for n in by_name if n != MANIFEST and n not in listed)
            if extra:
                raise BundleError(f"bundle {path}: {len(extra)} member(s) not listed in {MANIFEST} "
                                  f"({', '.join(cut(e, 60) for e in extra[:3])}); a bundle holds its manifest and "
                                  f"the run files it lists; refused ({_FIX})")
            members, total, oversized = {MANIFEST: text}, len(text), set()
            for name, entry in listed.items():
                if name not in by_name:
                    continue
                member = name
                size = entry.get("size")
                if isinstance(size, int) and size <= MAX_MEMBER:  # larger than it says: that run fails, unread
                    data = _read_member(zf, by_name[name], size, path, "", refuse=False)
                    if data is None:
                        oversized.add(name)
                        continue
                else:
                    data = _read_member(zf, by_name[name], MAX_MEMBER, path, "a run file may be")
                total += len(data)
                if total > MAX_TOTAL:
                    raise BundleError(f"bundle {path} inflates to more than {MAX_TOTAL} bytes; refused ({_FIX})")
                members[name] = data
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, ValueError, NotImplementedError) as exc:
        raise BundleError(f"bundle {path}: member {cut(member)} is damaged ({type(exc).__name__}: "
                          f"{_short(exc, 80)}); {_FIX}") from None
    return Bundle(path, manifest, [], members, oversized=oversized)


def read_bundle(path: Path | str) -> Bundle:
    """Read bundle ``path`` for a board: every run it lists passes the cheap integrity checks (SHA-256 and
    fields against the manifest, strict JSON, schema, key, seal, value against its own tables); the runs that
    fail are left out of ``scores`` and listed in ``rejected`` as (label, why)."""
    b = _open(path)
    report = VerifyReport(bundle=str(b.path), tolerance=0.0)
    for entry in b.manifest["runs"]:
        run = _check_file(b, entry, report)
        if run.sound and run.score is not None:
            b.scores.append(run.score)
        else:
            why = next((f"{r['check']}: {r['detail']}" for r in report.rows
                        if r["run"] == run.label and r["status"] == "fail"), "it failed a check")
            b.rejected.append((run.label, why))
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


def verify_bundle(path: Path | str, *, rescore: int = 0, seed: int = 0,
                  data_roots: dict[str, Path] | None = None, tolerance: float = 1e-4,
                  progress: bool = True) -> VerifyReport:
    """Check bundle ``path`` (see the module docstring); ``rescore`` runs are re-scored (chosen at random with
    ``seed`` among those whose data and versions match here) and compared within ``tolerance`` (absolute).
    ``data_roots`` maps a benchmark (or data set) name to the user's copy of its data."""
    b = _open(path)
    report = VerifyReport(bundle=str(b.path), tolerance=tolerance)
    runs = [_check_file(b, e, report) for e in b.manifest["runs"]]
    report.runs = len(runs)
    parsed = [r for r in runs if r.score is not None]  # the others failed their file checks already
    for r in parsed:
        _check_versions(r, report)
    _check_data(parsed, report, data_roots or {})
    _official_data(parsed, report)
    _rescore(parsed, report, rescore, seed, data_roots or {}, tolerance, progress)
    return report


def _check_file(b: Bundle, entry: dict, report: VerifyReport) -> _Run:
    """Hash and manifest fields of one listed run file, then :func:`memscore.runcheck.check_run` (schema, key,
    seal, internal consistency)."""
    member = entry["file"]
    run = _Run(entry, _label(entry.get("model"), entry.get("benchmark"), entry.get("run_id"), member))
    add = lambda check, status, detail="": report.add(run.label, check, status, detail,  # noqa: E731
                                                      run_id=entry.get("run_id"), file=member)
    data = b.members.get(member)
    if member in b.oversized:
        add("size", "fail", f"the file is larger than the {entry.get('size')} bytes the manifest says: it was "
                            f"changed after the bundle was made (left unread)")
        run.sound = False
        return run
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
        doc = loads(data)
    except ValueError as exc:
        add("schema", "fail", f"not valid JSON ({_short(exc, 80)})")
        run.sound = False
        return run
    checks = check_run(doc)
    for c in checks:
        if c.name == "schema":
            add(c.name, c.status, c.detail)
    if checks[0].status == "fail":
        run.sound = False
        return run
    score = run.score = Score.from_dict(doc)
    meta = score.meta
    d = _data(meta)
    mine = {"run_id": meta["run_id"], "key": meta["key"], "model": score.model, "weights": meta["weights"],
            "benchmark": score.benchmark, "benchmark_version": score.benchmark_version,
            "data_fingerprint": d["fingerprint"] if d else None}
    wrong = [f"{k} {_num(entry.get(k)) if k == 'value' else cut(repr(entry.get(k)), 60)} in the manifest, "
             f"{_num(v) if k == 'value' else cut(repr(v), 60)} in the file"
             for k, v in [*mine.items(), ("value", score.value)]
             if not (_close(entry.get(k), v) if k == "value" else entry.get(k) == v)]
    if wrong:
        add("manifest", "fail", "; ".join(wrong))
        run.sound = False
    else:
        add("manifest", "ok")
    for c in checks[1:]:
        add(c.name, c.status, c.detail)
        if c.name == "key":
            run.key_ok = c.status == "ok"
    run.sound = run.sound and not any(c.status == "fail" for c in checks)
    return run


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


def _rescore_one(run: _Run, report: VerifyReport, data_roots: dict[str, Path], tolerance: float,
                 progress: bool) -> bool:
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
    where = f"device {new.meta.get('device')} (bundle: {s.meta.get('device')})"
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
