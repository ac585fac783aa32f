"""``ridgecv``: ridge regression with each target's penalty chosen by exact leave-one-out error, as
scikit-learn's ``RidgeCV(alphas, alpha_per_target=True)`` (``cv=None``, ``fit_intercept=True``) chooses it.

Per fold, the train features are centred (the intercept is fitted, unpenalised) and decomposed once through
the eigendecomposition of their smaller Gram (``XᵀX`` when there are more stimuli than features — the primal
form — else ``XXᵀ``, the dual/kernel form). With ``Xc = U S Vᵀ`` the hat matrix of penalty α is
``H = U diag(s²/(s²+α)) Uᵀ + 11ᵀ/n``; each target's leave-one-out residuals are ``(y − Hy)_i / (1 − H_ii)``,
and the α with the smallest mean squared LOO residual wins (the first on ties, as scikit-learn's loop keeps
the first best). The fit with that α predicts the test stimuli.

What makes it fast (``benchmarks/neural_metrics_speed.py``):

* the folds share one ``XᵀX`` and ``XᵀY``: each train fold's centred Gram is the whole set's minus the rows
  it leaves out (and the rank-one change of centre), not a new product over ~90% of the rows;
* the decomposition is shared by the whole grid and all targets; a residual is ``(I − UUᵀ)y`` (once, float64)
  plus ``U diag(α/(s²+α)) Uᵀy`` — every α's part of every target in ONE float32 product. The two parts are
  orthogonal, so float32 errs ~1e-7 relative to the residual itself; a target whose two best α are within
  1e-4 of each other is re-decided in float64, so the choice is scikit-learn's;
* the coefficients come from ``V diag(1/(s²+α)) VᵀXᵀy`` (no second pass over the rows);
* a one-value grid is a fixed penalty: one Cholesky solve, no decomposition.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

DEFAULT_ALPHAS = (1e-2, 1e-1, 1.0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6)
#: relative gap between a target's two best LOO errors under which float32 is not trusted to order them
_NEAR_TIE = 1e-4
#: the float32 residual block (rows x alphas x targets) is computed in chunks of alphas under this many values
_BLOCK = 1 << 25


def parse_alphas(value) -> tuple[float, ...]:
    """``"0.1,1,10"``, ``"1e-3+1e3"`` or a sequence → positive floats."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        vals = [float(value)]
    elif isinstance(value, (list, tuple, np.ndarray)):
        vals = [float(v) for v in value]
    else:
        try:
            vals = [float(v) for v in str(value).replace("+", ",").replace(";", ",").split(",") if v.strip()]
        except ValueError:
            vals = []
    if not vals or not all(np.isfinite(v) and v > 0 for v in vals):
        raise ValueError("alphas must be positive numbers, e.g. 0.1,1,10")
    return tuple(vals)


