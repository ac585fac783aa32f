"""ridgecv equals scikit-learn's RidgeCV(alpha_per_target=True) fitted on each train fold (both forms); rsa
equals rsatoolbox's RDM and comparison; cka equals Kornblith et al.'s feature-space formula; each meets the
metric contract."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import RidgeCV

from memscore import load_metric
from memscore.metrics import Fold
from memscore.testing import check_metric
from memscore_plugins.metrics.similarity.rsa import cka_debiased, rdm, tau_a
from memscore_plugins.metrics.similarity.ridgecv import parse_alphas

ALPHAS = (1e-2, 1e-1, 1.0, 10.0, 100.0, 1e3, 1e4)


def _data(n, d, t, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) + 2.0  # uncentred: the intercept matters
    Y = 0.1 * X @ rng.normal(size=(d, t)) + rng.normal(size=(n, t)) * np.geomspace(0.05, 30, t)
    folds = [Fold(np.setdiff1d(np.arange(n), te), te) for te in np.array_split(rng.permutation(n), 4)]
    return X, Y, folds


@pytest.mark.parametrize("n, d", [(240, 40), (80, 300)], ids=["primal", "dual"])
def test_ridgecv_predictions_equal_sklearn_on_each_train_fold(n, d):
    X, Y, folds = _data(n, d, 9)
    metric = load_metric("ridgecv", alphas=ALPHAS)
    out = metric(X, Y, folds)
    for f, r, chosen in zip(folds, out, metric.chosen):
        ref = RidgeCV(alphas=ALPHAS, alpha_per_target=True).fit(X[f.train], Y[f.train])
        np.testing.assert_array_equal(chosen, ref.alpha_)
        want = ref.predict(X[f.test])
        assert np.abs(r.prediction - want).max() <= 1e-6 * np.abs(want).max()
    assert len(set(np.concatenate(metric.chosen).tolist())) > 2  # the grid is really searched per target
    one = load_metric("ridgecv", alphas="0.1,10")(X, Y[:, 0], folds[:1])[0].prediction  # a single target
    np.testing.assert_allclose(one, RidgeCV(alphas=(0.1, 10)).fit(X[folds[0].train], Y[folds[0].train, 0])
                               .predict(X[folds[0].test]), rtol=1e-9, atol=1e-12)


def test_ridgecv_alphas_are_checked():
    assert parse_alphas("1e-3+1e3") == (1e-3, 1e3)
    for bad in ("0,1", "-1", "abc", ""):
        with pytest.raises(ValueError, match="positive numbers"):
            parse_alphas(bad)


def test_rsa_equals_rsatoolbox():
    pytest.importorskip("rsatoolbox")
    from rsatoolbox.data import Dataset
    from rsatoolbox.rdm import calc_rdm, compare

    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(30, 12)), rng.normal(size=(30, 5))
    Y[:, 0] += X[:, 0]
    mine_x, mine_y = rdm(X), rdm(Y)
    ref_x = calc_rdm(Dataset(X), method="correlation")
    ref_y = calc_rdm(Dataset(Y), method="correlation")
    np.testing.assert_allclose(mine_x, ref_x.get_vectors()[0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(mine_y, ref_y.get_vectors()[0], rtol=0, atol=1e-12)
    for method, theirs in (("spearman", "spearman"), ("tau-a", "tau-a"), ("cosine", "cosine")):
        value = load_metric("rsa", comparison=method)(X, Y, [Fold.all(30)])[0].value
        assert value == pytest.approx(float(compare(ref_x, ref_y, method=theirs)[0, 0]), abs=1e-6), method
    assert tau_a(np.array([1.0, 2, 3]), np.array([1.0, 2, 3])) == 1.0


def test_cka_equals_the_feature_space_formula():
    rng = np.random.default_rng(2)
    X, Y = rng.normal(size=(40, 15)), rng.normal(size=(40, 8))
    Y[:, :3] += X[:, :3]

    def kornblith(x, y):  # feature_space_linear_cka(debiased=True), written from the paper's formula
        x, y = x - x.mean(0), y - y.mean(0)
        n = len(x)

        def debiased(xty, sum_x, sum_y, sq_x, sq_y):
            return xty - n / (n - 2.0) * sum_x @ sum_y + sq_x * sq_y / ((n - 1) * (n - 2))

        sq_x, sq_y = np.sum(x ** 2, 1), np.sum(y ** 2, 1)
        xy = debiased(np.linalg.norm(x.T @ y) ** 2, sq_x, sq_y, sq_x.sum(), sq_y.sum())
        xx = debiased(np.linalg.norm(x.T @ x) ** 2, sq_x, sq_x, sq_x.sum(), sq_x.sum())
        yy = debiased(np.linalg.norm(y.T @ y) ** 2, sq_y, sq_y, sq_y.sum(), sq_y.sum())
        return xy / np.sqrt(xx * yy)

    assert cka_debiased(X, Y) == pytest.approx(kornblith(X, Y), abs=1e-8)
    assert cka_debiased(X, X) == pytest.approx(1.0, abs=1e-12)
    assert load_metric("cka")(X, Y, [Fold.all(40)])[0].value == pytest.approx(kornblith(X, Y), abs=1e-8)


def test_procrustes_equals_scipys_orthogonal_procrustes():
    from scipy.linalg import orthogonal_procrustes

    from memscore_plugins.metrics.similarity.rsa import procrustes_similarity

    rng = np.random.default_rng(3)
    X = rng.normal(size=(50, 6))
    Q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    assert procrustes_similarity(X, 3.0 * X @ Q + 1.0) == pytest.approx(1.0, abs=1e-7)  # rotation, scale, shift
    Y = rng.normal(size=(50, 6))
    a, b = X - X.mean(0), Y - Y.mean(0)
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    R, scale = orthogonal_procrustes(a, b)  # scale is the nuclear norm of aᵀb: the best rotation's alignment
    assert np.linalg.norm(a @ R - b) ** 2 == pytest.approx(2 - 2 * scale, abs=1e-10)
    want = 1 - np.arccos(scale) / (np.pi / 2)
    assert procrustes_similarity(X, Y) == pytest.approx(want, abs=1e-8)
    assert procrustes_similarity(X, Y[:, :2]) == pytest.approx(  # a narrower side: as if zero-padded
        procrustes_similarity(X, np.hstack([Y[:, :2], np.zeros((50, 4))])), abs=1e-12)


def test_similarity_metrics_meet_the_contract():
    X, Y, folds = _data(90, 12, 3)
    assert "recovers_planted_signal" in check_metric("ridgecv", alphas=ALPHAS)
    for name in ("rsa", "cka", "procrustes"):
        assert "deterministic" in check_metric(name, data=(X, Y, folds))


@pytest.mark.parametrize("plan", ["few-left-out", "most-left-out", "repeated-rows", "targets-per-fold"])
def test_ridgecv_fold_shortcuts_equal_sklearn(plan):
    """The folds share XᵀX and XᵀY (a train fold = all rows minus the ones it leaves out) where that is exact;
    where it is not (most rows left out, bootstrap rows repeated, targets that differ per fold) the rows are
    used directly. Every path = scikit-learn, including a constant target (all α tie: the first wins)."""
    rng = np.random.default_rng(4)
    X, Y, _ = _data(200, 30, 5, seed=4)
    Y[:, 2] = 3.0
    if plan == "few-left-out":
        folds = [Fold(np.setdiff1d(np.arange(200), te), te) for te in np.array_split(rng.permutation(200), 10)]
    elif plan == "most-left-out":
        folds = [Fold(tr, np.setdiff1d(np.arange(200), tr)) for tr in np.array_split(rng.permutation(200), 3)]
    else:
        folds = [Fold(rng.integers(0, 200, 180), np.arange(20)), Fold(np.arange(40, 200), np.arange(40))]
    targets = [Y * (k + 1.0) for k in range(len(folds))] if plan == "targets-per-fold" else Y
    metric = load_metric("ridgecv", alphas=ALPHAS)
    out = metric(X, targets, folds)
    for k, (f, r) in enumerate(zip(folds, out)):
        y = targets[k] if plan == "targets-per-fold" else Y
        ref = RidgeCV(alphas=ALPHAS, alpha_per_target=True).fit(X[f.train], y[f.train])
        np.testing.assert_array_equal(metric.chosen[k], ref.alpha_)
        want = ref.predict(X[f.test])
        assert np.abs(r.prediction - want).max() <= 1e-6 * np.abs(want).max()
    assert metric.chosen[0][2] == ALPHAS[0]


def test_ridgecv_float32_selection_is_redecided_in_float64_near_ties(monkeypatch):
    """The α choice is made on float32 residuals; targets whose two best errors are closer than float32 can
    order are re-decided in float64 — forcing every target through that path changes nothing here, and the
    float32 errors are float64's to 1e-5."""
    from memscore_plugins.metrics.similarity import ridgecv

    X, Y, folds = _data(150, 20, 6, seed=5)
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    U, s2, _ = ridgecv._decompose(Xc)
    UtY = U.T @ Yc
    resid0 = Yc - U @ UtY
    alphas = np.asarray(ALPHAS)
    e32 = ridgecv._loo_errors(U, s2, UtY, resid0, alphas, np.float32)
    e64 = ridgecv._loo_errors(U, s2, UtY, resid0, alphas, np.float64)
    np.testing.assert_allclose(e32, e64, rtol=1e-5)
    base = load_metric("ridgecv", alphas=ALPHAS)(X, Y, folds)
    monkeypatch.setattr(ridgecv, "_NEAR_TIE", np.inf)
    forced = load_metric("ridgecv", alphas=ALPHAS)(X, Y, folds)
    for a, b in zip(base, forced):
        np.testing.assert_array_equal(a.prediction, b.prediction)


