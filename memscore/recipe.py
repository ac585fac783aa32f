"""How to run a stored run again: its ``memscore score`` command line, rebuilt from the run's own config.

Bundles list it for every run (``command`` in the manifest), ``verify --rescore`` runs it, and a board may
show it. A reference folder or a data set manifest is stored as a word, not a path, so such a run's command is
marked inexact (``exact``), with why.
"""
from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import MemscoreError
from .safetext import one_line as _short

__all__ = ["Recipe", "reproduce"]



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

    def options(self, data_root: Path | None = None, progress: bool = False, device: str = "auto",
                data_roots=None):
        from .benchmark import RunOptions
        from .dataroots import DataRoots

        return RunOptions(device=device, seed=self.seed, limit=self.limit, data_root=data_root, bf16=self.bf16,
                          data_roots=data_roots if data_roots is not None else DataRoots(),
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


def reproduce(run) -> Recipe:
    """The ``memscore score`` arguments that re-run ``run`` (a Score or its
    :class:`~memscore.record.RunRecord`; loads its benchmark to rebuild its arguments)."""
    from .record import RunRecord

    rec = run if isinstance(run, RunRecord) else RunRecord.of(run)
    cfg = rec.config
    wid = rec.weights if rec.weights != "None" else "default"
    weights, exact, why = wid, True, ""
    if wid == "none" or wid.startswith("none("):
        weights = "none"
    elif wid == "default" or wid.startswith("default:"):
        weights = "default"
    elif wid.startswith("file:"):
        exact, why = False, f"its weights are a local checkpoint ({wid}); pass that file as --weights"
    bargs, b_exact, b_why = _benchmark_args(rec.benchmark, rec.benchmark_args)
    return Recipe(model=rec.model, benchmark=rec.benchmark, weights=weights,
                  model_args=_kv(rec.model_args), benchmark_args=bargs,
                  seed=int(rec.seed or 0), limit=rec.limit,
                  bf16=bool(cfg.get("bf16", False)), skip_bad_images=bool(cfg.get("skip_bad_images", False)),
                  exact=exact and b_exact, why="; ".join(w for w in (why, b_why) if w), args_exact=b_exact)
