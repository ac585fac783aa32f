"""``reverse``: reverse predictivity (Muzellec & Kar 2026), and its ``predictor-consistency`` ceiling.

Forward predictivity (``neural-pls``) asks how well a layer predicts the recorded sites; reverse predictivity
asks the converse: how well the **sites predict the model's units**. A layer with many units that the brain
does not carry scores low in reverse even when it predicts the sites well.

Source: brain-score/vision PR #2304 (commit e819b403, "Add ReversePredictivity (muzellec2026) benchmark",
March 2026), which registers the benchmarks ``MajajHong2015public.V4-reverse_pls`` and ``...IT-reverse_pls``
(``brainscore_vision/benchmarks/muzellec2026``) and defines there:

* **the metric** ``reverse_pls`` (``metrics/regression_correlation/metric.py``,
  ``ReverseCrossRegressedCorrelation``): Brain-Score's ``CrossRegressedCorrelation`` with its arguments
  swapped — the same cross-validation (10 ``StratifiedShuffleSplit`` 90/10 splits, ``random_state=1``,
  stratified by ``object_name``), the same ``pls_regression`` (``PLSRegression(n_components=25, scale=False)``)
  now fitted **neural sites → model units** on each split's train stimuli, Pearson r **per unit** between the
  predicted and the actual units on the split's test stimuli, **median over units** (the class keeps
  ``aggregate = median(dim='neuroid')``; xarray's median skips the NaN of constant units), mean over splits,
  error the standard error over splits. Implemented here as :class:`ReversePredictivity`: ``metric(X, Y,
  folds)`` takes the model features ``X`` and the responses ``Y`` in the same order as ``neural-pls`` (as
  Brain-Score's reverse metric is called as the forward one and swaps inside), fits ``Y[train] -> X[train]``
  with a regression loaded by name (``pls``, PLS-25, by default) and scores each unit on ``X[test]``.
  ``per_target`` holds the per-unit r, ``prediction`` the predicted units.

* **the ceiling** (``metrics/predictor_consistency/ceiling.py``, ``SplitHalfPredictorConsistency``, used as the
  benchmark's ``ceiling_func`` on the un-averaged assembly): a split-half reliability of the **neural**
  responses, but not Brain-Score's usual ``internal_consistency``: each split draws, **for every image on its
  own**, a random permutation of that image's repetition labels (``numpy.random.default_rng(seed=0)``, one
  generator for all splits, images in sorted ``image_id`` order, images with fewer than 2 repetitions skipped
  and drawing nothing); the first ``n // 2`` labels form half A, the rest half B; each half averaged per image;
  Pearson r per site between the halves over the images, Spearman-Brown corrected (2r / (1 + r)); a split with
  fewer than 10 images is NaN; median over sites (NaN-skipping), mean over splits, error ``nanstd / sqrt(finite
  splits)``. Implemented as :func:`predictor_consistency_folds` (each split as a :class:`memscore.metrics.Fold`
  of trial rows: ``train`` half A, ``test`` half B; the generator's draws replayed in Brain-Score's order) and
  :class:`PredictorConsistency` (the ``predictor-consistency`` metric), whose per-split median and mean reuse
  the forward ceiling's :class:`~memscore_plugins.metrics.neural.predictivity.Ceiling`.

* **the normalisation**: the benchmark is a plain ``NeuralBenchmark``, so ``explained_variance`` as for forward
  predictivity: ``ceiled = r² / ceiling`` (raw r the reverse median r).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["ReversePredictivity", "PredictorConsistency", "predictor_consistency_folds", "MIN_IMAGES"]

#: a split of the predictor-consistency ceiling with fewer images in both halves is NaN (Brain-Score's ``kept < 10``)
MIN_IMAGES = 10


class ReversePredictivity:
    """The ``reverse`` metric (:mod:`memscore.metrics` contract): ``metric(features, responses, folds)``.

    Per fold: the regression (loaded by name: ``pls``, 25 components, by default; any regression metric meets
    it) fits the **responses** of the train stimuli to their **features**, predicts the features of the test
    stimuli from their responses; Pearson r per feature (unit) on the test stimuli (``per_target``), median over
    units, constant units (NaN r) skipped (``value``); ``prediction`` the predicted test features."""

    def __init__(self, regression: str = "pls", n_components: int = 25, device=None):
        from memscore.metrics import load_metric_for

        self.regression_name = regression
        self.regression = load_metric_for(regression, n_components=n_components, device=device)
        self.n_components = n_components

    def __call__(self, X, Y, folds: Sequence) -> list:
        from memscore.metrics import FoldResult
        from memscore_plugins.metrics.neural.predictivity import _pearson_columns, _quiet

        units = np.asarray(X, dtype=np.float64)
        sites = np.asarray(Y, dtype=np.float64)
        units = units[:, None] if units.ndim == 1 else units
        sites = sites[:, None] if sites.ndim == 1 else sites
        if units.ndim != 2 or sites.ndim != 2 or len(units) != len(sites):
            raise ValueError(f"reverse: features {units.shape} and responses {sites.shape} must be 2-D with one row "
                             f"per stimulus each")
        if not np.isfinite(sites).all():
            bad = int((~np.isfinite(sites)).any(axis=0).sum())
            raise ValueError(f"responses have NaN for {bad} sites; drop those sites first")
        if not np.isfinite(units).all():
            raise ValueError("features contain NaN or infinite values")
        if self.regression_name == "pls":
            from memscore_plugins.metrics.pls.pls import MAX_CROSS_BYTES

            if 2 * 8 * units.shape[1] ** 2 > MAX_CROSS_BYTES:  # its power method runs on units x units matrices
                raise ValueError(f"reverse: {units.shape[1]:,} units are too many targets for PLS (it holds two "
                                 f"{units.shape[1]:,}² matrices); reduce the layer first (the benchmarks' pca=1000)")
        out = []
        for f in folds:  # sites -> units, one fold at a time: the sites' Gram is small, so batching the folds
            fit = self.regression(sites, units, [f])[0]  # saves nothing and holds every fold's targets at once
            te = np.asarray(f.test)
            pred = np.asarray(fit.prediction).reshape(len(te), -1)
            r = _pearson_columns(pred, units[te])
            with _quiet():
                value = float(np.nanmedian(r)) if np.isfinite(r).any() else float("nan")
            out.append(FoldResult(value=value, per_target=r, prediction=pred))
        return out

    def __repr__(self) -> str:
        return f"ReversePredictivity(regression={self.regression_name!r}, n_components={self.n_components})"


def predictor_consistency_folds(stimulus, repetition, *, n_splits: int = 10, seed: int = 0) -> list:
    """Brain-Score's ``SplitHalfPredictorConsistency`` splits as folds of trial rows: per split, every image's
    repetition labels permuted on their own (one ``default_rng(seed)`` for all splits, images in sorted order,
    an image with fewer than 2 trials or 2 labels skipped and drawing nothing), the first ``k // 2`` of its ``k``
    labels in half A (``Fold.train``), the rest in half B (``Fold.test``). Trials of skipped images are in neither."""
    from memscore.metrics import Fold

    stimulus, repetition = np.asarray(stimulus), np.asarray(repetition)
    if len(stimulus) != len(repetition):
        raise ValueError(f"{len(stimulus)} stimulus labels but {len(repetition)} repetition labels")
    _, inv = np.unique(stimulus, return_inverse=True)
    inv = inv.ravel()
    order = np.argsort(inv, kind="stable")  # each image's trials in ascending row order, as np.where gives them
    starts = np.flatnonzero(np.r_[True, inv[order][1:] != inv[order][:-1]])
    images = []
    for idx in np.split(order, starts[1:]):
        if idx.size < 2:
            continue
        labels, which = np.unique(repetition[idx], return_inverse=True)
        if labels.size >= 2:
            images.append((idx, labels, which.ravel()))
    rng = np.random.default_rng(seed)
    folds = []
    for _ in range(n_splits):
        a, b = [], []
        for idx, labels, which in images:
            perm = rng.permutation(labels)  # Brain-Score permutes the labels themselves: the same draw
            in_a = np.isin(labels, perm[:labels.size // 2])[which]
            a.append(idx[in_a])
            b.append(idx[~in_a])
        cat = lambda parts: np.sort(np.concatenate(parts)) if parts else np.empty(0, np.int64)  # noqa: E731
        folds.append(Fold(cat(a).astype(np.int64), cat(b).astype(np.int64)))
    return folds


class PredictorConsistency:
    """The ``predictor-consistency`` ceiling metric: ``metric(trials, stimulus, folds)`` with ``trials``
    (presentations × sites), ``stimulus`` each trial's image (or (stimulus, repetition) label rows: the first
    column is read) and ``folds`` from :func:`predictor_consistency_folds`. Per fold: each half's trials averaged
    per image, Pearson r per site between the halves over the images in both, Spearman-Brown corrected
    (``per_target``; NaN for a site with a missing half mean, all NaN with fewer than 10 images), median over
    sites (``value``). Brain-Score's ``SplitHalfPredictorConsistency``, the ceiling of reverse predictivity."""

    def __call__(self, X, Y, folds: Sequence) -> list:
        from memscore.metrics import FoldResult, mean_by
        from memscore_plugins.metrics.neural.predictivity import Ceiling, _pearson_columns, _quiet

        trials = np.asarray(X, dtype=np.float64)
        labels = np.asarray(Y)
        stimulus = labels[:, 0] if labels.ndim == 2 else labels
        _, stim = np.unique(stimulus, return_inverse=True)
        stim = stim.ravel()
        n = int(stim.max()) + 1 if len(stim) else 0
        rows = []
        for f in folds:
            ha, hb = np.asarray(f.train, dtype=np.int64), np.asarray(f.test, dtype=np.int64)
            both = (np.bincount(stim[ha], minlength=n) > 0) & (np.bincount(stim[hb], minlength=n) > 0)
            r = np.full(trials.shape[1], np.nan)
            if both.sum() >= MIN_IMAGES:
                a = mean_by(trials[ha], stim[ha], n)[both]
                b = mean_by(trials[hb], stim[hb], n)[both]
                ok = np.isfinite(a).all(0) & np.isfinite(b).all(0)  # a NaN mean gives that site NaN, as Brain-Score
                if ok.any():
                    r[ok] = _pearson_columns(a[:, ok], b[:, ok])
            with _quiet():
                rows.append(2 * r / (1 + r))
        c = Ceiling(np.stack(rows)) if rows else None
        return [] if c is None else [FoldResult(value=float(v), per_target=r) for v, r in zip(c.split_values, c.site_r)]

    def __repr__(self) -> str:
        return "PredictorConsistency()"