def test_ridgecv_one_alpha_is_sklearns_ridge():
    from sklearn.linear_model import Ridge

    for n, d in ((120, 10), (30, 80)):
        X, Y, folds = _data(n, d, 4, seed=6)
        out = load_metric("ridgecv", alphas="3.5")(X, Y, folds)
        for f, r in zip(folds, out):
            want = Ridge(alpha=3.5).fit(X[f.train], Y[f.train]).predict(X[f.test])
            np.testing.assert_allclose(r.prediction, want, rtol=1e-9, atol=1e-9 * np.abs(want).max())


def test_rdm_comparisons_equal_scipy_with_ties_and_nan():
    from scipy import stats as sps

    from memscore_plugins.metrics.similarity.rsa import spearman

    rng = np.random.default_rng(7)
    a, b = rng.normal(size=30000), rng.normal(size=30000)
    b += a
    assert spearman(a, b) == pytest.approx(sps.spearmanr(a, b)[0], abs=1e-12)
    ta, tb = np.round(a[:400], 1), np.round(b[:400])  # ties on both sides
    assert spearman(ta, tb) == pytest.approx(sps.spearmanr(ta, tb)[0], abs=1e-12)
    assert np.isnan(spearman(np.r_[a[:5], np.nan], b[:6]))

    def brute(x, y):  # (concordant - discordant) / all pairs
        i, j = np.triu_indices(len(x), 1)
        return np.sum(np.sign(x[i] - x[j]) * np.sign(y[i] - y[j])) / len(i)

    for x, y in ((a[:300], b[:300]), (ta[:300], tb[:300]), (np.ones(20), b[:20])):
        assert tau_a(x, y) == pytest.approx(brute(x, y), abs=1e-12)


