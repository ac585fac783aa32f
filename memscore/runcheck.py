"""The cheap integrity checks every run from elsewhere passes before it enters a store or a board.

``memscore collect`` (and ``collect --rebuild``, a sweep's merge), ``memscore leaderboard --from`` and
``memscore verify`` read run files someone else wrote. Each is parsed strictly (:func:`loads`: no duplicate
keys, no NaN), checked against the run schema, its key recomputed from its own content, its seal (when it
has one) recomputed, and its value compared with its own layer and split tables (:func:`consistency`). A run
that fails any of them is left out with one line naming it and why; it never becomes current and is never
served. Versions, data and re-scoring are ``verify``'s further, costlier checks (:mod:`memscore.verify`).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from .record import SEAL_FIELD, key_of_run, key_versions_of_run, seal
from .safetext import cut

__all__ = ["Check", "check_run", "problems", "loads", "schema_errors", "consistency", "close", "num", "same_numbers"]


@dataclass(frozen=True)
class Check:
    """One check of one run: ``status`` is ok, fail, warn or skipped."""

    name: str
    status: str
    detail: str = ""


# ---------------------------------------------------------------------------------------------
# parsing
# ---------------------------------------------------------------------------------------------
def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {cut(k, 40)!r} in one JSON object")
        out[k] = v
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def loads(data: bytes | str) -> Any:
    """JSON as memscore writes it: a duplicate key in one object (which of the two would count?) and the
    non-standard NaN/Infinity are errors (``ValueError``), as is text that is not UTF-8."""
    if isinstance(data, bytes):
        data = data.decode("utf-8")
    return json.loads(data, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)


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
    return [f"at /{'/'.join(map(str, e.absolute_path))}: {cut(e.message, 160)}" for e in errors]


# ---------------------------------------------------------------------------------------------
# the checks
# ---------------------------------------------------------------------------------------------
def check_run(doc: Any) -> list[Check]:
    """Schema, key, seal and consistency of one parsed run file, in that order (a run that fails its schema
    is not checked further)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("meta"), dict):
        return [Check("schema", "fail", "not a run file (a JSON object with a meta object)")]
    legacy = isinstance(doc, dict) and isinstance(doc.get("meta"), dict) and "data" not in doc["meta"]
    # runs stored before data fingerprints have no meta.data; their key (version 1) says so
    bad = schema_errors({**doc, "meta": {**doc["meta"], "data": None}} if legacy else doc, "run")
    if bad:
        return [Check("schema", "fail", bad[0] + (f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""))]
    out = [Check("schema", "ok")]
    key = doc["meta"]["key"]
    versions = key_versions_of_run(doc)
    if any(key_of_run(doc, v) == key for v in versions):
        out.append(Check("key", "ok"))
    else:
        out.append(Check("key", "fail", f"the run's key {key[:12]}… does not match its content (recomputed "
                                        f"{key_of_run(doc)[:12]}…): its model, weights, config, versions or data "
                                        f"fingerprint was edited"))
    stored = doc["meta"].get(SEAL_FIELD)
    if stored is None:
        out.append(Check("seal", "skipped", "the run has no seal (stored before seals were written)"))
    else:
        try:
            ok = seal(doc) == stored
        except (TypeError, ValueError):
            ok = False
        out.append(Check("seal", "ok") if ok else Check(
            "seal", "fail", "the run file was edited after it was stored (its content no longer matches its seal)"))
    from .scores import Score

    status, detail = consistency(Score.from_dict(doc))
    out.append(Check("consistency", status, detail))
    return out


def problems(doc: Any) -> list[str]:
    """The failed checks of ``doc`` as ``check: why`` (empty: the run may enter a store or a board)."""
    return [f"{c.name}: {c.detail}" for c in check_run(doc) if c.status == "fail"]


def close(a: Any, b: Any, tol: float = 1e-12) -> bool:
    if a is None or b is None:
        return a is None and b is None
    try:
        a, b = float(a), float(b)
    except (TypeError, ValueError):
        return False
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)


def num(x: Any) -> str:
    return "null" if x is None else f"{x:.6g}" if isinstance(x, (int, float)) else repr(x)


