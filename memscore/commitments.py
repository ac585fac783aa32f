"""Layer commitments: the layer a model commits to a brain region, found in the result store or computed.

A model commits to region R the layer with the best ``neural-<r>`` score (``Score.meta["layer"]``).
:func:`find` reads the current stored ``neural-<r>`` score for (model, weights, model args): an exact match
of the benchmark arguments when they are given, else the most recent full run (no ``--limit``) before a
smoke run. :func:`commit` returns that, or scores the model through :func:`memscore.api.score` (which stores
the result, so the commitment is computed once).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .store import ResultStore

if TYPE_CHECKING:  # memscore.benchmark imports torch; this module must not
    from .benchmark import RunOptions

__all__ = ["Commitment", "find", "commit", "weights_id", "REGIONS"]

REGIONS = ("V1", "V2", "V4", "IT")


@dataclass
class Commitment:
    model: str
    weights: str
    region: str
    layer: str
    value: float | None
    raw: float | None
    run_id: str | None
    from_store: bool

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def weights_id(weights: str | None) -> str:
    """The weights as the store keys them (``api.score``): none | default | resolved path | hub id."""
    if weights in (None, "none") or str(weights).startswith("none("):
        return "none"
    w = str(weights)
    if w == "default":
        return w
    p = Path(w).expanduser()
    return str(p.resolve()) if p.exists() else w


def _benchmark(region: str) -> str:
    region = region.upper()
    if region not in REGIONS:
        from .errors import OptionError

        raise OptionError(f"region {region!r}: use one of {', '.join(REGIONS)}")
    return f"neural-{region.lower()}"


def find(model: str, region: str, *, weights: str | None = "default", model_args: dict[str, Any] | None = None,
         benchmark_args: dict[str, Any] | None = None, seed: int | None = None,
         store: ResultStore | None = None) -> Commitment | None:
    """The stored commitment of ``model`` to ``region``, or None."""
    bench = _benchmark(region)
    st = store or ResultStore()
    wid = weights_id(weights)
    want_config = None
    if benchmark_args is not None:
        from .api import load_benchmark

        want_config = load_benchmark(bench, **benchmark_args).config()
    found = []
    for s in st.query(model=model, benchmark=bench):
        cfg = s.meta.get("config", {})
        if s.meta.get("weights") != wid or (cfg.get("model_args") or {}) != (model_args or {}):
            continue
        if wid == "none" and seed is not None and cfg.get("seed") != seed:
            continue  # random init: another seed is another network
        if want_config is not None and cfg.get("benchmark_args") != want_config:
            continue
        if not s.meta.get("layer"):
            continue
        found.append(s)
    if not found:
        return None
    best = max(found, key=lambda s: (cfg_full(s), s.meta.get("created", 0)))
    return Commitment(model, wid, region.upper(), best.meta["layer"], best.value, best.raw, best.meta.get("run_id"),
                      True)


def cfg_full(score) -> bool:
    return score.meta.get("config", {}).get("limit") is None


def commit(model: str, region: str, *, weights: str | None = "default", model_args: dict[str, Any] | None = None,
           benchmark_args: dict[str, Any] | None = None, options: "RunOptions | None" = None,
           store: ResultStore | None | bool = True, force: bool = False) -> Commitment:
    """The commitment from the store, or computed (and stored) by scoring ``neural-<region>``."""
    from .api import score
    from .benchmark import RunOptions

    options = options or RunOptions()
    st = ResultStore() if store is True else (store or None)
    if not force and st is not None:
        hit = find(model, region, weights=weights, model_args=model_args, benchmark_args=benchmark_args,
                   seed=options.seed, store=st)
        if hit is not None:
            return hit
    w = "none" if weights_id(weights) == "none" else weights
    result = score(model, _benchmark(region), weights=w, model_args=model_args, benchmark_args=benchmark_args,
                   options=options, store=st if st is not None else False, force=force)
    return Commitment(model, weights_id(weights), region.upper(), result.meta["layer"], result.value, result.raw,
                      result.meta.get("run_id"), bool(result.meta.get("from_store")))
