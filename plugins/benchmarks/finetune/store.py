"""Fine-tuned models on disk: names, export (never overwriting silently) and a torch-free listing.

``$MEMSCORE_HOME/finetuned/<stem>.pt`` holds ``{"format", "memscore_finetuned": metadata, "state_dict"}``;
``<stem>.json`` beside it holds the same metadata plus the file's sha256, so listing the available
fine-tuned models reads small JSON files only (no torch import). ``<stem>`` is the model name made
file-safe (with a short hash of the exact name when characters had to be replaced).
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any

FORMAT = 1
OUTPUT = "memorability"


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.@+" else "_" for c in name)


def _stem(name: str) -> str:
    s = _safe(name)
    return s if s == name else f"{s}~{hashlib.sha1(name.encode()).hexdigest()[:6]}"


def finetuned_dir() -> Path:
    from memscore.paths import home

    return home() / "finetuned"


def _sha256(path: Path) -> str:
    from memscore.fingerprint import hash_file

    return hash_file(path, "sha256")


def export_finetuned(name: str, state: dict, meta: dict[str, Any]) -> Path:
    """Write ``finetuned/<name>.pt`` (+ ``.json``); a different earlier file goes to ``history/``."""
    from memscore_plugins.benchmarks.finetune.trainer import atomic_save
    from memscore_plugins.benchmarks.finetune.trainer import atomic_write_text

    folder = finetuned_dir()
    folder.mkdir(parents=True, exist_ok=True)
    stem = _stem(name)
    target, side = folder / f"{stem}.pt", folder / f"{stem}.json"
    if target.exists() and side.exists():
        old = json.loads(side.read_text())
        if old.get("train_hash") == meta["train_hash"]:
            return target  # the same training (a resumed finish): keep the file as it is
        hist = folder / "history"
        hist.mkdir(exist_ok=True)
        tag = f"{stem}--{old.get('train_hash', 'unknown')[:8]}--{int(old.get('created', 0))}"
        os.replace(target, hist / f"{tag}.pt")
        os.replace(side, hist / f"{tag}.json")
        warnings.warn(f"finetuned:{name} now names a new fine-tuning (training {meta['train_hash'][:8]}); "
                      f"the previous one (training {old.get('train_hash', '?')[:8]}) is kept as "
                      f"{hist / (tag + '.pt')}", stacklevel=2)
    # "output" and "preprocessing" at the top: any model plugin's --weights loading reads them
    atomic_save({"format": FORMAT, "memscore_finetuned": meta, "output": meta.get("output", OUTPUT),
                 "preprocessing": meta.get("preprocessing"), "state_dict": state}, target)
    atomic_write_text(json.dumps({**meta, "file": target.name, "sha256": _sha256(target)}, indent=1), side)
    return target


def available_finetuned() -> dict[str, dict[str, Any]]:
    """``{name: sidecar}`` of every fine-tuned model under ``$MEMSCORE_HOME/finetuned`` (no torch)."""
    folder = finetuned_dir()
    out: dict[str, dict[str, Any]] = {}
    if not folder.is_dir():
        return out
    for side in sorted(folder.glob("*.json")):
        try:
            meta = json.loads(side.read_text())
        except (OSError, ValueError):
            continue
        name = meta.get("name")
        if isinstance(name, str) and (folder / meta.get("file", "")).is_file():
            meta["path"] = str(folder / meta["file"])
            out[name] = meta
    return out


