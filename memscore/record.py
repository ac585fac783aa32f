"""The run key and the run seal: written once, used by scoring, the store, bundles and boards.

* The **key** says which inputs a run was computed on (model, weights identity, benchmark and version, config,
  data fingerprint, the plugins and their versions, the form of the key). Two runs with one key are
  interchangeable; a stored run is served only for its own key. :func:`key_of` is the recipe; :func:`key_of_run`
  recomputes it from a run's own content (what a bundle, ``collect`` and ``--from`` check).
* The **record** (:class:`RunRecord`) is a run's identity and provenance as a typed object: the inputs of its key,
  the run id and time, and what else the run recorded about where it came from. It computes the key (the one
  recipe), the run's column and row on a board, whether it is a smoke run, its reproducing command line. Scoring
  builds one before a run; the store, bundles, ``verify``, the board, sweeps and the analyses read one back with
  :meth:`RunRecord.of` instead of reading ``meta`` by string.
* The **seal** is the SHA-256 of a run file's canonical JSON, written into the run when it is stored: a run file
  edited by hand afterwards no longer matches it. It is a checksum against edits, not a signature.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["KEY_VERSION", "RunRecord", "run_key", "key_of", "key_of_run", "key_versions_of_run", "seal",
           "SEAL_FIELD"]

#: the form of the run key; rows stored under an older form (without a data fingerprint) are never
#: served to a new run and stay visible as history
KEY_VERSION = 2
SEAL_FIELD = "seal"
_UNSEALED = (SEAL_FIELD, "from_store")  # meta fields the seal does not cover (the seal; a read-time flag)


def run_key(model: str, weights: str, benchmark: str, version: str, config: dict[str, Any]) -> str:
    """The digest every key form ends in (also key version 1, whose ``config`` was the run's config alone)."""
    blob = json.dumps([model, weights, benchmark, version, config], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def key_of(model: str, weights: str, benchmark: str, version: str, config: dict[str, Any],
           data_fingerprint: str | None, model_plugin: tuple[str, str], benchmark_plugin: tuple[str, str],
           key_version: int = KEY_VERSION) -> str:
    """The run key (the one recipe): ``config`` is the run's stored config (benchmark and model arguments,
    keyed options); ``*_plugin`` are (distribution, version) of the plugins that provide model and benchmark."""
    if key_version == 1:
        return run_key(model, weights, benchmark, version, config)
    return run_key(model, weights, benchmark, version, {
        "config": config, "data": data_fingerprint, "key": key_version,
        "model_plugin": [str(model_plugin[0]), str(model_plugin[1])],
        "benchmark_plugin": [str(benchmark_plugin[0]), str(benchmark_plugin[1])]})


def key_of_run(doc: dict[str, Any], key_version: int = KEY_VERSION) -> str:
    """The key recomputed from a run's own content (a run file as parsed JSON, or ``Score.to_dict()``)."""
    return RunRecord.of(doc).key_as(key_version)


def _dict(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def _number(v: Any) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else 0.0


@dataclass(frozen=True)
class RunRecord:
    """One run's identity (what its key is made of) and provenance (where and when it was made).

    Built by scoring before a run (:meth:`provenance` is what the run file's ``meta`` gets) and read back from
    any run with :meth:`of` (a :class:`~memscore.scores.Score`, a run file's parsed JSON or ``Score.to_dict()``):
    nothing downstream reads those ``meta`` fields by string. Read from elsewhere, the fields are as the run
    says (the key and seal checks of :mod:`memscore.runcheck` say whether to believe it).
    """

    model: str
    weights: str  # the weights identity (``default:<tag>``, ``none``, ``file:<sha256>``...)
    benchmark: str
    version: str
    #: the run's stored config: ``benchmark_args``, ``model_args`` and the keyed options (seed, limit, ...)
    config: dict[str, Any] = field(default_factory=dict)
    #: the data it read (:class:`~memscore.fingerprint.DataInfo` as a dict: name, label, fingerprint, counts,
    #: parts — two data sets read together are one entry with a combined fingerprint and a ``a+b`` name)
    data: dict[str, Any] | None = None
    model_plugin: tuple[str, str] = ("", "")  # (distribution, version)
    benchmark_plugin: tuple[str, str] = ("", "")
    #: provenance outside the key
    run_id: str = ""
    created: float = 0.0
    memscore_version: str = ""
    device: str = ""
    seed_recorded: Any = None  # ``meta.seed`` (older runs have it there only)
    data_recorded: bool = True  # whether the run says what data it read (runs made before fingerprints do not)

    # -- identity ---------------------------------------------------------------------------------
    @property
    def fingerprint(self) -> str | None:
        fp = _dict(self.data).get("fingerprint")
        return str(fp) if fp else None

    @property
    def key(self) -> str:
        return self.key_as(KEY_VERSION)

    def key_as(self, key_version: int) -> str:
        return key_of(self.model, self.weights, self.benchmark, self.version, self.config, self.fingerprint,
                      self.model_plugin, self.benchmark_plugin, key_version)

    @property
    def key_versions(self) -> list[int]:
        """The key forms the run may have been stored under: the current one; version 1 (no data fingerprint
        in the key) only for a run that records no data, as runs made before data fingerprints do."""
        return [KEY_VERSION] + ([1] if not self.data_recorded else [])

    @property
    def benchmark_args(self) -> dict[str, Any]:
        return _dict(self.config.get("benchmark_args"))

    @property
    def model_args(self) -> dict[str, Any]:
        return _dict(self.config.get("model_args"))

    def setting(self, name: str, default: Any = None) -> Any:
        """A benchmark argument as run (its declared default where the config leaves it out)."""
        return self.benchmark_args.get(name, default)

    @property
    def seed(self) -> Any:
        v = self.config.get("seed", self.seed_recorded)
        return 0 if v is None else v  # 0 is RunOptions' default seed

    @property
    def limit(self) -> Any:
        return self.config.get("limit")

    @property
    def smoke(self) -> bool:
        """A smoke run (``--limit`` cut the data): never interchangeable with a full run."""
        return self.limit is not None

    @property
    def model_identity(self) -> tuple[str, str, str, Any]:
        """What two benchmarks' runs of one model share: model, weights, model args, seed."""
        return self.model, self.weights, json.dumps(self.model_args, sort_keys=True, default=str), self.seed

    @property
    def row(self) -> str:
        """The model as a board row: ``model@weights[,arg=value...]`` (random init shows its seed)."""
        weights = f"none(seed={self.seed_recorded if self.seed_recorded is not None else 0})" \
            if self.weights == "none" else self.weights
        tail = "".join(f",{k}={v}" for k, v in sorted(self.model_args.items()))
        return f"{self.model}@{weights}{tail}"

    @property
    def column(self) -> tuple[str, str, str | None, str]:
        """The benchmark as a board column: benchmark, version, data fingerprint, digest of the config less the
        model's arguments (a column never mixes data or settings)."""
        from .fingerprint import digest

        cfg = {k: v for k, v in self.config.items() if k != "model_args"}
        return (self.benchmark, self.version, _dict(self.data).get("fingerprint"),
                digest(json.dumps(cfg, sort_keys=True, default=str))[:8])

    # -- provenance -----------------------------------------------------------------------------------
    def provenance(self) -> dict[str, Any]:
        """The ``meta`` fields a run file stores for this record (the rest of ``meta`` is the benchmark's)."""
        return {"benchmark_plugin": self.benchmark_plugin[0], "benchmark_plugin_version": self.benchmark_plugin[1],
                "model_plugin": self.model_plugin[0], "model_plugin_version": self.model_plugin[1],
                "weights": self.weights, "config": self.config, "data": self.data}

    @classmethod
    def of(cls, run: Any) -> "RunRecord":
        """The record of a stored run: a Score, or a run file / ``Score.to_dict()`` as parsed JSON."""
        doc = run if isinstance(run, dict) else {"model": run.model, "benchmark": run.benchmark,
                                                 "benchmark_version": run.benchmark_version, "meta": run.meta}
        meta = _dict(doc.get("meta"))
        data = meta.get("data")
        return cls(model=str(doc.get("model")), weights=str(meta.get("weights")), benchmark=str(doc.get("benchmark")),
                   version=str(doc.get("benchmark_version")), config=_dict(meta.get("config")),
                   data=data if isinstance(data, dict) else None, data_recorded="data" in meta,
                   model_plugin=(meta.get("model_plugin", ""), meta.get("model_plugin_version", "")),
                   benchmark_plugin=(meta.get("benchmark_plugin", ""), meta.get("benchmark_plugin_version", "")),
                   run_id=str(meta.get("run_id") or ""), created=_number(meta.get("created")),
                   memscore_version=str(meta.get("memscore_version") or ""), device=str(meta.get("device") or ""),
                   seed_recorded=meta.get("seed"))

    def recipe(self):
        """How to run it again (:class:`memscore.recipe.Recipe`: its ``memscore score`` command line)."""
        from .recipe import reproduce

        return reproduce(self)

    @property
    def command(self) -> str:
        return self.recipe().command


def key_versions_of_run(doc: dict[str, Any]) -> list[int]:
    """The key forms a run may have been stored under (:attr:`RunRecord.key_versions`)."""
    return RunRecord.of(doc).key_versions


def seal(doc: dict[str, Any]) -> str:
    """``sha256:<hex>`` of the run's canonical JSON (sorted keys, no spaces), its seal and read-time flags left
    out. ``doc`` is ``Score.to_dict()`` or the run file parsed (the two agree: the file is that dict)."""
    meta = {k: v for k, v in (doc.get("meta") or {}).items() if k not in _UNSEALED}
    body = json.dumps({**doc, "meta": meta}, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)
    return "sha256:" + hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()
