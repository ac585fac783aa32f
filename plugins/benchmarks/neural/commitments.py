"""Layer commitments: the layer a model commits to a brain region, found in the result store or computed.

A model commits to region R the layer with the best ``neural-<r>`` score (``Score.meta["layer"]``).
A commitment belongs to one model, weights, model arguments, benchmark version and **neural data set**
(its content fingerprint): :func:`commit` asks :func:`memscore.api.score`, whose run key holds all of
them, so a commitment made on other recordings is never reused. :func:`find` lists what the store holds
for browsing (analysis), filtered the same way.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from memscore.store import ResultStore, open_store
from memscore.weights import weights_identity

if TYPE_CHECKING:  # memscore.benchmark imports torch; this module must not
    from memscore.benchmark import RunOptions

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
    benchmark_version: str = ""
    #: the neural data set it was made on: name, fingerprint, counts, where it was read from
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def of(cls, score, region: str, from_store: bool) -> "Commitment":
        return cls(score.model, score.meta.get("weights", ""), region.upper(), score.meta["layer"], score.value,
                   score.raw, score.meta.get("run_id"), from_store, str(score.benchmark_version),
                   dict(score.meta.get("data") or {}))


def weights_id(weights: str | None) -> str:
    """The weights as the store keys them (one definition: :func:`memscore.weights.weights_identity`)."""
    return weights_identity(weights)


def _benchmark(region: str) -> str:
    region = region.upper()
    if region not in REGIONS:
        from memscore.errors import OptionError

        raise OptionError(f"region {region!r}: use one of {', '.join(REGIONS)}")
    return f"neural-{region.lower()}"


def find(model: str, region: str, *, weights: str | None = "default", model_args: dict[str, Any] | None = None,
         data_fingerprint: str | None = None, benchmark_version: str | None = None, seed: int | None = None,
         store: ResultStore | None = None) -> Commitment | None:
    """The most recent stored commitment of ``model`` to ``region`` on the neural data ``data_fingerprint``
    (any data when None), or None. Rows stored without a data fingerprint are not commitments."""
    bench = _benchmark(region)
    st = store or open_store()
    wid = weights_id(weights)
    found = []
    for s in st.query(model=model, benchmark=bench):
        cfg = s.meta.get("config", {})
        fp = (s.meta.get("data") or {}).get("fingerprint")
        if not fp or not s.meta.get("layer"):
            continue
        if s.meta.get("weights") != wid or (cfg.get("model_args") or {}) != (model_args or {}):
            continue
        if data_fingerprint is not None and fp != data_fingerprint:
            continue
        if benchmark_version is not None and str(s.benchmark_version) != str(benchmark_version):
            continue
        if wid == "none" and seed is not None and cfg.get("seed") != seed:
            continue  # random init: another seed is another network
        found.append(s)
    if not found:
        return None
    best = max(found, key=lambda s: (s.meta.get("config", {}).get("limit") is None, s.meta.get("created", 0)))
    return Commitment.of(best, region, True)


def commit(model: str, region: str, *, weights: str | None = "default", model_args: dict[str, Any] | None = None,
           benchmark_args: dict[str, Any] | None = None, options: "RunOptions | None" = None,
           store: ResultStore | None | bool = True, force: bool = False) -> Commitment:
    """The commitment stored under the exact run key (model, weights, model args, benchmark args and
    version, neural data fingerprint), or computed (and stored) by scoring ``neural-<region>``."""
    from memscore.api import score
    from memscore.benchmark import RunOptions

    options = options or RunOptions()
    st = open_store() if store is True else (store or None)
    w = "none" if weights_id(weights) == "none" else weights
    result = score(model, _benchmark(region), weights=w, model_args=model_args, benchmark_args=benchmark_args,
                   options=options, store=st if st is not None else False, force=force)
    return Commitment.of(result, region, bool(result.meta.get("from_store")))
