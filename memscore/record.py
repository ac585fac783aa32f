"""The run key and the run seal: written once, used by scoring, the store, bundles and boards.

* The **key** says which inputs a run was computed on (model, weights identity, benchmark and version, config,
  data fingerprint, the plugins and their versions, the form of the key). Two runs with one key are
  interchangeable; a stored run is served only for its own key. :func:`key_of` is the recipe; :func:`key_of_run`
  recomputes it from a run's own content (what a bundle, ``collect`` and ``--from`` check).
* The **seal** is the SHA-256 of a run file's canonical JSON, written into the run when it is stored: a run file
  edited by hand afterwards no longer matches it. It is a checksum against edits, not a signature.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

__all__ = ["KEY_VERSION", "run_key", "key_of", "key_of_run", "key_versions_of_run", "seal", "SEAL_FIELD"]

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
    meta = doc.get("meta") or {}
    data = meta.get("data")
    fp = data.get("fingerprint") if isinstance(data, dict) else None
    return key_of(str(doc.get("model")), str(meta.get("weights")), str(doc.get("benchmark")),
                  str(doc.get("benchmark_version")), meta.get("config") or {}, fp,
                  (meta.get("model_plugin", ""), meta.get("model_plugin_version", "")),
                  (meta.get("benchmark_plugin", ""), meta.get("benchmark_plugin_version", "")), key_version)


def key_versions_of_run(doc: dict[str, Any]) -> list[int]:
    """The key forms a run may have been stored under: the current one; version 1 (no data fingerprint in the
    key) only for a run that records no data, as runs made before data fingerprints do."""
    meta = doc.get("meta") or {}
    return [KEY_VERSION] + ([1] if "data" not in meta else [])


def seal(doc: dict[str, Any]) -> str:
    """``sha256:<hex>`` of the run's canonical JSON (sorted keys, no spaces), its seal and read-time flags left
    out. ``doc`` is ``Score.to_dict()`` or the run file parsed (the two agree: the file is that dict)."""
    meta = {k: v for k, v in (doc.get("meta") or {}).items() if k not in _UNSEALED}
    body = json.dumps({**doc, "meta": meta}, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)
    return "sha256:" + hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()
