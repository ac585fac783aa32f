"""Neural predictivity as Brain-Score's ``pls`` metric, and its split-half ceiling.

**Predictivity** (``brainscore_vision`` ``CrossRegressedCorrelation`` with ``pls_regression`` and
``pearsonr_correlation``, ``crossvalidation_kwargs=dict(stratification_coord=...)``):
10 ``StratifiedShuffleSplit`` splits (``train_size=0.9``, ``random_state=1``) over the stimuli, stratified by
``object_name`` (MajajHong2015) or ``texture_type`` (FreemanZiemba2013); per split, PLS regression
(25 components, ``scale=False``) from the model features to all sites, Pearson r per site on the held-out
stimuli, median over sites. The score is the mean over splits; its error the standard error of that
mean (``std(ddof=0) / sqrt(splits)``, as xarray's ``std`` in Brain-Score).

**Ceiling** (``internal_consistency``): 10 ``ShuffleSplit`` splits (``train_size=0.5``, ``random_state=1``)
of the *repetition* labels into two halves; each half averaged over its repetitions per stimulus; Pearson r
per site between the halves, Spearman-Brown corrected (``2r / (1 + r)``); median over sites; mean over
splits (error: SEM as above).

**Normalisation** (``brainscore_vision.benchmark_helpers.neural_common.explained_variance``, since January
2026): ``ceiled = r² / ceiling`` — the split-half ceiling is a reliability (variance) bound, so the raw r is
squared before dividing. (Before that, Brain-Score used ``(r / ceiling)²``.) The error reported with the
ceiled score is the raw score's error, as Brain-Score keeps it.

Rows (stimuli) are in the order the caller gives; Brain-Score's averaged assemblies are sorted by their
presentation coordinates, i.e. by ``stimulus_id`` when that is the first — the benchmark sorts by
``stimulus_id`` so the splits coincide.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from memscore.metrics import mean_by  # noqa: E402 - the NaN-aware group mean, shared with the data readers

__all__ = ["splits", "ceiling", "ceiling_folds", "explained_variance", "NeuralPredictivity", "SplitHalfCeiling",
           "Ceiling"]

N_SPLITS = 10
TRAIN_SIZE = 0.9
SEED = 1  # Brain-Score's Split.Defaults.random_state


def splits(n: int, strata: Sequence | None = None, *, n_splits: int = N_SPLITS, train_size: float = TRAIN_SIZE,
           seed: int = SEED) -> list[tuple[np.ndarray, np.ndarray]]:
    """Brain-Score's cross-validation splits over ``n`` stimuli (stratified when ``strata`` is given)."""
    from memscore.metrics import shuffle_split

    return [(f.train, f.test) for f in shuffle_split(n, strata, n_splits=n_splits, train_size=train_size, seed=seed)]


@dataclass
class Ceiling:
    site_r: np.ndarray  # (n_splits, n_sites) Spearman-Brown corrected split-half r
    split_values: np.ndarray = field(init=False)
    value: float = field(init=False)
    error: float = field(init=False)

    def __post_init__(self):
        with _quiet():
            self.split_values = np.nanmedian(self.site_r, axis=1)
            self.value = float(np.nanmean(self.split_values))
        self.error = _sem(self.split_values)


def _sem(values: np.ndarray) -> float:
    v = values[np.isfinite(values)]
    return float(np.std(v) / np.sqrt(len(v))) if len(v) else float("nan")


class _quiet(np.errstate):
    def __init__(self):
        super().__init__(invalid="ignore", divide="ignore")

    def __enter__(self):
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)
        return super().__enter__()

    def __exit__(self, *exc):
        super().__exit__(*exc)
        return self._w.__exit__(*exc)


