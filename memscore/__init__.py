"""memscore: score vision models layer by layer on image memorability and macaque V1/V2/V4/IT similarity.

Importing this package is cheap (no torch); models, benchmarks and metrics load on first use.
"""
from __future__ import annotations

__version__ = "0.1.0"

from .errors import MemscoreError  # noqa: E402
from .hookspecs import hookimpl  # noqa: E402

_API = {"load_model", "load_benchmark", "load_metric", "load_dataset", "score",
        "list_models", "list_benchmarks", "list_metrics", "list_datasets"}


def __getattr__(name: str):
    if name in _API:
        from . import api

        return getattr(api, name)
    if name == "Score":
        from .scores import Score

        return Score
    raise AttributeError(f"module 'memscore' has no attribute {name!r}")


__all__ = ["__version__", "hookimpl", "MemscoreError", "Score", *sorted(_API)]
