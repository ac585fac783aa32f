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

import functools

import numpy as np
from scipy import stats as sps

COMPARISONS = ("spearman", "tau-a", "cosine")


@functools.lru_cache(maxsize=4)
def _upper(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The upper triangle's indices (row-major, as ``pdist`` orders pairs), kept for the folds' repeated sizes."""
    return np.triu_indices(n, 1)


def rdm(X: np.ndarray) -> np.ndarray:
    """The condensed RDM (upper triangle, row-major, as scipy's ``pdist``): 1 − Pearson r between rows."""
    X = np.asarray(X, dtype=np.float64)
    Z = X - X.mean(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        Z /= np.sqrt(np.einsum("ij,ij->i", Z, Z))[:, None]
    i, j = _upper(len(X))
    return 1.0 - (Z @ Z.T)[i, j]  # Z @ Z.T: one symmetric product (BLAS syrk)


def _ranks(a: np.ndarray) -> tuple[np.ndarray, bool]:
    """Average ranks from 1 (scipy's ``rankdata``) and whether there were no ties, from one argsort: a
    permutation's inverse when every value is distinct (the common case for RDMs), else each run of equal
    values given its mean position."""
    order = np.argsort(a)
    s = a[order]
    r = np.empty(len(a))
    change = s[1:] != s[:-1]
    if change.all():
        r[order] = np.arange(1, len(a) + 1, dtype=np.float64)
        return r, True
    edges = np.concatenate(([0], np.flatnonzero(change) + 1, [len(a)]))
    r[order] = np.repeat((edges[:-1] + edges[1:] + 1) / 2.0, np.diff(edges))
    return r, False


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's ρ of two vectors (= scipy's ``spearmanr``; NaN in, NaN out): with no ties, 1 − 6Σd²/(N(N²−1))
    on the ranks; with ties, Pearson's r of the average ranks."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    n = len(a)
    if n < 2 or np.isnan(a).any() or np.isnan(b).any():
        return float("nan")
    (ra, distinct_a), (rb, distinct_b) = _ranks(a), _ranks(b)  # (argsort keeps the GIL: no gain from threads)
    if distinct_a and distinct_b:
        d = ra - rb
        return float(1.0 - 6.0 * (d @ d) / (n * (n * float(n) - 1.0)))
    ra -= ra.mean()
    rb -= rb.mean()
    den = np.sqrt((ra @ ra) * (rb @ rb))
    return float(ra @ rb / den) if den > 0 else float("nan")


def _tied_pairs(x: np.ndarray) -> int:
    _, counts = np.unique(x, return_counts=True)
    return int((counts * (counts - 1) // 2).sum())


def tau_a(a: np.ndarray, b: np.ndarray) -> float:
    """Kendall's τa: (concordant − discordant) / all n(n−1)/2 pairs (a pair tied on either side counts as
    neither). From scipy's O(n log n) τb: τa = τb·√((n₀−n₁)(n₀−n₂))/n₀, n₁ and n₂ the pairs tied in a and b."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    n0 = len(a) * (len(a) - 1) // 2
    if n0 == 0 or np.isnan(a).any() or np.isnan(b).any():
        return float("nan")
    left_a, left_b = n0 - _tied_pairs(a), n0 - _tied_pairs(b)
    if left_a == 0 or left_b == 0:
        return 0.0
    tau_b = sps.kendalltau(a, b, variant="b")[0]
    return float(tau_b * np.sqrt(float(left_a) * float(left_b)) / n0)


def compare_rdms(a: np.ndarray, b: np.ndarray, method: str = "spearman") -> float:
    if method == "spearman":
        return spearman(a, b)
    if method == "tau-a":
        return tau_a(a, b)
    if method == "cosine":
        return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
    raise ValueError(f"unknown RDM comparison {method!r}; use {', '.join(COMPARISONS)}")


def cka_debiased(X: np.ndarray, Y: np.ndarray) -> float:
    """Unbiased linear CKA between feature sets X (n × p) and Y (n × q) on the same n stimuli: Song et al.
    2012's unbiased HSIC, from the n × n Grams or — cheaper when the features are fewer than the stimuli — in
    feature space (Kornblith et al.'s ``feature_space_linear_cka(debiased=True)``); the two are one formula."""
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    n, p, q = len(X), X.shape[1], Y.shape[1]
    if n < 4:  # its HSIC estimator divides by (n - 1)(n - 2)(n - 3)-sized terms
        raise ValueError(f"unbiased CKA needs at least 4 stimuli per fold; this fold has {n}")
    X, Y = X - X.mean(0), Y - Y.mean(0)
    sq_x, sq_y = np.einsum("ij,ij->i", X, X), np.einsum("ij,ij->i", Y, Y)  # the Grams' diagonals

    def hsic(frob: float, sq_a: np.ndarray, sq_b: np.ndarray, sum_a: np.ndarray, sum_b: np.ndarray) -> float:
        # sum(K~ ∘ L~) + K~.sum() L~.sum() / ((n-1)(n-2)) - 2 K~.sum(0) @ L~.sum(0) / (n-2), K~ = K with a zero
        # diagonal; K.sum(0) = X (Σ x) = 0 for centred X up to rounding, kept for exactness
        ka, kb = sum_a - sq_a, sum_b - sq_b
        return float(frob - sq_a @ sq_b + ka.sum() * kb.sum() / ((n - 1) * (n - 2)) - 2 * ka @ kb / (n - 2))

    if n * n * (p + q) <= n * (p * p + q * q + p * q):  # Grams: n x n
        K, L = X @ X.T, Y @ Y.T
        kx, ly = K.sum(0), L.sum(0)
        xy, xx, yy = float(np.sum(K * L)), float(np.sum(K * K)), float(np.sum(L * L))
    else:  # feature space: ||XᵀY||², ||XᵀX||², ||YᵀY||²
        kx, ly = X @ X.sum(0), Y @ Y.sum(0)
        xy = float(np.sum((X.T @ Y) ** 2))
        xx, yy = float(np.sum((X.T @ X) ** 2)), float(np.sum((Y.T @ Y) ** 2))
    return hsic(xy, sq_x, sq_y, kx, ly) / np.sqrt(hsic(xx, sq_x, sq_x, kx, kx) * hsic(yy, sq_y, sq_y, ly, ly))


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
