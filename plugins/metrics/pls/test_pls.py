"""memscore's PLS against sklearn's PLSRegression(scale=False), the reference it must reproduce."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sklearn.cross_decomposition import PLSRegression as SkPLS

from memscore_plugins.metrics.pls.pls import FitFold
from memscore_plugins.metrics.pls.pls import PLSMetric
from memscore_plugins.metrics.pls.pls import PLSRegression
from memscore_plugins.metrics.pls.pls import fit_predict

RTOL = 1e-6
FORMS = ["auto", "gram", "kernel", "direct"]


def rel_diff(got, ref) -> float:
    return float(np.abs(np.asarray(got) - ref).max() / np.abs(ref).max())


def sk_predict(X, y, X_test, k):
    return SkPLS(k, scale=False).fit(X, y).predict(X_test)


def data(n, p, m, seed=0, offset=1.0):
    """Correlated features with an offset (exercises centring) and targets driven by a few of them."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n + 30, p)) @ rng.standard_normal((p, p)) / np.sqrt(p) + offset
    Y = X[:, :4] @ rng.standard_normal((4, m)) + 0.5 * rng.standard_normal((n + 30, m))
    y = Y[:, 0] if m == 1 else Y
    return X[:n], y[:n], X[n:]


@pytest.mark.parametrize("k", [1, 5, 25])
@pytest.mark.parametrize("m", [1, 20])
@pytest.mark.parametrize("n,p", [(300, 40), (40, 120)], ids=["n>p", "n<p"])
@pytest.mark.parametrize("method", FORMS)
def test_matches_sklearn(n, p, m, k, method):
    X, y, X_test = data(n, p, m, seed=n + m + k)
    model = PLSRegression(k, method=method).fit(X, y)
    sk = SkPLS(k, scale=False).fit(X, y)
    got, ref = model.predict(X_test), sk.predict(X_test)
    assert got.shape == ref.shape
    assert rel_diff(got, ref) < RTOL
    assert model.n_iter_ == sk.n_iter_  # the same power-method steps, component by component


def test_attributes_give_the_predictions():
    X, y, X_test = data(200, 30, 3)
    model = PLSRegression(5).fit(X, y)
    assert model.coef_.shape == (3, 30) and model.intercept_.shape == (3,)
    assert model.x_mean_.shape == (30,) and model.y_mean_.shape == (3,)
    np.testing.assert_allclose(model.predict(X_test), X_test @ model.coef_.T + model.intercept_, rtol=1e-12)
    sk = SkPLS(5, scale=False).fit(X, y)
    assert rel_diff(model.coef_, sk.coef_) < RTOL


def make_folds(X, rng, n_folds=4, n_train=150, m=1):
    N = len(X)
    folds = []
    for i in range(n_folds):
        perm = rng.permutation(N)
        train, test = np.sort(perm[:n_train]), perm[n_train:]
        shape = (n_train,) if m == 1 else (n_train, m)
        y = X[train, i % X.shape[1]] + rng.standard_normal(shape) if m == 1 else rng.standard_normal(shape)
        folds.append(FitFold(train, y, test))
    return folds


@pytest.mark.parametrize("atoms", [True, False], ids=["atom-grams", "fold-grams"])
@pytest.mark.parametrize("method", FORMS)
@pytest.mark.parametrize("N,p", [(200, 25), (60, 150)], ids=["n>p", "n<p"])
def test_fit_predict_matches_sklearn_per_fold(method, N, p, atoms, monkeypatch):
    import memscore_plugins.metrics.pls.pls as pls

    monkeypatch.setattr(pls, "_MIN_ATOM_ROWS", 0 if atoms else 10**9)  # both ways of sharing Grams
    monkeypatch.setattr(pls, "_MAX_ATOMS", 10**9)
    rng = np.random.default_rng(7)
    X = rng.standard_normal((N, p)) + 2.0
    n_train = int(0.8 * N)
    folds = make_folds(X, rng, n_train=n_train)
    folds += make_folds(X, rng, n_folds=2, n_train=n_train, m=6)
    folds += make_folds(X, rng, n_folds=1, n_train=n_train, m=40)  # many targets: predicted fold by fold
    same_rows = folds[0].train
    folds.append(FitFold(same_rows, rng.standard_normal(len(same_rows)), folds[0].test))  # same rows, other targets
    folds.append(FitFold(np.arange(N), rng.standard_normal(N), np.arange(10)))  # trains on every row
    folds.append(FitFold(rng.permutation(N)[:20], rng.standard_normal(20), np.arange(N)))  # small train set
    preds = fit_predict(X, folds, n_components=8, method=method)
    assert len(preds) == len(folds)
    for got, f in zip(preds, folds):
        ref = sk_predict(X[f.train], f.y_train, X[f.test], 8)
        assert got.shape == ref.shape
        assert rel_diff(got, ref) < RTOL