@pytest.mark.parametrize("n, p, q", [(200, 5, 3), (20, 60, 40)], ids=["feature-space", "grams"])
def test_cka_both_forms_equal_the_gram_formula(n, p, q):
    """Song et al.'s unbiased HSIC on the n x n Grams, written out; cka_debiased picks the cheaper form."""
    rng = np.random.default_rng(8)
    X, Y = rng.normal(size=(n, p)), rng.normal(size=(n, q))
    Y[:, 0] += X[:, 0]
    x, y = X - X.mean(0), Y - Y.mean(0)

    def hsic(K, L):
        K, L = K.copy(), L.copy()
        np.fill_diagonal(K, 0.0)
        np.fill_diagonal(L, 0.0)
        return np.sum(K * L) + K.sum() * L.sum() / ((n - 1) * (n - 2)) - 2 * K.sum(0) @ L.sum(0) / (n - 2)

    K, L = x @ x.T, y @ y.T
    assert cka_debiased(X, Y) == pytest.approx(hsic(K, L) / np.sqrt(hsic(K, K) * hsic(L, L)), abs=1e-10)


def test_ridgecv_on_features_without_variance_predicts_the_train_mean():
    """No direction left after centring (constant features): the intercept alone, as scikit-learn."""
    rng = np.random.default_rng(9)
    Y = rng.normal(size=(40, 3))
    fold = Fold(np.arange(10, 40), np.arange(10))
    for X in (np.full((40, 5), 2.5), np.zeros((40, 60))):  # primal and dual shapes
        got = load_metric("ridgecv", alphas=ALPHAS)(X, Y, [fold])[0].prediction
        np.testing.assert_allclose(got, np.tile(Y[10:].mean(0), (10, 1)), rtol=0, atol=1e-12)


@pytest.mark.parametrize("n, d", [(240, 40), (80, 300)], ids=["primal", "dual"])
def test_ridgecv_torch_path_equals_the_numpy_path(n, d):
    """What a GPU runs (torch_fold_fits, float64 on the device), run here on torch's CPU: the same α per target
    and the same predictions as the NumPy path (= scikit-learn, tested above), targets shared or per fold."""
    import torch

    from memscore_plugins.metrics.similarity.ridgecv import torch_fold_fits

    X, Y, folds = _data(n, d, 7, seed=10)
    metric = load_metric("ridgecv", alphas=ALPHAS)
    want = metric(X, Y, folds)
    got = torch_fold_fits(X, lambda k: Y, folds, ALPHAS, torch.device("cpu"))
    for (alpha, pred), ref, chosen in zip(got, want, metric.chosen):
        np.testing.assert_array_equal(alpha, chosen)
        np.testing.assert_allclose(pred, ref.prediction, rtol=0, atol=1e-9 * np.abs(ref.prediction).max())


def test_cka_rejects_a_fold_too_small_for_its_estimator():
    rng = np.random.default_rng(11)
    with pytest.raises(ValueError, match="at least 4 stimuli per fold; this fold has 3"):
        load_metric("cka")(rng.normal(size=(10, 4)), rng.normal(size=(10, 2)), [Fold(np.arange(7), np.arange(7, 10))])
