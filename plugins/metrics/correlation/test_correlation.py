"""Correlation metrics against scipy.stats, the reference."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats

from memscore_plugins.metrics.correlation.correlation import pearson
from memscore_plugins.metrics.correlation.correlation import spearman
from memscore_plugins.metrics.correlation.correlation import spearman_columns


def quantised(rng, n):
    """Scores with many ties, like memorability (hits out of 40 viewers)."""
    return rng.integers(0, 41, n) / 40


@pytest.mark.parametrize("seed", range(5))
def test_spearman_matches_scipy_with_ties(seed):
    rng = np.random.default_rng(seed)
    a = quantised(rng, 500)
    b = a + rng.normal(0, 0.3, 500)
    b[::3] = np.round(b[::3], 1)  # ties on both sides
    assert spearman(a, b) == pytest.approx(stats.spearmanr(a, b).statistic, abs=1e-12)
    c = quantised(rng, 500)
    assert spearman(a, c) == pytest.approx(stats.spearmanr(a, c).statistic, abs=1e-12)


def test_spearman_columns_match_scipy():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 41, (300, 6)) / 40
    b = a + rng.normal(0, 0.4, (300, 6))
    expected = [stats.spearmanr(a[:, j], b[:, j]).statistic for j in range(6)]
    np.testing.assert_allclose(spearman_columns(a, b), expected, atol=1e-12)


def test_pearson_matches_scipy():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((200, 30)) * 5 + 3
    b = a * rng.uniform(-1, 1, 30) + rng.standard_normal((200, 30))
    expected = [stats.pearsonr(a[:, j], b[:, j]).statistic for j in range(30)]
    r = pearson(a, b)
    assert r.shape == (30,)
    np.testing.assert_allclose(r, expected, atol=1e-12)
    assert isinstance(pearson(a[:, 0], b[:, 0]), float)
    assert pearson(a[:, 0], b[:, 0]) == pytest.approx(expected[0], abs=1e-12)


def test_constant_column_gives_nan_without_warning():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((50, 3))
    b = rng.standard_normal((50, 3))
    a[:, 1] = 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = pearson(a, b)
        assert np.isnan(spearman(a[:, 1], b[:, 1]))
    assert np.isnan(r[1]) and np.isfinite(r[[0, 2]]).all()
    assert r[0] == pytest.approx(stats.pearsonr(a[:, 0], b[:, 0]).statistic, abs=1e-12)


def test_bad_input_raises():
    a = np.arange(10.0)
    with pytest.raises(ValueError, match="NaN"):
        spearman(np.r_[a[:-1], np.nan], a)
    with pytest.raises(ValueError, match="NaN"):
        pearson(a, np.r_[np.nan, a[1:]])
    with pytest.raises(ValueError, match="same shape"):
        spearman(a, a[:-1])
    with pytest.raises(ValueError, match="1-D"):
        spearman(a.reshape(5, 2), a.reshape(5, 2))


def test_correlation_metrics_load_through_the_registry():
    import memscore

    from memscore.metrics import Fold

    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 5, 40).astype(float), rng.standard_normal(40)  # ties in a
    plan = [Fold.all(40), Fold(np.arange(20), np.arange(20, 40))]
    res = memscore.load_metric("spearman")(a, b, plan)
    assert res[0].value == pytest.approx(stats.spearmanr(a, b).statistic)
    assert res[1].value == pytest.approx(stats.spearmanr(a[20:], b[20:]).statistic)
    A, B = rng.standard_normal((30, 4)), rng.standard_normal((30, 4))
    [cols] = memscore.load_metric("pearson")(A, B, [Fold.all(30)])
    ref = [stats.pearsonr(A[:, j], B[:, j]).statistic for j in range(4)]
    np.testing.assert_allclose(cols.per_target, ref, rtol=1e-12)
    assert cols.value == pytest.approx(np.median(ref))