def _eigh(G: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues and eigenvectors of a symmetric Gram (LAPACK's divide and conquer: the fastest here)."""
    from scipy.linalg import eigh

    return eigh(G, driver="evd", overwrite_a=True, check_finite=False)


def _kept(evals: np.ndarray, n: int, d: int) -> np.ndarray:
    """The directions with a non-zero singular value (the rest are rounding)."""
    return evals > evals.max(initial=0.0) * max(n, d) * np.finfo(np.float64).eps


def _decompose(Xc: np.ndarray, G: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(U, s², V) of the centred train features, from the smaller Gram (primal or dual form by shape); V is None
    in the dual form. ``G`` is ``XcᵀXc`` when already known (the folds' shared Gram)."""
    n, d = Xc.shape
    if n > d:  # primal: XᵀX (d x d), U = X V / s
        evals, V = _eigh(Xc.T @ Xc if G is None else G.copy())
        keep = _kept(evals, n, d)
        s2, V = evals[keep], V[:, keep]
        return (Xc @ V) / np.sqrt(s2), s2, V
    evals, U = _eigh(Xc @ Xc.T)  # dual: XXᵀ (n x n), its eigenvectors are U
    keep = _kept(evals, n, d)
    return U[:, keep], evals[keep], None


def _loo_errors(U, s2, UtY, resid0, alphas, dtype) -> np.ndarray:
    """Mean squared leave-one-out residual of every target under every α: (alphas, targets)."""
    n, t = resid0.shape
    h = (U * U) @ (s2[:, None] / (s2[:, None] + alphas[None, :])) + 1.0 / n  # hat diagonals (n, alphas)
    inv = (1.0 / (1.0 - h)).astype(dtype)
    Uc, Zc, base = U.astype(dtype, copy=False), UtY.astype(dtype, copy=False), resid0.astype(dtype, copy=False)
    err = np.empty((len(alphas), t))
    step = max(1, _BLOCK // max(1, n * t))
    for lo in range(0, len(alphas), step):
        block = alphas[lo:lo + step]
        damp = (block[:, None] / (s2[None, :] + block[:, None])).astype(dtype)  # (k, r): the part α leaves
        part = Uc @ (damp[:, :, None] * Zc[None]).transpose(1, 0, 2).reshape(len(s2), len(block) * t)  # (n, k*t)
        for j in range(len(block)):
            r = part[:, j * t:(j + 1) * t]
            r += base
            r *= inv[:, lo + j, None]
            err[lo + j] = np.einsum("ij,ij->j", r, r, dtype=np.float64) / n
    return err


def _choose(err: np.ndarray) -> np.ndarray:
    """Each target's α index: the smallest error, the first on ties (scikit-learn's loop order)."""
    return np.argmin(err, axis=0)


def _near_ties(err: np.ndarray) -> np.ndarray:
    """Targets whose two best errors are too close for float32 to order."""
    if len(err) < 2:
        return np.zeros(err.shape[1], dtype=bool)
    two = np.partition(err, 1, axis=0)[:2]
    return (two[1] - two[0]) <= _NEAR_TIE * np.abs(two[1])


class _Fit:
    """A fitted fold: ``predict(X_new)``; ``alpha`` per target."""

    def __init__(self, alpha, coef, x_mean, y_mean):
        self.alpha, self.coef, self.x_mean, self.y_mean = alpha, coef, x_mean, y_mean

    def predict(self, X_new: np.ndarray) -> np.ndarray:
        return (np.asarray(X_new, dtype=np.float64) - self.x_mean) @ self.coef + self.y_mean


class _Sums:
    """``XᵀX``, ``XᵀY`` and the means of all rows, about one centre, computed once: a train fold's centred Gram
    and cross-products are these minus the rows the fold leaves out (when it leaves out fewer than it keeps)
    and the rank-one change of centre. Folds with their own targets get their own ``XᵀY``."""

    def __init__(self, X: np.ndarray, Y: np.ndarray | None):
        self.cx = X.mean(0)
        self.X = X - self.cx
        self.primal = X.shape[0] > X.shape[1]
        self.G = self.X.T @ self.X if self.primal else None
        self.Y_raw = Y
        self.Y = None if Y is None else Y - Y.mean(0)
        self.B = self.X.T @ self.Y if self.primal and Y is not None else None

    def fold(self, tr: np.ndarray, Y: np.ndarray) -> dict:
        """``fit_ridge``'s arguments for the train rows ``tr`` and the fold's targets ``Y`` (all rows)."""
        Xt, Yt = self.X[tr], Y[tr]
        n, d = Xt.shape
        xm, ym = Xt.mean(0), Yt.mean(0)
        args = dict(Xc=Xt - xm, Yc=Yt - ym, x_mean=xm + self.cx, y_mean=ym)
        out = np.ones(len(self.X), dtype=bool)
        out[tr] = False
        if not self.primal or n <= d or out.sum() >= n or np.bincount(tr).max(initial=0) > 1:
            return args  # the dual form, a small train part, or repeated rows: computed from the rows
        Xo = self.X[out]
        args["G"] = self.G - Xo.T @ Xo - n * np.outer(xm, xm)
        if Y is self.Y_raw:
            ys = self.Y[tr].mean(0)
            args["B"] = self.B - Xo.T @ self.Y[out] - n * np.outer(xm, ys)
        return args


def fit_ridge(Xc, Yc, alphas, *, x_mean, y_mean, G=None, B=None, dtype=np.float32) -> _Fit:
    """Ridge on centred train data (``Xc``, ``Yc``), each target's α chosen by LOO error from ``alphas``.
    ``G``/``B`` (``XcᵀXc``, ``XcᵀYc``) may be given when already known (the primal form uses them)."""
    n, d = Xc.shape
    alphas = np.asarray(alphas, dtype=np.float64)
    if len(alphas) == 1:  # a fixed penalty: nothing to choose
        from scipy.linalg import solve

        a = float(alphas[0])
        if n > d:
            G = Xc.T @ Xc if G is None else G
            B = Xc.T @ Yc if B is None else B
            coef = solve(G + a * np.eye(d), B, assume_a="pos", check_finite=False)
        else:
            coef = Xc.T @ solve(Xc @ Xc.T + a * np.eye(n), Yc, assume_a="pos", check_finite=False)
        return _Fit(np.full(Yc.shape[1], a), coef, x_mean, y_mean)
    U, s2, V = _decompose(Xc, G)
    if V is not None:
        VtB = V.T @ (Xc.T @ Yc if B is None else B)  # = s * UᵀY
        UtY = VtB / np.sqrt(s2)[:, None]
    else:
        UtY = U.T @ Yc
    resid0 = Yc - U @ UtY  # what no α can fit (float64, once)
    err = _loo_errors(U, s2, UtY, resid0, alphas, dtype)
    best = _choose(err)
    if dtype != np.float64:
        redo = np.flatnonzero(_near_ties(err))
        if len(redo):
            exact = _loo_errors(U, s2, UtY[:, redo], resid0[:, redo], alphas, np.float64)
            best[redo] = _choose(exact)
    alpha = alphas[best]
    if V is not None:  # coef = V diag(1/(s²+α)) VᵀXᵀy
        coef = V @ (VtB / (s2[:, None] + alpha[None, :]))
    else:  # Xcᵀ U diag(1/(s²+α)) Uᵀy
        coef = Xc.T @ (U @ (UtY / (s2[:, None] + alpha[None, :])))
    return _Fit(alpha, coef, x_mean, y_mean)


def ridge_loo(X: np.ndarray, Y: np.ndarray, alphas: Sequence[float]):
    """Fit on (X, Y): returns (best α per target, a predictor ``f(X_new) -> Y_hat``)."""
    X, Y = np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64)
    xm, ym = X.mean(0), Y.mean(0)
    fit = fit_ridge(X - xm, Y - ym, alphas, x_mean=xm, y_mean=ym)
    return fit.alpha, fit.predict


def _as_columns(y: np.ndarray) -> np.ndarray:
    return y[:, None] if y.ndim == 1 else y


def _fold_map(fn, n_folds: int, *, size: int) -> list:
    """``[fn(k) for k in range(n_folds)]`` with the folds side by side, one per core, each on one BLAS thread (as
    joblib runs scikit-learn's folds): eigendecompositions scale poorly over threads — on a 200 x 200 Gram two
    OpenBLAS threads were 3x slower than one here — while folds scale perfectly. A lone fold keeps every thread
    when it is big; tiny problems (``size`` = rows x features) run as they are. The arithmetic is the same."""
    import os

    from memscore.blas import blas_threads

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    workers = min(n_folds, cores)
    if size < 20_000 or (workers < 2 and size >= 1_000_000):
        return [fn(k) for k in range(n_folds)]
    if workers < 2:
        with blas_threads(1):
            return [fn(k) for k in range(n_folds)]
    from concurrent.futures import ThreadPoolExecutor

    with blas_threads(1), ThreadPoolExecutor(workers, thread_name_prefix="memscore-fold") as pool:
        return list(pool.map(fn, range(n_folds)))


def torch_fold_fits(X, targets, folds, alphas, device) -> list:
    """The same fits on a torch device (a GPU: every fold's decomposition and LOO errors there, in float64 — the
    float32 shortcut and the fold-shared Grams are CPU economies). ``targets(k)`` gives fold k's targets
    (n x t); returns ``[(alpha per target, test predictions)]`` as NumPy arrays."""
    import torch

    f64 = torch.float64
    Xd = torch.as_tensor(np.asarray(X), device=device).to(f64)
    a = torch.as_tensor(np.asarray(alphas, dtype=np.float64), device=device)
    out = []
    for k, f in enumerate(folds):
        Yd = torch.as_tensor(targets(k), device=device).to(f64)
        tr = torch.as_tensor(np.asarray(f.train, dtype=np.int64), device=device)
        te = torch.as_tensor(np.asarray(f.test, dtype=np.int64), device=device)
        Xt, Yt = Xd[tr], Yd[tr]
        xm, ym = Xt.mean(0), Yt.mean(0)
        Xc, Yc = Xt - xm, Yt - ym
        n, d = Xc.shape
        evals, W = torch.linalg.eigh(Xc.T @ Xc if n > d else Xc @ Xc.T)
        keep = evals > evals.max() * max(n, d) * torch.finfo(f64).eps if len(evals) else evals > 0
        s2, W = evals[keep], W[:, keep]
        U = (Xc @ W) / s2.sqrt() if n > d else W
        UtY = U.T @ Yc
        resid0 = Yc - U @ UtY
        h = (U * U) @ (s2[:, None] / (s2[:, None] + a[None, :])) + 1.0 / n  # (n, alphas)
        err = torch.stack([((resid0 + U @ ((a[j] / (s2 + a[j]))[:, None] * UtY)) / (1.0 - h[:, j:j + 1])).pow(2)
                           .mean(0) for j in range(len(a))])
        alpha = a[torch.argmin(err, dim=0)]  # the first of equal minima, as scikit-learn's loop
        coef = Xc.T @ (U @ (UtY / (s2[:, None] + alpha[None, :])))
        pred = (Xd[te] - xm) @ coef + ym
        out.append((alpha.cpu().numpy(), pred.cpu().numpy()))
    return out


class RidgeCVMetric:
    """The ``ridgecv`` regression metric (:mod:`memscore.metrics` contract): per fold, ridge fitted on the train
    rows with each target's α chosen by leave-one-out error from ``alphas``; predictions for the test rows.
    ``chosen`` keeps each fold's α per target."""

    def __init__(self, alphas=DEFAULT_ALPHAS, device=None):
        self.alphas = parse_alphas(alphas)
        self.device = device  # a GPU: torch_fold_fits there; the CPU: the NumPy path (shared Grams, float32 LOO)
        self.chosen: list[np.ndarray] = []

    def __call__(self, X, Y, folds) -> list:
        from memscore.metrics import FoldResult, fold_targets

        from memscore.devices import resolve_device

        device = resolve_device(self.device)
        if device.type != "cpu":
            done = torch_fold_fits(X, lambda k: _as_columns(fold_targets(Y, k)), folds, self.alphas, device)
            self.chosen = [alpha for alpha, _ in done]
            ndim = np.ndim(fold_targets(Y, 0))
            return [FoldResult(prediction=pred[:, 0] if ndim == 1 else pred) for _, pred in done]
        X = np.asarray(X, dtype=np.float64)
        shared = None if isinstance(Y, (list, tuple)) else fold_targets(Y, 0)
        one = shared is not None and shared.ndim == 1
        sums = _Sums(X, shared[:, None] if one else shared)

        def fit_fold(k: int):
            if shared is None:
                y = fold_targets(Y, k)
                y2 = y[:, None] if y.ndim == 1 else y
            else:
                y, y2 = shared, sums.Y_raw
            f = folds[k]
            fit = fit_ridge(alphas=self.alphas, **sums.fold(np.asarray(f.train), y2))
            pred = fit.predict(X[np.asarray(f.test)])
            return fit.alpha, FoldResult(prediction=pred[:, 0] if y.ndim == 1 else pred)

        done = _fold_map(fit_fold, len(folds), size=X.shape[0] * X.shape[1])
        self.chosen = [alpha for alpha, _ in done]
        return [result for _, result in done]

    def __repr__(self) -> str:
        return f"RidgeCVMetric(alphas={self.alphas})"
