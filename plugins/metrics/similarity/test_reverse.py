"""reverse (Brain-Score's reverse_pls, Muzellec & Kar 2026) equals scikit-learn's PLSRegression(25, scale=False)
fitted sites -> units on each fold, Pearson per unit, median; it finds units that are a linear function of the
sites and not shuffled ones, and it is not forward predictivity under another name; its predictor-consistency
ceiling equals Brain-Score's SplitHalfPredictorConsistency loop; both meet the metric contract; neural-it runs
and stores metric=reverse."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.stats import pearsonr
from sklearn.cross_decomposition import PLSRegression

from memscore import load_metric
from memscore.metrics import shuffle_split, summarize
from memscore.testing import check_metric
from memscore_plugins.metrics.similarity.reverse import predictor_consistency_folds


def _units_and_sites(n=150, n_sites=40, n_units=30, noise=1.0, seed=0):
    """Sites and model units that share 6 latent dimensions, plus one constant (dead) unit."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n, 6))
    sites = latent @ rng.normal(size=(6, n_sites)) + rng.normal(size=(n, n_sites))
    units = latent @ rng.normal(size=(6, n_units)) + noise * rng.normal(size=(n, n_units)) + 5.0
    units[:, 3] = 2.0  # a dead unit: no correlation defined, skipped by the median
    strata = np.repeat([f"o{i}" for i in range(5)], n // 5)
    return units, sites, shuffle_split(n, strata)


def test_reverse_equals_sklearn_pls_fitted_sites_to_units():
    units, sites, folds = _units_and_sites()
    out = load_metric("reverse")(units, sites, folds)  # called as neural-pls is: (model features, responses)
    assert len(out) == 10
    worst_r = worst_pred = 0.0
    ref_values = []
    for f, res in zip(folds, out):
        model = PLSRegression(25, scale=False).fit(sites[f.train], units[f.train])  # sites -> units
        pred = model.predict(sites[f.test])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # scipy warns on the constant unit (NaN r)
            r = np.array([pearsonr(pred[:, j], units[f.test, j])[0] for j in range(units.shape[1])])
        assert np.isnan(r[3]) and np.isnan(res.per_target[3])
        ok = ~np.isnan(r)
        worst_r = max(worst_r, np.abs(res.per_target[ok] - r[ok]).max())
        worst_pred = max(worst_pred, np.abs(res.prediction - pred).max() / np.abs(pred).max())
        ref_values.append(np.nanmedian(r))
        assert res.value == pytest.approx(ref_values[-1], abs=1e-6)
    assert worst_r <= 1e-6 and worst_pred <= 1e-6, (worst_r, worst_pred)
    s = summarize(out)
    assert s.value == pytest.approx(np.mean(ref_values), abs=1e-6)
    assert s.error == pytest.approx(np.std(ref_values) / np.sqrt(10), abs=1e-6)
    assert 0.3 < s.value < 0.95  # a real, partial signal: the parity is not a trivial 0 = 0 or 1 = 1


def test_reverse_finds_units_linear_in_the_sites_and_not_shuffled_ones():
    rng = np.random.default_rng(1)
    n = 200
    sites = rng.normal(size=(n, 40))
    units = sites[:, :10] @ rng.normal(size=(10, 50)) + 0.05 * rng.normal(size=(n, 50))
    folds = shuffle_split(n)
    metric = load_metric("reverse")
    planted = metric(units, sites, folds)
    assert min(r.value for r in planted) > 0.97
    shuffled = summarize(metric(units[rng.permutation(n)], sites, folds))
    assert abs(shuffled.value) < 0.1, shuffled.value


def test_reverse_is_not_forward_predictivity():
    """A model with the 5 dimensions the sites carry plus 55 units the brain does not: forward predictivity
    (neural-pls, units -> sites) is high, reverse (sites -> units) low, as Muzellec & Kar argue."""
    rng = np.random.default_rng(2)
    n = 200
    latent = rng.normal(size=(n, 5))
    sites = latent @ rng.normal(size=(5, 30)) + 0.3 * rng.normal(size=(n, 30))
    units = np.hstack([latent, rng.normal(size=(n, 55))])
    folds = shuffle_split(n)
    forward = summarize(load_metric("neural-pls")(units, sites, folds)).value
    reverse = summarize(load_metric("reverse")(units, sites, folds)).value
    assert forward > 0.8 and abs(reverse) < 0.2, (forward, reverse)


def _brainscore_predictor_consistency(trials, images, reps, n_splits=10, seed=0):
    """brainscore_vision.metrics.predictor_consistency.ceiling.SplitHalfPredictorConsistency.__call__ (PR #2304)
    on plain arrays: the same loop, the same generator and the same order of draws (xarray's mean skips NaN)."""
    unique_imgs, inv = np.unique(images, return_inverse=True)
    rng = np.random.default_rng(seed)
    split_rs = []
    for _ in range(n_splits):
        A_means, B_means = [], []
        for img_idx in range(len(unique_imgs)):
            idx = np.where(inv == img_idx)[0]
            if idx.size < 2:
                continue
            rvals = reps[idx]
            uniq_r = np.unique(rvals)
            if uniq_r.size < 2:
                continue
            perm = rng.permutation(uniq_r)
            half = uniq_r.size // 2
            A_r, B_r = perm[:half], perm[half:]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a half of only NaN: NaN, as xarray gives it
                A_means.append(np.nanmean(trials[idx[np.isin(rvals, A_r)]], axis=0))
                B_means.append(np.nanmean(trials[idx[np.isin(rvals, B_r)]], axis=0))
        if len(A_means) < 10:
            split_rs.append(np.full(trials.shape[1], np.nan))
            continue
        A, B = np.stack(A_means), np.stack(B_means)
        a, b = A - A.mean(0), B - B.mean(0)
        denom = np.linalg.norm(a, axis=0) * np.linalg.norm(b, axis=0)
        r = (a * b).sum(0) / np.where(denom == 0, np.nan, denom)
        split_rs.append(2 * r / (1 + r))
    split_rs = np.stack(split_rs)
    per_split = np.nanmedian(split_rs, axis=1)
    return split_rs, np.nanmean(per_split), np.nanstd(per_split) / np.sqrt(np.isfinite(per_split).sum())


def _recordings(n_images=40, n_sites=7, seed=3):
    """Trials in shuffled order with uneven repetitions (1 to 6 per image, an odd count halves unevenly), one
    site with a missing trial and one image whose only trial cannot be halved."""
    rng = np.random.default_rng(seed)
    truth = rng.normal(size=(n_images, n_sites))
    counts = rng.integers(2, 7, size=n_images)
    counts[5] = 1
    images = np.repeat(np.arange(n_images), counts)
    reps = np.concatenate([np.arange(c) for c in counts])
    order = rng.permutation(len(images))
    images, reps = images[order], reps[order]
    trials = truth[images] + 0.8 * rng.normal(size=(len(images), n_sites))
    trials[np.flatnonzero(images == 9)[0], 2] = np.nan
    return trials, np.array([f"img{i:03d}" for i in images]), reps


def test_predictor_consistency_equals_brainscores_loop():
    trials, images, reps = _recordings()
    ref_r, ref_value, ref_error = _brainscore_predictor_consistency(trials, images, reps)
    folds = predictor_consistency_folds(images, reps)
    out = load_metric("predictor-consistency")(trials, images, folds)
    got = np.stack([r.per_target for r in out])
    np.testing.assert_allclose(got, ref_r, rtol=0, atol=1e-12)
    s = summarize(out)
    assert s.value == pytest.approx(ref_value, abs=1e-12) and s.error == pytest.approx(ref_error, abs=1e-12)
    assert 0.3 < s.value < 1 and np.std(s.split_values) > 0  # a real reliability, drawn anew each split
    # another generator seed draws other halves: the draws matter, and are Brain-Score's
    other = summarize(load_metric("predictor-consistency")(trials, images, predictor_consistency_folds(images, reps,
                                                                                                      seed=1)))
    assert other.value != pytest.approx(s.value, abs=1e-6)
    assert other.value == pytest.approx(_brainscore_predictor_consistency(trials, images, reps, seed=1)[1], abs=1e-12)
    # each image's trials go whole into the halves, never an image with one trial
    lone = np.flatnonzero(images == "img005")
    for f in folds:
        assert not np.isin(lone, f.train).any() and not np.isin(lone, f.test).any()
        assert len(np.intersect1d(f.train, f.test)) == 0 and len(f.train) + len(f.test) == len(images) - 1
    # fewer than 10 images in a split: NaN, as Brain-Score's kept < 10
    few = np.isin(images, np.unique(images)[:9])
    nan = load_metric("predictor-consistency")(trials[few], images[few],
                                               predictor_consistency_folds(images[few], reps[few]))
    assert all(np.isnan(r.value) for r in nan)


def test_reverse_and_its_ceiling_meet_the_contract():
    units, sites, folds = _units_and_sites()
    assert "deterministic" in check_metric("reverse", data=(units, sites, folds[:3]))
    trials, images, reps = _recordings()
    assert "deterministic" in check_metric("predictor-consistency",
                                           data=(trials, images, predictor_consistency_folds(images, reps)))
    with pytest.raises(ValueError, match="NaN for 1 sites"):
        bad = sites.copy()
        bad[0, 4] = np.nan
        load_metric("reverse")(units, bad, folds)
    with pytest.raises(ValueError, match="20,000 units are too many targets for PLS"):  # before any fit
        load_metric("reverse")(np.zeros((len(sites), 20_000)), sites, folds)


@pytest.fixture(scope="module")
def neural(tmp_path_factory):
    from neural_fixture import build_neural

    from memscore.api import load_model

    model = load_model("torchvision:resnet18", weights="none", seed=0)
    return build_neural(tmp_path_factory.mktemp("neural"), model, n_objects=8, per_object=16, n_sites=12,
                        clean=4, noise=1.5, size=64)


def test_neural_it_stores_a_reverse_run(neural):
    """metric=reverse on neural-it: a stored run of its own, ceiled r² / the predictor-consistency ceiling of the
    fixture's IT trials, each unit of the committed layer scored (not the sites); the pls run is unchanged."""
    from memscore.api import score
    from memscore.store import ResultStore
    from memscore_plugins.benchmarks.neural.data import load_region

    args = {"dataset": str(neural["manifest"]), "image_size": 64, "layers": "layer3.0+avgpool", "folds": 5}
    rev = score("torchvision:resnet18", "neural-it", weights="none", progress=False, device="cpu",
                benchmark_args={**args, "metric": "reverse"})
    assert rev.meta["metric"] == "reverse" and not rev.meta.get("from_store")
    stored = ResultStore().query("torchvision:resnet18", "neural-it")
    assert [s.meta["run_id"] for s in stored] == [rev.meta["run_id"]]

    data = load_region("IT", dataset=str(neural["manifest"]))
    halves = predictor_consistency_folds(data.trial_stimulus, data.trial_repetition, n_splits=5)
    ceiling = summarize(load_metric("predictor-consistency")(data.trials, data.trial_stimulus, halves)).value
    assert rev.ceiling == pytest.approx(ceiling, abs=1e-12) and 0 < ceiling <= 1
    assert rev.value == pytest.approx(rev.raw ** 2 / rev.ceiling)
    assert rev.raw == max(r["raw"] for r in rev.layers) and len(rev.splits) == 5
    assert rev.meta["sites"] is None and len(rev.meta["unit_r"]) > rev.meta["n_sites"] == 12
    assert rev.ci[0] <= rev.value <= rev.ci[1] and "units kept whole" in rev.meta["bootstrap"]["over"]

    pls = score("torchvision:resnet18", "neural-it", weights="none", progress=False, device="cpu",
                benchmark_args=args)
    assert pls.meta["run_id"] != rev.meta["run_id"] and pls.meta["activation_passes"] == 0  # activations reused
    assert pls.ceiling != pytest.approx(rev.ceiling, abs=1e-6)  # the forward split-half is another ceiling
    assert [r["raw"] for r in pls.layers] != pytest.approx([r["raw"] for r in rev.layers], abs=1e-3)