def consistency(score) -> tuple[str, str]:
    """The value against the run's own tables: a layer-by-layer run's value, error and raw value are its
    committed layer's (``meta.layer``), whose split values are the run's split rows; a run without layers
    whose error is the SD of its splits has their mean as its value."""
    meta, problems_, notes = score.meta, [], []
    if score.ceiling is not None and not (score.ceiling > 0 and math.isfinite(score.ceiling)):
        problems_.append(f"ceiling {num(score.ceiling)} is not positive")
    if score.error is not None and score.error < 0:
        problems_.append(f"error {num(score.error)} is negative")
    if score.layers:
        name = meta.get("layer")
        if not name:  # a benchmark that commits no layer (its value is not a layer's): nothing to compare
            return "skipped", f"the run names no committed layer (meta.layer) among its {len(score.layers)} rows"
        rows = [r for r in score.layers if r.get("layer") == name]
        if not rows:
            return "fail", f"meta.layer {cut(name, 60)!r} names no row of its {len(score.layers)} layer rows"
        row = rows[0]
        name = cut(name, 60)
        if not close(score.value, row.get("value")):
            problems_.append(f"value {num(score.value)} is not the value {num(row.get('value'))} of its layer {name}")
        if "error" in row and not close(score.error, row.get("error")):
            problems_.append(f"error {num(score.error)} is not layer {name}'s {num(row.get('error'))}")
        if score.raw is not None and not close(score.raw, row.get("raw", row.get("value"))):
            problems_.append(f"raw {num(score.raw)} is not layer {name}'s {num(row.get('raw', row.get('value')))}")
        split_values = [s.get("value") for s in score.splits]
        if isinstance(row.get("splits"), list) and score.splits and len(row["splits"]) == len(split_values) \
                and not all(close(a, b) for a, b in zip(row["splits"], split_values)):
            problems_.append(f"the split rows are not layer {name}'s split values")
        finite = [r for r in score.layers if isinstance(r.get("value"), (int, float))]
        best_v = max(finite, key=lambda r: r["value"])["layer"] if finite else None
        with_raw = [r for r in score.layers if isinstance(r.get("raw"), (int, float))]
        best_r = max(with_raw, key=lambda r: r["raw"])["layer"] if with_raw else None
        if not problems_ and meta.get("layer") not in (best_v, best_r):
            return "warn", (f"the committed layer {name} is the best neither by value ({cut(best_v, 60)}) nor by "
                            f"raw ({cut(best_r, 60)})")
        notes.append(f"value = layer {name}")
    elif score.splits and score.value is not None:
        vals = [s.get("value") for s in score.splits]
        if all(isinstance(v, (int, float)) for v in vals) and vals:
            mean = sum(vals) / len(vals)
            sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else None
            if close(score.value, mean, 1e-9):
                notes.append(f"value = mean of {len(vals)} splits")
            elif sd is not None and close(score.error, sd, 1e-9):
                problems_.append(f"value {num(score.value)} is not the mean {num(mean)} of its {len(vals)} split "
                                 f"rows (whose SD is its error)")
            else:
                return "skipped", "the value is not derivable from the run's split rows"
    if problems_:
        return "fail", "; ".join(problems_)
    return ("ok", ", ".join(notes)) if notes else ("skipped", "nothing to compare the value with")


def same_numbers(a, b, tol: float = 1e-9) -> bool:
    """Two runs (scores) of one key that agree: the same value and per-layer values, within ``tol``."""
    def same(x: Any, y: Any) -> bool:
        fx = float(x) if isinstance(x, (int, float)) and math.isfinite(x) else None
        fy = float(y) if isinstance(y, (int, float)) and math.isfinite(y) else None
        return fx is None and fy is None if fx is None or fy is None else abs(fx - fy) <= tol

    if not same(a.value, b.value) or len(a.layers) != len(b.layers):
        return False
    return all(ra.get("layer") == rb.get("layer") and same(ra.get("value"), rb.get("value"))
               for ra, rb in zip(a.layers, b.layers))