@pytest.mark.parametrize("method", FORMS)
def test_fit_predict_folds_of_one_target_table(method, monkeypatch):
    """Folds whose targets are rows of one table (the neural benchmarks' splits) share XᵀY and YᵀY
    across folds; each fold still equals sklearn fitted on it, constant columns included."""
    import memscore_plugins.metrics.pls.pls as pls

    shared = []
    real = pls._shared_cross_products
    monkeypatch.setattr(pls, "_shared_cross_products", lambda *a: shared.append(1) or real(*a))
    rng = np.random.default_rng(11)
    N, p, m = 160, 30, 12
    X = rng.standard_normal((N, p)) @ rng.standard_normal((p, p)) / np.sqrt(p) + 3.0
    Y = X[:, :3] @ rng.standard_normal((3, m)) + rng.standard_normal((N, m)) + 5.0
    Y[:140, 0] = 1.0  # constant on the training rows of the last fold only (sklearn starts at column 2 there)
    Y[:, 1] = 2.5  # a constant site
    folds = []
    for _ in range(9):  # shuffle splits of rows 0-149 (test sets overlap); rows 150-159 are only tested
        perm = rng.permutation(150)
        train = np.sort(perm[:135])
        folds.append(FitFold(train, Y[train], np.r_[perm[135:], 150:160]))
    folds.append(FitFold(np.arange(150), Y[:150], np.arange(150, 160)))  # every row any fold trains on
    folds.append(FitFold(np.arange(140), Y[:140], np.arange(140, 160)))
    preds = fit_predict(X, folds, n_components=8, method=method)
    assert bool(shared) == (method != "kernel")
    for got, f in zip(preds, folds):
        ref = sk_predict(X[f.train], f.y_train, X[f.test], 8)
        assert got.shape == ref.shape
        assert rel_diff(got, ref) < RTOL


def test_planted_signal_is_recovered():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((1200, 60))
    beta = rng.standard_normal(60)
    y = X @ beta + 0.05 * rng.standard_normal(1200)
    from memscore.metrics import Fold as PlanFold

    [res] = PLSMetric(n_components=25)(X, y, [PlanFold(np.arange(1000), np.arange(1000, 1200))])
    assert np.corrcoef(res.prediction, y[1000:])[0, 1] > 0.99


def test_float32_and_torch_inputs():
    X, y, X_test = data(150, 20, 1)
    X32, Xt32 = X.astype(np.float32), X_test.astype(np.float32)
    ref = sk_predict(X32, y, Xt32, 5)  # sklearn casts float32 to float64, as memscore does
    assert rel_diff(PLSRegression(5).fit(X32, y).predict(Xt32), ref) < RTOL
    got = PLSRegression(5).fit(torch.from_numpy(X32), torch.from_numpy(y)).predict(torch.from_numpy(Xt32))
    assert rel_diff(got, ref) < RTOL
    folds = [FitFold(np.arange(150), y, np.arange(150))]
    [got] = fit_predict(torch.from_numpy(np.vstack([X32])), folds, n_components=5)
    assert rel_diff(got, sk_predict(X32, y, X32, 5)) < RTOL


@pytest.mark.parametrize("method", FORMS)
def test_constant_columns_match_sklearn(method):
    X, _, X_test = data(120, 15, 1)
    X[:, 3] = 7.5  # a dead unit
    X_test[:, 3] = 7.5
    Y = np.c_[X[:, 0] + 0.1 * X[:, 5], np.full(120, 2.0), X[:, 1]]  # and a constant target
    got = PLSRegression(6, method=method).fit(X, Y).predict(X_test)
    assert np.isfinite(got).all()
    assert rel_diff(got, sk_predict(X, Y, X_test, 6)) < RTOL
    with pytest.warns(RuntimeWarning, match="y residual is constant"):
        const = PLSRegression(3, method=method).fit(X, np.full(120, 4.0)).predict(X_test)
    np.testing.assert_allclose(const, 4.0)


