"""``rsa`` and ``cka``: representational similarity without a fit, compared on each fold's test stimuli (so
one plan serves every metric; ``Fold.all(n)`` gives the whole-set value).

* **RSA**: each side's RDM is 1 − Pearson r between the stimuli's response patterns (rsatoolbox's
  ``correlation`` RDM); the RDMs' upper triangles are compared by Spearman's ρ (default), Kendall's τa, or the
  cosine (rsatoolbox's ``compare(..., method="spearman" | "tau-a" | "cosine")``).
* **CKA**: unbiased (debiased) linear CKA of the centred features, Kornblith et al. 2019's
  ``feature_space_linear_cka(debiased=True)``: HSIC estimated without the bias of the plain estimator
  (Song et al. 2012), computed from the n × n Grams.
"""
from __future__ import annotations

import numpy as np
from scipy import stats as sps

COMPARISONS = ("spearman", "tau-a", "cosine")


def rdm(X: np.ndarray) -> np.ndarray:
    """The condensed RDM (upper triangle, row-major, as scipy's ``pdist``): 1 − Pearson r between rows."""
    X = np.asarray(X, dtype=np.float64)
    Xc = X - X.mean(1, keepdims=True)
    norm = np.linalg.norm(Xc, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        R = (Xc @ Xc.T) / np.outer(norm, norm)
    i, j = np.triu_indices(len(X), 1)
    return 1.0 - R[i, j]


def tau_a(a: np.ndarray, b: np.ndarray) -> float:
    """Kendall's τa (ties count as discordance-neutral; divided by all n(n−1)/2 pairs), O(n²) memory-light."""
    n = len(a)
    s = 0.0
    for k in range(n - 1):
        s += float(np.sum(np.sign(a[k] - a[k + 1:]) * np.sign(b[k] - b[k + 1:])))
    return s / (n * (n - 1) / 2)


def compare_rdms(a: np.ndarray, b: np.ndarray, method: str = "spearman") -> float:
    if method == "spearman":
        return float(sps.spearmanr(a, b)[0])
    if method == "tau-a":
        return tau_a(a, b)
    if method == "cosine":
        return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
    raise ValueError(f"unknown RDM comparison {method!r}; use {', '.join(COMPARISONS)}")


def cka_debiased(X: np.ndarray, Y: np.ndarray) -> float:
    """Unbiased linear CKA between feature sets X (n × p) and Y (n × q) on the same n stimuli."""
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    X, Y = X - X.mean(0), Y - Y.mean(0)
    n = len(X)

    def hsic(K: np.ndarray, L: np.ndarray) -> float:  # Song et al. 2012's unbiased HSIC (times a constant)
        K, L = K.copy(), L.copy()
        np.fill_diagonal(K, 0.0)
        np.fill_diagonal(L, 0.0)
        return float(np.sum(K * L) + K.sum() * L.sum() / ((n - 1) * (n - 2)) - 2 * K.sum(0) @ L.sum(0) / (n - 2))

    K, L = X @ X.T, Y @ Y.T
    return hsic(K, L) / np.sqrt(hsic(K, K) * hsic(L, L))


def procrustes_similarity(X: np.ndarray, Y: np.ndarray) -> float:
    """1 − θ/(π/2) for the angular Procrustes shape distance θ (Williams et al. 2021): both sides centred and
    scaled to unit Frobenius norm, θ = arccos of the nuclear norm of XᵀY (the best rotation's alignment; a
    narrower side is zero-padded, which changes nothing). 1: the same shape up to rotation, reflection and
    scale; 0: orthogonal."""
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    X, Y = X - X.mean(0), Y - Y.mean(0)
    nx, ny = np.linalg.norm(X), np.linalg.norm(Y)
    if nx == 0 or ny == 0:
        return float("nan")
    cos = np.linalg.svd((X / nx).T @ (Y / ny), compute_uv=False).sum()
    return float(1.0 - np.arccos(np.clip(cos, -1.0, 1.0)) / (np.pi / 2))


def _per_fold(X, Y, folds, measure) -> list:
    """``measure(X[test], Y[test])`` for each fold: what a metric without a fit returns (the contract's shape)."""
    from memscore.metrics import FoldResult, fold_targets

    out = []
    for k, f in enumerate(folds):
        te = np.asarray(f.test)
        y = fold_targets(Y, k)
        y = y[:, None] if y.ndim == 1 else y
        out.append(FoldResult(value=measure(np.asarray(X)[te], y[te])))
    return out


class RSAMetric:
    """The ``rsa`` metric (:mod:`memscore.metrics` contract): per fold, the RDMs of ``X[test]`` and ``Y[test]``
    compared (``comparison``); no fit."""

    def __init__(self, comparison: str = "spearman"):
        if comparison not in COMPARISONS:
            raise ValueError(f"comparison={comparison!r}: use one of {', '.join(COMPARISONS)}")
        self.comparison = comparison

    def __call__(self, X, Y, folds) -> list:
        return _per_fold(X, Y, folds, lambda x, y: compare_rdms(rdm(x), rdm(y), self.comparison))

    def __repr__(self) -> str:
        return f"RSAMetric(comparison={self.comparison!r})"


class CKAMetric:
    """The ``cka`` metric (:mod:`memscore.metrics` contract): per fold, unbiased linear CKA of ``X[test]`` and
    ``Y[test]``; no fit."""

    def __call__(self, X, Y, folds) -> list:
        return _per_fold(X, Y, folds, cka_debiased)

    def __repr__(self) -> str:
        return "CKAMetric()"


class ProcrustesMetric:
    """The ``procrustes`` metric (:mod:`memscore.metrics` contract): per fold, the angular Procrustes shape
    similarity of ``X[test]`` and ``Y[test]`` (:func:`procrustes_similarity`); no fit."""

    def __call__(self, X, Y, folds) -> list:
        return _per_fold(X, Y, folds, procrustes_similarity)

    def __repr__(self) -> str:
        return "ProcrustesMetric()"
