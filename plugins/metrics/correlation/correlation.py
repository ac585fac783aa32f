"""Correlation metrics: Spearman (memorability) and per-column Pearson (neural sites).

Policy: NaN or infinite input raises ValueError (a silently dropped image or site would change
the score); a constant column has no defined correlation and gives NaN, without a warning, so a
dead site is visible in the result and ``np.nanmedian`` can skip it.
"""
from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

__all__ = ["spearman", "spearman_columns", "pearson"]


def _pair(a, b, name: str, ndim: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    a, b = (np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, dtype=np.float64) for x in (a, b))
    if a.shape != b.shape:
        raise ValueError(f"{name}: a and b must have the same shape, got {a.shape} and {b.shape}")
    if a.ndim not in ndim:
        raise ValueError(f"{name}: expected {' or '.join(f'{d}-D' for d in ndim)} input, got shape {a.shape}")
    if a.shape[0] < 2:
        raise ValueError(f"{name}: need at least 2 observations, got {a.shape[0]}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError(f"{name}: input contains NaN or infinite values; drop or impute them first")
    return a, b


def _columns_r(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r of matching columns, computed as scipy.stats.pearsonr does (normalise, dot, clip)."""
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):  # constant column: 0/0 -> NaN
        r = np.einsum("i...,i...->...", a / np.linalg.norm(a, axis=0), b / np.linalg.norm(b, axis=0))
    return np.clip(r, -1.0, 1.0)


def pearson(a, b):
    """Pearson r: a float for 1-D input; for (n, m) input, the (m,) correlations of matching columns."""
    a, b = _pair(a, b, "pearson", (1, 2))
    r = _columns_r(a, b)
    return float(r) if a.ndim == 1 else r


def spearman(a, b) -> float:
    """Spearman rank correlation with average ranks for ties, equal to ``scipy.stats.spearmanr(a, b).statistic``."""
    a, b = _pair(a, b, "spearman", (1,))
    return float(_columns_r(rankdata(a), rankdata(b)))


def spearman_columns(a, b) -> np.ndarray:
    """Spearman rank correlation of each pair of matching columns of two (n, m) arrays."""
    a, b = _pair(a, b, "spearman_columns", (2,))
    return _columns_r(rankdata(a, axis=0), rankdata(b, axis=0))


class _Correlation:
    """A correlation metric (:mod:`memscore.metrics` contract): ``metric(pred, truth, folds)`` gives each
    fold's correlation on its test rows (``pred`` may also be a list of each fold's test predictions); for (n, m) input ``per_target`` holds the m column correlations and
    ``value`` their median (NaN columns skipped)."""

    name = ""

    def __call__(self, X, Y, folds) -> list:
        from memscore.metrics import FoldResult, fold_targets

        out = []
        for k, f in enumerate(folds):
            # X: predictions for every row, or a list of each fold's test-row predictions
            a = np.asarray(X[k]) if isinstance(X, (list, tuple)) else np.asarray(X)[np.asarray(f.test)]
            b = fold_targets(Y, k)[np.asarray(f.test)]
            if a.ndim == 1:
                out.append(FoldResult(value=self.one(a, b)))
            else:
                r = self.columns(a, b)
                out.append(FoldResult(value=float(np.nanmedian(r)) if np.isfinite(r).any() else float("nan"),
                                      per_target=r))
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class SpearmanMetric(_Correlation):
    one, columns = staticmethod(spearman), staticmethod(spearman_columns)


class PearsonMetric(_Correlation):
    one = staticmethod(pearson)

    @staticmethod
    def columns(a, b):
        return np.atleast_1d(pearson(a, b))