@pytest.mark.parametrize("method", FORMS)
def test_components_beyond_rank_are_dropped(method):
    rng = np.random.default_rng(5)
    basis = rng.standard_normal((6, 40))
    A = rng.standard_normal((100, 6))
    X = A @ basis + 1.5  # rank 6 after centring
    y = A @ rng.standard_normal(6) + 0.1 * rng.standard_normal(100)
    X_test = rng.standard_normal((20, 6)) @ basis + 1.5
    with pytest.warns(RuntimeWarning, match="rank 6") as caught:
        got = PLSRegression(15, method=method).fit(X, y).predict(X_test)
    assert caught[0].filename == __file__  # the warning points at the caller's line, not into pls.py
    with pytest.warns(RuntimeWarning, match="rank 6") as caught:
        fit_predict(X, [FitFold(np.arange(100), y, np.arange(5))], n_components=15, method=method)
    assert caught[0].filename == __file__
    assert np.isfinite(got).all()
    # sklearn is defined up to the rank (beyond it, it divides by rounding noise)
    assert rel_diff(got, sk_predict(X, y, X_test, 6)) < RTOL
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # up to the rank nothing is dropped
        assert rel_diff(PLSRegression(6, method=method).fit(X, y).predict(X_test), sk_predict(X, y, X_test, 6)) < RTOL


def test_bad_input_raises_clear_errors():
    X, y, X_test = data(50, 8, 1)
    with pytest.raises(ValueError, match="49 rows but there are 50"):
        PLSRegression(3).fit(X, y[:-1])
    bad = X.copy()
    bad[4, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        PLSRegression(3).fit(bad, y)
    with pytest.raises(ValueError, match="NaN"):
        PLSRegression(3).fit(X, np.where(np.arange(50) == 3, np.nan, y))
    with pytest.raises(ValueError, match="NaN"):
        PLSRegression(3).fit(X, y).predict(bad)
    with pytest.raises(ValueError, match="features"):
        PLSRegression(3).fit(X, y).predict(X[:, :5])
    with pytest.raises(ValueError, match="2-D"):
        PLSRegression(3).fit(X[:, 0], y)
    with pytest.raises(ValueError, match="not fitted"):
        PLSRegression(3).predict(X)
    for method in FORMS:  # a NaN in a row that only a test set uses
        folds = [FitFold(np.arange(40), y[:40], np.arange(40, 50))]
        with pytest.raises(ValueError, match="NaN"):
            fit_predict(bad[::-1].copy(), folds, n_components=3, method=method)
    with pytest.raises(ValueError, match="out of range"):
        fit_predict(X, [FitFold(np.arange(40) + 20, y[:40], np.arange(5))])
    with pytest.raises(ValueError, match="repeat"):
        fit_predict(X, [FitFold(np.r_[0, np.arange(39)], y[:40], np.arange(5))])
    with pytest.raises(ValueError, match="method"):
        fit_predict(X, [FitFold(np.arange(40), y[:40], np.arange(5))], method="svd")


def test_registered_metric():
    import memscore

    from memscore.metrics import Fold as PlanFold

    metric = memscore.load_metric("pls", n_components=5)
    assert isinstance(metric, PLSMetric)
    X, y, X_test = data(100, 30, 1)
    XX = np.vstack([X, X_test])
    yy = np.concatenate([y, np.zeros(len(X_test))])
    plan = [PlanFold(np.arange(len(X)), np.arange(len(X), len(XX))), PlanFold(np.arange(50), np.arange(50, 100))]
    res = metric(XX, yy, plan)
    assert rel_diff(res[0].prediction, sk_predict(X, y, X_test, 5)) < RTOL  # sklearn is the reference
    assert rel_diff(res[1].prediction, sk_predict(X[:50], y[:50], X[50:], 5)) < RTOL
    assert all(np.isnan(r.value) for r in res)  # a regression predicts; a correlation scores


def test_auto_picks_a_form_that_fits(monkeypatch):
    import memscore_plugins.metrics.pls.pls as pls

    X, y, X_test = data(120, 30, 1)
    assert PLSRegression(5).fit(X, y).method_ == "gram"
    X_wide, y_wide, _ = data(30, 300, 1)
    assert PLSRegression(5).fit(X_wide, y_wide).method_ == "kernel"
    monkeypatch.setattr(pls, "MAX_CROSS_BYTES", 1000)  # neither p² nor n² fits: passes over X
    model = PLSRegression(5).fit(X, y)
    assert model.method_ == "direct"
    assert rel_diff(model.predict(X_test), sk_predict(X, y, X_test, 5)) < RTOL


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_sklearn():
    X, y, X_test = data(300, 40, 20)
    ref = sk_predict(X, y, X_test, 10)
    for method in FORMS:
        got = PLSRegression(10, device="cuda", method=method).fit(X, y).predict(X_test)
        assert rel_diff(got, ref) < RTOL
    folds = [FitFold(np.arange(250), y[:250], np.arange(250, 300))]
    [got] = fit_predict(torch.from_numpy(X).cuda(), folds, n_components=10)
    assert rel_diff(got, sk_predict(X[:250], y[:250], X[250:], 10)) < RTOL
