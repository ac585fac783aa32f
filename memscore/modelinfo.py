"""Per-model facts for ``memscore list models --details``: parameters, scoreable layers, penultimate layer.

Computed once per model with random init (``weights="none"``, nothing downloaded) at the model's own
input size, and cached in ``$MEMSCORE_HOME/cache/model_stats.json`` under a key made of the model name
and the versions of what defines its architecture: memscore, torch, the distribution of the plugin that
provides it, and the packages the registration names (``register(..., packages=["timm"])``, or its
``source`` where that is an installed distribution): an upgrade recomputes, nothing stale is read.
"""
from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable

from . import paths
from .errors import MemscoreError

CORE_PACKAGES = ("memscore", "torch")
FIELDS = ("params", "layers", "penultimate", "input_size", "leaf_layers", "excluded", "aliases")
#: the form of the stats, part of their cache key (kept here, not read from memscore.model, so that a cached
#: listing imports no torch): 2: aliases are not counted as layers (memscore.model.LAYER_RULE 2); 3: nor
#: placeholders (LAYER_RULE 3)
STATS_VERSION = 3


def _versions(name: str) -> str:
    from .pluginmanager import registry

    entry, _ = registry().get("model", name)
    named = [*entry.meta.get("packages", ()), *([entry.meta["source"]] if entry.meta.get("source") else [])]
    out = [f"plugin:{entry.plugin}={entry.plugin_version}"]
    for pkg in dict.fromkeys([*CORE_PACKAGES, *named]):
        try:
            out.append(f"{pkg}={metadata.version(pkg)}")
        except metadata.PackageNotFoundError:
            pass
    return ",".join(out)


def cache_file() -> Path:
    return paths.cache_dir() / "model_stats.json"


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write(path: Path, data: dict[str, Any]) -> None:
    from .atomic import write_text

    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps(data, indent=1, sort_keys=True))


def compute_stats(model) -> dict[str, Any]:
    """The stats of a built :class:`~memscore.model.Model` (one dry forward pass at its input size)."""
    from .model import MIN_UNITS

    info = model.layer_info()
    layers = model.canonical_info()  # aliases are no layers
    leaves = {n for n, m in model.module.named_modules() if n and not any(True for _ in m.children())}
    scoreable = [li for li in layers if li.units >= MIN_UNITS]
    return {
        "params": int(sum(p.numel() for p in model.module.parameters())),
        "layers": len(scoreable),
        "penultimate": model.penultimate_layer,
        "input_size": int(model.preprocessing.crop_size),
        "leaf_layers": sum(1 for li in scoreable if li.name in leaves),
        "excluded": len(layers) - len(scoreable),
        "aliases": len(info) - len(layers),
    }


def model_stats(name: str, *, refresh: bool = False, **model_args) -> dict[str, Any]:
    """``{"params", "layers", "penultimate", "input_size", "leaf_layers", "excluded"}`` of model ``name``.

    ``layers`` counts the scoreable layers (canonical modules whose output has at least 24 units, aliases
    not counted: :func:`memscore.model.discover_layers`) at the model's input size; ``leaf_layers`` the
    scoreable layers that have no submodules; ``excluded`` the canonical layers below 24 units; ``aliases``
    the modules that only hand on another layer's output.
    """
    key = json.dumps({"name": name, "args": model_args, "versions": _versions(name), "stats": STATS_VERSION},
                     sort_keys=True)
    path = cache_file()
    cached = _read(path)
    if not refresh and key in cached:
        return cached[key]
    from .api import load_model
    from .pluginmanager import registry
    from .weights import local_default

    weights = "default" if local_default(registry().get("model", name)[0].meta) else "none"  # fine-tuned: its file
    model = load_model(name, weights=weights, **model_args)
    stats = compute_stats(model)
    del model
    cached = _read(path)  # another process may have written meanwhile
    cached[key] = stats
    _write(path, cached)
    return stats


def details_rows(entries: Iterable, *, progress: bool = False, refresh: bool = False) -> list[dict[str, Any]]:
    """One dict per registry entry: its listing fields plus ``params``, ``layers``, ``penultimate``,
    ``imagenet_top1`` and ``source``; unavailable and prefix entries get ``None`` (and ``error`` when a
    model failed to build). Builds each uncached model once with random init."""
    entries = list(entries)
    rows = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(entries), desc="model details", unit="model", leave=False)
    for e in entries:
        d = e.to_dict()
        meta = d.get("meta", {})
        row = {"name": d["name"], "plugin": d["plugin"], "available": d["available"], "tags": d["tags"],
               "source": meta.get("source", ""), "imagenet_top1": meta.get("imagenet_top1"),
               "params": None, "layers": None, "penultimate": None, "error": ""}
        if d["available"] and not e.prefix:
            try:
                row.update({k: v for k, v in model_stats(e.name, refresh=refresh).items()
                            if k in ("params", "layers", "penultimate")})
            except MemscoreError as exc:
                row["error"] = str(exc)
            except Exception as exc:  # a plugin's model that fails to build must not break the listing
                row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        elif not d["available"]:
            row["error"] = d.get("reason", "")
        rows.append(row)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return rows


def format_params(n: int | None) -> str:
    if n is None:
        return ""
    return f"{n / 1e6:.1f}M"
