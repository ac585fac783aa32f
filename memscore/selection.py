"""Which stored runs count: the one policy the board and every analysis apply to the runs they are given.

1. **One run per key** (the caller's sources decide which: the local store's current run, then a bundle's).
2. **Smoke runs** (``--limit``) count only when asked (``include_smoke``); then a full run of the same model is
   still preferred (rule 5).
3. **Settings**: a benchmark that fans out over an argument (neural-*'s ``metric=``) is read at one value of it:
   its declared default unless another is asked for (``where={"metric": "rsa"}``); runs at other values are left
   out, with the reason.
4. **One data set per benchmark**: the most common data fingerprint among the runs that could be used (ties: the
   most recent); runs on other data, or stored without a fingerprint while others have one, are left out.
5. **One run per model identity** (model, weights, model arguments, seed): a full run before a smoke run, then the
   newest.

Two benchmarks are related (a figure's x and y) only over the model identities both have (:func:`join`). Every
run left out is counted under its reason (:class:`LeftOut`), so a figure says what it did not use.
"""
from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from .record import RunRecord
from .scores import Score

__all__ = ["LeftOut", "Pick", "Runs", "pick", "join", "rank", "layer_points", "declared_defaults"]


def rank(s: Score) -> tuple[bool, float]:
    """The run to keep of several (rule 5): a full run before a smoke run, then the most recent."""
    r = RunRecord.of(s)
    return not r.smoke, r.created


def _short(fp: str | None) -> str:
    return "none" if fp is None else fp[:10]


class LeftOut:
    """Runs a panel could not use, grouped by (benchmark, reason)."""

    def __init__(self) -> None:
        self._groups: dict[tuple[str, str], list[str]] = {}

    def add(self, benchmark: str, why: str, model: str) -> None:
        self._groups.setdefault((benchmark, why), []).append(model)

    def __len__(self) -> int:
        return sum(len(v) for v in self._groups.values())

    def to_list(self) -> list[dict[str, Any]]:
        return [{"benchmark": b, "why": w, "rows": len(ms), "models": sorted(set(ms))}
                for (b, w), ms in sorted(self._groups.items())]


@dataclass
class Pick:
    """The runs of one benchmark that count: one per model identity, one data set."""

    benchmark: str
    scores: dict[tuple, Score] = field(default_factory=dict)
    fingerprint: str | None = None
    fingerprints: dict[str, int] = field(default_factory=dict)  # every fingerprint seen -> runs

    def info(self) -> dict[str, Any]:
        return {"fingerprint": self.fingerprint, "runs": len(self.scores), "fingerprints": self.fingerprints}


class Runs:
    """A list of runs with a store's ``query(benchmark=...)`` (what the analyses read from), for runs that were
    gathered elsewhere (a board's store and bundles)."""

    def __init__(self, runs: Iterable[Score]):
        self.runs = list(runs)

    def query(self, model: str | None = None, benchmark: str | None = None, **_: Any) -> list[Score]:
        return [s for s in self.runs if (benchmark is None or s.benchmark == benchmark)
                and (model is None or s.model == model)]


def declared_defaults(benchmark: str) -> dict[str, Any]:
    """A registered benchmark's declared argument defaults (empty where it is not installed or declares none)."""
    from .pluginmanager import registry

    try:
        entry, _ = registry().get("benchmark", benchmark)
        return {a.name: a.default for a in getattr(entry.resolve(), "arguments", ()) or ()}
    except Exception:  # noqa: BLE001 - a board or an analysis never fails on one plugin
        return {}


def _fan_out(benchmark: str) -> str | None:
    from .pluginmanager import registry

    try:
        entry, _ = registry().get("benchmark", benchmark)
        return getattr(entry.resolve(), "fans_out", None) if entry.available else None
    except Exception:  # noqa: BLE001
        return None


def _text(v: Any) -> str | None:
    return None if v is None else str(v)


def _settings(benchmark: str, where: dict[str, Any] | None) -> dict[str, tuple[str | None, str | None]]:
    """Rule 3: per argument, (the value a benchmark's runs must have, the value a run that leaves it out has):
    its fan-out argument at its declared default unless ``where`` names a value; ``where`` keys the benchmark
    does not declare do not apply to it."""
    defaults = declared_defaults(benchmark)
    fan = _fan_out(benchmark)
    want = {fan: defaults[fan]} if fan and fan in defaults else {}
    want.update({k: v for k, v in (where or {}).items() if k in defaults})
    return {k: (_text(v), _text(defaults[k])) for k, v in want.items()}