def _pearson_columns(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    from memscore_plugins.metrics.correlation.correlation import pearson

    return np.atleast_1d(pearson(pred, target))


def ceiling(trials: np.ndarray, stimulus: np.ndarray, repetition: np.ndarray, *, n_splits: int = N_SPLITS,
            seed: int = SEED) -> Ceiling:
    """Split-half internal consistency over repetitions, Spearman-Brown corrected (Brain-Score's
    ``internal_consistency``). ``trials`` (presentations × sites), ``stimulus`` and ``repetition`` label
    each presentation."""
    return _ceiling(np.asarray(trials, dtype=np.float64), np.asarray(stimulus), np.asarray(repetition),
                    ceiling_folds(repetition, n_splits=n_splits, seed=seed))


def _ceiling(trials: np.ndarray, stimulus: np.ndarray, repetition: np.ndarray, folds) -> Ceiling:
    reps = np.unique(repetition)
    _, stim_idx = np.unique(stimulus, return_inverse=True)
    n_stim = int(stim_idx.max()) + 1
    out = []
    for fold in folds:
        in1 = np.isin(repetition, reps[np.asarray(fold.train)])
        a = mean_by(trials[in1], stim_idx[in1], n_stim)
        b = mean_by(trials[~in1], stim_idx[~in1], n_stim)
        both = np.isfinite(a) & np.isfinite(b)
        rows = both.all(axis=1)
        if both[rows].all() and rows.sum() >= 3 and both.sum(0).min() == rows.sum():  # the usual case: one call
            r = _pearson_columns(a[rows], b[rows])
        else:
            r = np.full(trials.shape[1], np.nan)
            for j in range(trials.shape[1]):  # stimuli seen in both halves, per site
                ok = both[:, j]
                if ok.sum() >= 3:
                    r[j] = _pearson_columns(a[ok, j], b[ok, j])[0]
        with _quiet():
            out.append(2 * r / (1 + r))
    return Ceiling(np.stack(out))


def explained_variance(raw: float, ceiling_value: float) -> float:
    """Brain-Score's current normalisation: ``r² / ceiling``."""
    return float(raw) ** 2 / float(ceiling_value)


class NeuralPredictivity:
    """The ``neural-pls`` metric (:mod:`memscore.metrics` contract): ``metric(features, responses, folds)``.

    Per fold: the regression (loaded by name: ``pls`` by default, any regression metric meets it) fits the
    train stimuli, Pearson r per site on the test stimuli (``per_target``), median over sites (``value``).
    """

    def __init__(self, regression: str = "pls", n_components: int = 25, device=None):
        from memscore.metrics import load_metric_for

        self.regression_name = regression
        self.regression = load_metric_for(regression, n_components=n_components, device=device)
        self.n_components = n_components

    def __call__(self, X, Y, folds) -> list:
        from memscore.metrics import FoldResult

        Y = np.asarray(Y, dtype=np.float64)
        if Y.ndim == 1:
            Y = Y[:, None]
        if not np.isfinite(Y).all():
            bad = int((~np.isfinite(Y)).any(axis=0).sum())
            raise ValueError(f"responses have NaN for {bad} sites; drop those sites first")
        out = []
        for f, fit in zip(folds, self.regression(X, Y, folds)):
            te = np.asarray(f.test)
            r = _pearson_columns(np.asarray(fit.prediction).reshape(len(te), -1), Y[te])
            with _quiet():
                value = float(np.nanmedian(r)) if np.isfinite(r).any() else float("nan")
            out.append(FoldResult(value=value, per_target=r, prediction=fit.prediction))
        return out

    def __repr__(self) -> str:
        return f"NeuralPredictivity(regression={self.regression_name!r}, n_components={self.n_components})"


def ceiling_folds(repetition: np.ndarray, *, n_splits: int = N_SPLITS, seed: int = SEED) -> list:
    """Brain-Score's split-half plan: ``n_splits`` random halves of the repetition labels (indices into
    ``np.unique(repetition)``: ``train`` is one half, ``test`` the other)."""
    from memscore.errors import DataError
    from memscore.metrics import shuffle_split

    reps = np.unique(repetition)
    if len(reps) < 2:
        raise DataError(f"the assembly has {len(reps)} repetition value(s); a split-half ceiling needs at least 2")
    return shuffle_split(len(reps), n_splits=n_splits, train_size=0.5, seed=seed)


class SplitHalfCeiling:
    """The ``split-half`` ceiling metric: ``metric(trials, labels, folds)`` with ``labels`` the (stimulus,
    repetition) of each trial and ``folds`` from :func:`ceiling_folds`; per fold the Spearman-Brown corrected
    Pearson r per site between the two halves' means (``per_target``), median over sites (``value``)."""

    def __call__(self, X, Y, folds) -> list:
        from memscore.metrics import FoldResult

        labels = np.asarray(Y)
        stimulus, repetition = labels[:, 0], labels[:, 1]
        c = _ceiling(np.asarray(X, dtype=np.float64), stimulus, repetition, folds)
        return [FoldResult(value=float(v), per_target=r) for v, r in zip(c.split_values, c.site_r)]

    def __repr__(self) -> str:
        return "SplitHalfCeiling()"
