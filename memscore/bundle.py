"""Result bundles: stored runs carried between users (community leaderboards) and checked on arrival.

A bundle is a zip of ``manifest.json`` and the run files exactly as the store wrote them
(``runs/<benchmark>/<file>.json``). The manifest says where the runs were made (memscore, Python, platform,
devices, plugin versions), what data each benchmark read (by content fingerprint), the SHA-256 of every run
file and a ``memscore score`` command line that reproduces each run.

:func:`read_bundle` trusts nothing in the zip: members are streamed with size caps, each run file is checked
against its hash and the manifest, its key and seal recomputed from its own content, its value against its
own tables (:mod:`memscore.runcheck`); :mod:`memscore.verify` adds versions, data and re-scoring.
Both schemas (``memscore/schemas/*.schema.json``) are JSON Schema 2020-12.
"""
from __future__ import annotations

import hashlib
import json
import platform
import shlex
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from . import __version__, atomic, paths
from .errors import MemscoreError
from .paths import safe_name
from .recipe import Recipe
from .record import KEY_VERSION, RunRecord
from .runcheck import check_run, close as _close, loads, num as _num, schema_errors
from .safetext import cut, one_line as _short
from .scores import Score

__all__ = ["BundleError", "Bundle", "VerifyReport", "make_bundle", "read_bundle", "schema_errors"]

FORMAT = "memscore-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
_FIX = "ask its author for a new one made with `memscore bundle`"


class BundleError(MemscoreError):
    """A bundle that cannot be written or read (one line naming the bundle, the member and the fix)."""



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


def _data(run: Any) -> dict | None:
    """The data a run (a Score, or its parsed run file) read, as a manifest names it."""
    d = RunRecord.of(run).data
    return {"name": d.get("name"), "fingerprint": d.get("fingerprint")} if d is not None else None


def make_bundle(out: Path | str, scores: Iterable[Score], *, command: list[str] | None = None,
                force: bool = False, runs_dir: Path | None = None) -> Path:
    """Write the bundle ``out`` (a zip) of ``scores`` (stored runs) atomically; an existing ``out`` is
    replaced only with ``force``. Returns ``out``."""
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
        rec = RunRecord.of(doc)
        recipe = rec.recipe()
        d = _data(doc)
        runs.append({
            "file": member, "run_id": rec.run_id, "key": doc["meta"]["key"], "model": rec.model,
            "weights": rec.weights, "benchmark": rec.benchmark, "benchmark_version": rec.version,
            "value": doc["value"], "data_name": d["name"] if d else None,
            "data_fingerprint": d["fingerprint"] if d else None,
            "model_plugin": [str(p) for p in rec.model_plugin], "benchmark_plugin": [str(p) for p in rec.benchmark_plugin],
            "device": rec.device, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
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
#: and all members together. A zip's own size fields can lie, so members are streamed and counted. A neural run
#: file carries its per-item outputs (~6 MB for MajajHong2015 IT): a whole paper sweep (~250 neural runs) fits.
MAX_MANIFEST = 16 << 20
MAX_MEMBER = 64 << 20
MAX_TOTAL = 4 << 30


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
    rec = RunRecord.of(score)
    d = _data(score)
    mine = {"run_id": rec.run_id, "key": score.meta["key"], "model": rec.model, "weights": rec.weights,
            "benchmark": rec.benchmark, "benchmark_version": rec.version,
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