def pick(runs: Iterable[Score], benchmark: str, left: LeftOut, *, relevant: Callable[[Score], bool] | None = None,
         where: dict[str, Any] | None = None, include_smoke: bool = False) -> Pick:
    """Rules 2 to 5 applied to ``runs`` of ``benchmark`` (``relevant`` narrows them first, silently: the caller
    says why); what is not used goes to ``left``."""
    scores = [s for s in runs if s.benchmark == benchmark and (relevant is None or relevant(s))]
    rec = {id(s): RunRecord.of(s) for s in scores}  # each run's record, read once
    if not include_smoke:
        for s in [s for s in scores if rec[id(s)].smoke]:
            left.add(benchmark, "a smoke run (--limit): smoke runs count only with --include-smoke", s.model)
        scores = [s for s in scores if not rec[id(s)].smoke]
    settings = _settings(benchmark, where)
    for name, (want, default) in settings.items():
        keep = []
        for s in scores:
            got = _text(rec[id(s)].setting(name, default))
            if got == want:
                keep.append(s)
            else:
                left.add(benchmark, f"scored with {name}={got}: this reads {name}={want} runs", s.model)
        scores = keep
    out = Pick(benchmark)
    fps = {id(s): rec[id(s)].fingerprint for s in scores}
    counts = Counter(fps.values())
    out.fingerprints = {_short(f): c for f, c in counts.most_common()}
    real = {f: c for f, c in counts.items() if f is not None}
    if real:
        newest: dict[str | None, float] = defaultdict(float)
        for s in scores:
            newest[fps[id(s)]] = max(newest[fps[id(s)]], rec[id(s)].created)
        out.fingerprint = max(real, key=lambda f: (real[f], newest[f], f))
    chosen: dict[tuple, list[Score]] = defaultdict(list)
    for s in scores:
        fp = fps[id(s)]
        if fp != out.fingerprint:
            if fp is None:
                why = ("stored without a data fingerprint (an older key form) while other runs have one; "
                       "re-run it to include it")
            else:
                why = (f"computed on other data (fingerprint {_short(fp)}, {counts[fp]} run(s)) than the "
                       f"{real[out.fingerprint]} run(s) on {_short(out.fingerprint)} used here: runs on "
                       f"different data are not mixed in one panel")
            left.add(benchmark, why, s.model)
            continue
        chosen[rec[id(s)].model_identity].append(s)
    for key, group in chosen.items():
        group.sort(key=rank, reverse=True)
        out.scores[key] = group[0]
        for s in group[1:]:
            left.add(benchmark, "superseded: a newer or full (no --limit) run with the same model, weights, "
                                "model args and seed is used", s.model)
    return out


def _sort(keys: Iterable[tuple]) -> list[tuple]:
    return sorted(keys, key=lambda k: tuple(map(str, k)))


def join(a: Pick, b: Pick, left: LeftOut) -> list[tuple]:
    """The model identities both picks have (sorted); each one only one of them has is left out."""
    for k in _sort(a.scores.keys() - b.scores.keys()):
        left.add(a.benchmark, f"no {b.benchmark} run of the model with the same weights, model args and seed", k[0])
    for k in _sort(b.scores.keys() - a.scores.keys()):
        left.add(b.benchmark, f"no {a.benchmark} run of the model with the same weights, model args and seed", k[0])
    return _sort(a.scores.keys() & b.scores.keys())


def _finite(v: Any) -> float | None:
    if v is None or isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


def _layer_value(row: dict[str, Any], value: str) -> float | None:
    v = row.get("raw") if value == "raw" else row.get("value")
    if value == "raw" and v is None:
        v = row.get("value")
    return _finite(v)


def layer_points(x: Score, y: Score, value: str = "value") -> tuple[list[dict[str, Any]], int]:
    """The layers two runs of one model both scored, as points (``x`` from ``x``'s ``value`` or ``raw`` column,
    ``y`` from ``y``'s value), in ``x``'s layer order; and how many of ``x``'s layers lack one of the values."""
    y_rows = {r.get("layer"): r for r in y.layers}
    points, unmatched = [], 0
    for row in x.layers:
        xv = _layer_value(row, value)
        m = y_rows.get(row.get("layer"))
        yv = _layer_value(m, "value") if m is not None else None
        if xv is not None and yv is not None:
            points.append({"layer": row["layer"], "x": xv, "y": yv})
        else:
            unmatched += 1
    return points, unmatched
