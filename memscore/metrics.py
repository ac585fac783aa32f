"""The metric contract: every metric is ``metric(X, Y, folds) -> list[FoldResult]``.

A metric takes arrays and a cross-validation plan (a list of :class:`Fold`: row indices to fit on and to
score on) and returns one :class:`FoldResult` per fold. The kinds a benchmark composes:

* a **regression** (``pls``, or a third party's ``ridge``): fits ``X[train] -> Y[train]``, returns the
  predictions for ``X[test]`` (``FoldResult.prediction``; ``value`` is NaN);
* a **correlation** (``spearman``, ``pearson``): ``X`` holds predictions, ``Y`` the truth; each fold's value is
  the correlation on its test rows (``per_target`` per column, ``value`` their median);
* **neural predictivity** (``neural-pls``): a regression loaded by name, then Pearson per site, median;
* a **ceiling** (``split-half``): ``X`` single-trial responses, ``Y`` the (stimulus, repetition) of each
  trial; each fold splits the repetitions into two halves.

``Y`` is one array for all folds, or a list with one array per fold when the targets differ between folds
(LaMem: each split file scores the same images anew; ``Y[k][i]`` is row i's target in fold k).

Benchmarks load metrics by name (``memscore.load_metric("pls", n_components=25)``), so a benchmark arg
can swap one for another that meets the same contract (``--benchmark-args regression=ridge``).
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Protocol, Sequence

import numpy as np

__all__ = ["Fold", "FoldResult", "Metric", "Summary", "fold_targets", "load_metric_for", "shuffle_split", "summarize",
           "values", "mean_by"]


@dataclass(frozen=True)
class Fold:
    """Rows to fit on (``train``; may be empty for metrics that fit nothing) and rows to score on."""

    train: np.ndarray
    test: np.ndarray

    @classmethod
    def all(cls, n: int) -> "Fold":
        """One fold scoring all ``n`` rows and fitting none (a plain correlation)."""
        return cls(np.empty(0, dtype=np.int64), np.arange(n, dtype=np.int64))


@dataclass
class FoldResult:
    value: float = float("nan")
    per_target: np.ndarray | None = None
    prediction: np.ndarray | None = None


class Metric(Protocol):
    def __call__(self, X: np.ndarray, Y: np.ndarray, folds: Sequence[Fold]) -> list[FoldResult]: ...


def fold_targets(Y, k: int) -> np.ndarray:
    """The targets of fold ``k``: ``Y`` itself, or ``Y[k]`` when ``Y`` holds one array per fold."""
    if isinstance(Y, (list, tuple)):
        return np.asarray(Y[k], dtype=np.float64)
    return np.asarray(Y, dtype=np.float64)


def shuffle_split(n: int, strata=None, *, n_splits: int = 10, train_size: float = 0.9, seed: int = 1) -> list[Fold]:
    """A cross-validation plan of ``n_splits`` random train/test splits of ``n`` rows (stratified by
    ``strata`` when given): sklearn's (Stratified)ShuffleSplit, Brain-Score's defaults (90/10, seed 1).
    Raises ValueError when a stratum is too small for the split."""
    from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit

    if strata is not None:
        cv = StratifiedShuffleSplit(n_splits=n_splits, train_size=train_size, test_size=None, random_state=seed)
        it = cv.split(np.zeros(n), np.asarray(strata))
    else:
        cv = ShuffleSplit(n_splits=n_splits, train_size=train_size, test_size=None, random_state=seed)
        it = cv.split(np.zeros(n))
    return [Fold(np.asarray(tr, dtype=np.int64), np.asarray(te, dtype=np.int64)) for tr, te in it]


@dataclass
class Summary:
    """Per-fold results aggregated: ``value`` the mean of the fold values, ``error`` its standard error
    (``std(ddof=0) / sqrt(folds)``, as Brain-Score), ``per_target`` the mean over folds per target."""

    split_values: np.ndarray
    value: float
    error: float
    per_target: np.ndarray | None


def summarize(results: Sequence[FoldResult]) -> Summary:
    v = values(results)
    ok = v[np.isfinite(v)]
    value = float(ok.mean()) if len(ok) else float("nan")
    error = float(ok.std() / np.sqrt(len(ok))) if len(ok) else float("nan")
    per = None
    if results and all(r.per_target is not None for r in results):
        stack = np.stack([np.asarray(r.per_target, dtype=np.float64) for r in results])
        with np.errstate(invalid="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                per = np.nanmean(stack, axis=0)
    return Summary(v, value, error, per)


def mean_by(values: np.ndarray, groups: np.ndarray, n: int) -> np.ndarray:
    """NaN-aware mean of the rows of ``values`` per group 0..n-1 (NaN where a group has no value)."""
    out = np.full((n, values.shape[1]), np.nan)
    if not len(values):
        return out
    order = np.argsort(groups, kind="stable")
    g = groups[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    v = values[order]
    ok = np.isfinite(v)
    sums = np.add.reduceat(np.where(ok, v, 0.0), starts, axis=0)
    counts = np.add.reduceat(ok, starts, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out[g[starts]] = sums / counts
    return out


def values(results: Sequence[FoldResult]) -> np.ndarray:
    return np.array([r.value for r in results], dtype=np.float64)


def load_metric_for(name: str, **offered: Any):
    """Load metric ``name``, passing only those of ``offered`` its factory accepts (a ``ridge`` has no
    ``n_components``), so a benchmark can offer its settings to whichever metric the user chose."""
    from .api import load_metric
    from .pluginmanager import registry

    entry, _ = registry().get("metric", name)
    factory = entry.resolve() if entry.available else None
    if factory is not None:
        try:
            params = inspect.signature(factory).parameters
        except (TypeError, ValueError):
            params = {}
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            offered = {k: v for k, v in offered.items() if k in params}
    return load_metric(name, **offered)
