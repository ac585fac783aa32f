"""One metric contract: benchmarks load metrics by name, so a third party's regression swaps in for PLS."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import memscore
from memscore import hookimpl
from memscore.metrics import Fold


class RidgeMetric:
    """A third party's regression metric: sklearn Ridge per fold."""

    def __init__(self, alpha: float = 1.0):
        self.alpha = alpha

    def __call__(self, X, Y, folds):
        from sklearn.linear_model import Ridge

        from memscore.metrics import FoldResult, fold_targets

        out = []
        for k, f in enumerate(folds):
            y = fold_targets(Y, k)
            model = Ridge(alpha=self.alpha).fit(np.asarray(X)[f.train], y[f.train])
            out.append(FoldResult(prediction=model.predict(np.asarray(X)[f.test])))
        return out


class _RidgePlugin:
    @hookimpl
    def register_metrics(self, register):
        register("ridge", RidgeMetric, description="ridge regression (test plugin)", tags=["regression"])


@pytest.fixture
def ridge():
    from memscore.pluginmanager import get_plugins

    plugins = get_plugins(reload=True)
    plugins.add("ridge-test", _RidgePlugin())
    yield
    get_plugins(reload=True)


def test_lamem_pls_with_a_third_party_ridge_equals_sklearn(ridge, tmp_path):
    from lamem_fixture import build_lamem

    root = build_lamem(tmp_path / "lamem", 120, image_size=32)
    kw = dict(weights="none", data_root=root, progress=False, device="cpu")
    args = {"splits": "1,2", "image_size": 32, "layers": "layer3.0.relu+avgpool", "pca": 30}
    s = memscore.score("torchvision:resnet18", "lamem-pls", benchmark_args={**args, "regression": "ridge"}, **kw)
    pls = memscore.score("torchvision:resnet18", "lamem-pls", benchmark_args=args, **kw)
    assert not pls.meta.get("from_store")  # another metric is another key
    assert [r["layer"] for r in s.layers] == ["layer3.0.relu", "avgpool"]
    assert s.layers[0]["splits"] != pls.layers[0]["splits"]

    # the reference: the same cached features, sklearn Ridge, scipy's Spearman
    from sklearn.linear_model import Ridge

    from memscore_plugins.benchmarks.lamem.data import LaMem

    bench = memscore.load_benchmark("lamem-pls", **{**args, "regression": "ridge"})
    from memscore.benchmark import RunOptions

    _, parts, stimuli, _ = bench.load_splits(RunOptions(data_root=root))
    model = memscore.load_model("torchvision:resnet18", weights="none")
    from memscore.activations import Extractor

    ex = Extractor(model, n_components=30, reference=bench.reference_set(stimuli), image_size=32, progress=False,
                   device="cpu")
    acts = ex.extract(stimuli, ["avgpool"])
    assert ex.passes == 0  # the benchmark's cached features
    row = {sid: i for i, sid in enumerate(stimuli.ids)}
    X = np.asarray(acts["avgpool"], dtype=np.float64)
    for j, k in enumerate((1, 2)):
        tr, te = parts[k]
        fit = Ridge(alpha=1.0).fit(X[[row[n] for n in tr.names]], tr.scores)
        rho = stats.spearmanr(fit.predict(X[[row[n] for n in te.names]]), te.scores).statistic
        assert s.layers[1]["splits"][j] == pytest.approx(rho, abs=1e-9)
    assert LaMem  # noqa: B018


def test_unknown_metric_name_is_one_line(tmp_path):
    from lamem_fixture import build_lamem

    root = build_lamem(tmp_path / "lamem", 60, image_size=32)
    with pytest.raises(memscore.errors.UnknownNameError, match="unknown metric 'ridgee'"):
        memscore.score("torchvision:resnet18", "lamem-pls", weights="none", data_root=root, progress=False,
                       benchmark_args={"splits": "1", "image_size": 32, "layers": "avgpool", "regression": "ridgee"})


def test_split_half_ceiling_metric_equals_the_function():
    from memscore_plugins.metrics.neural import predictivity as npred

    rng = np.random.default_rng(0)
    n_stim, reps, sites = 30, 6, 5
    truth = rng.standard_normal((n_stim, sites))
    stim = np.repeat(np.arange(n_stim), reps)
    rep = np.tile(np.arange(reps), n_stim)
    trials = truth[stim] + 0.8 * rng.standard_normal((len(stim), sites))
    plan = npred.ceiling_folds(rep, n_splits=10)
    res = memscore.load_metric("split-half")(trials, np.column_stack([stim, rep]), plan)
    ref = npred.ceiling(trials, stim, rep, n_splits=10)
    np.testing.assert_allclose([r.value for r in res], ref.split_values)
    # by hand for the first fold: half means, Pearson per site, Spearman-Brown, median
    half = np.isin(rep, np.unique(rep)[plan[0].train])
    a = np.stack([trials[half & (stim == i)].mean(0) for i in range(n_stim)])
    b = np.stack([trials[~half & (stim == i)].mean(0) for i in range(n_stim)])
    r = np.array([stats.pearsonr(a[:, j], b[:, j]).statistic for j in range(sites)])
    assert res[0].value == pytest.approx(np.median(2 * r / (1 + r)))
