"""``ridgecv``: ridge regression with each target's penalty chosen by exact leave-one-out error, as
scikit-learn's ``RidgeCV(alphas, alpha_per_target=True)`` (``cv=None``, ``fit_intercept=True``) chooses it.

Per fold, the train features are centred (the intercept is fitted, unpenalised) and decomposed once through
the eigendecomposition of their smaller Gram (``XᵀX`` when there are more stimuli than features — the primal
form — else ``XXᵀ``, the dual/kernel form). With ``Xc = U S Vᵀ`` the hat matrix of penalty α is
``H = U diag(s²/(s²+α)) Uᵀ + 11ᵀ/n``; each target's leave-one-out residuals are ``(y − Hy)_i / (1 − H_ii)``,
and the α with the smallest mean squared LOO residual wins (the first on ties, as scikit-learn's loop keeps
the first best). The fit with that α predicts the test stimuli. Every α costs one small matrix product: the
decomposition is shared by the whole grid and all targets.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

DEFAULT_ALPHAS = (1e-2, 1e-1, 1.0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6)


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


def _decompose(Xc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(U, s²) of the centred train features, from the smaller Gram (primal or dual form by shape)."""
    n, d = Xc.shape
    if n > d:  # primal: XᵀX (d x d), U = X V / s
        evals, V = np.linalg.eigh(Xc.T @ Xc)
        keep = evals > evals.max(initial=0.0) * max(n, d) * np.finfo(np.float64).eps
        s2, V = evals[keep], V[:, keep]
        U = (Xc @ V) / np.sqrt(s2)
    else:  # dual: XXᵀ (n x n), its eigenvectors are U
        evals, U = np.linalg.eigh(Xc @ Xc.T)
        keep = evals > evals.max(initial=0.0) * max(n, d) * np.finfo(np.float64).eps
        s2, U = evals[keep], U[:, keep]
    return U, s2


def ridge_loo(X: np.ndarray, Y: np.ndarray, alphas: Sequence[float]):
    """Fit on (X, Y): returns (best α per target, a predictor ``f(X_new) -> Y_hat``)."""
    X, Y = np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64)
    n = len(X)
    x_mean, y_mean = X.mean(0), Y.mean(0)
    Xc, Yc = X - x_mean, Y - y_mean
    U, s2 = _decompose(Xc)
    UtY = U.T @ Yc
    U2 = U * U
    alphas = np.asarray(alphas, dtype=np.float64)
    shrink = s2[None, :] / (s2[None, :] + alphas[:, None])  # (alphas, r)
    h = (U2 @ shrink.T) + 1.0 / n  # (n, alphas): each α's hat diagonal, the intercept's 1/n included
    # every α's fitted values in one product: U @ [w_1 ⊙ UᵀY | w_2 ⊙ UᵀY | ...]
    fitted = U @ (shrink[:, :, None] * UtY[None]).transpose(1, 0, 2).reshape(len(s2), -1)
    t = Y.shape[1]
    best_err = np.full(t, np.inf)
    best = np.zeros(t, dtype=np.int64)
    for a in range(len(alphas)):  # in grid order: a later α replaces an earlier one only when strictly better
        resid = Yc - fitted[:, a * t:(a + 1) * t]
        err = np.mean((resid / (1.0 - h[:, a])[:, None]) ** 2, axis=0)
        better = err < best_err
        best[better], best_err[better] = a, err[better]
    alpha = alphas[best]
    # coefficients with each target's own α: V diag(s/(s²+α)) Uᵀy, written through Xc: Xcᵀ U diag(1/(s²+α)) Uᵀ y
    dual = U @ (UtY / (s2[:, None] + alpha[None, :]))  # n x targets
    coef = Xc.T @ dual  # d x targets

    def predict(X_new: np.ndarray) -> np.ndarray:
        return (np.asarray(X_new, dtype=np.float64) - x_mean) @ coef + y_mean

    return alpha, predict


class RidgeCVMetric:
    """The ``ridgecv`` regression metric (:mod:`memscore.metrics` contract): per fold, ridge fitted on the train
    rows with each target's α chosen by leave-one-out error from ``alphas``; predictions for the test rows.
    ``chosen`` keeps each fold's α per target."""

    def __init__(self, alphas=DEFAULT_ALPHAS, device=None):
        self.alphas = parse_alphas(alphas)
        self.device = device  # the decomposition is small (the smaller Gram): NumPy float64 on every device
        self.chosen: list[np.ndarray] = []

    def __call__(self, X, Y, folds) -> list:
        from memscore.metrics import FoldResult, fold_targets

        X = np.asarray(X)
        out, self.chosen = [], []
        for k, f in enumerate(folds):
            y = fold_targets(Y, k)
            one = y.ndim == 1
            y2 = y[:, None] if one else y
            tr, te = np.asarray(f.train), np.asarray(f.test)
            alpha, predict = ridge_loo(X[tr], y2[tr], self.alphas)
            pred = predict(X[te])
            self.chosen.append(alpha)
            out.append(FoldResult(prediction=pred[:, 0] if one else pred))
        return out

    def __repr__(self) -> str:
        return f"RidgeCVMetric(alphas={self.alphas})"
