"""Inference over a run's per-item outputs (:mod:`memscore.items`): a seeded bootstrap confidence interval of
a score, a paired comparison of two models on the same items, and Williams' test for two dependent
correlations that share their target.

The bootstrap resamples each group's test items with replacement (groups — LaMem's splits — stay apart, as
the score keeps them apart), recomputes each group's correlation and the mean over groups, ``n_boot`` times.
A neural run's groups are folds of stimuli x sites (``median-pearson``): its stimuli are resampled within each
fold, sites kept whole. Indices are drawn group by group, ``rng.integers(0, n, size=(n_boot, n))`` from
``numpy.random.default_rng(seed)`` (groups that scored the very same items share one draw);
a paired comparison draws them once and applies them to both models. Row-wise correlations of many resamples
are computed here in one vectorised pass (scipy's ``spearmanr`` on 2-D input forms the full correlation
matrix between rows instead); the tests hold them equal to scipy's per resample.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats as sps

from .items import Items

N_BOOT = 1000
LEVEL = 0.95


def correlation(a: np.ndarray, b: np.ndarray, kind: str = "spearman") -> float:
    return float(rows(np.asarray(a, dtype=np.float64)[None], np.asarray(b, dtype=np.float64)[None], kind)[0])


def rows(a: np.ndarray, b: np.ndarray, kind: str = "spearman") -> np.ndarray:
    """The correlation of each row of ``a`` with the same row of ``b`` (tie-aware ranks for Spearman); NaN for a
    constant row."""
    if kind == "spearman":
        a, b = sps.rankdata(a, axis=1), sps.rankdata(b, axis=1)
    elif kind != "pearson":
        raise ValueError(f"unknown correlation {kind!r}; use spearman or pearson")
    a = a - a.mean(1, keepdims=True)
    b = b - b.mean(1, keepdims=True)
    den = np.sqrt((a * a).sum(1) * (b * b).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a * b).sum(1) / den
    return np.where(den > 0, np.clip(r, -1.0, 1.0), np.nan)


def _draws(items: Items, n_boot: int, seed: int) -> list[np.ndarray]:
    """Per group, ``n_boot`` resamples of its items (indices). Groups that scored the very same items (a transfer
    run's readouts, each predicting the whole target set) share one draw: an image resampled once is resampled in
    every group, so the groups' agreement is not mistaken for independent evidence."""
    rng = np.random.default_rng(seed)
    shared: dict[tuple[str, ...], np.ndarray] = {}
    out = []
    for g in items.groups:
        if g.ids not in shared:
            shared[g.ids] = rng.integers(0, len(g.ids), size=(n_boot, len(g.ids)))
        out.append(shared[g.ids])
    return out


def _column_medians(p: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Per resample (first axis), Pearson r of each column over the items (second axis), median over columns
    (columns without a correlation, e.g. constant in a resample, left out)."""
    import warnings

    p = p - p.mean(1, keepdims=True)
    t = t - t.mean(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN resample: its median is NaN
        return np.nanmedian((p * t).sum(1) / np.sqrt((p * p).sum(1) * (t * t).sum(1)), axis=1)


def _replicates(items: Items, draws: list[np.ndarray], block: int = 200) -> np.ndarray:
    """The score of each bootstrap resample: the mean over groups of the group's correlation (one target per
    item), or of its median over columns of Pearson r (``median-pearson``, then ``r² / ceiling``)."""
    kind = items.statistic.split("-", 1)[1]
    n_boot = draws[0].shape[0] if draws else 0
    out = np.zeros(n_boot)
    for g, idx in zip(items.groups, draws):
        step = block if g.columns is None else max(1, min(block, 2**24 // max(1, idx.shape[1] * g.columns)))
        for s in range(0, n_boot, step):  # blocks bound memory: n_boot x n ranks at once is large for LaMem
            i = idx[s:s + step]
            out[s:s + step] += rows(g.prediction[i], g.target[i], kind) if g.columns is None else \
                _column_medians(g.prediction[i], g.target[i])
    out /= max(len(items.groups), 1)
    return out * out / items.ceiling if items.ceiling else out


def _interval(reps: np.ndarray, level: float) -> list[float]:
    reps = reps[np.isfinite(reps)]
    if not len(reps):
        return [float("nan"), float("nan")]
    lo, hi = np.quantile(reps, [(1 - level) / 2, (1 + level) / 2])
    return [float(lo), float(hi)]


def _two_sided_p(diff: np.ndarray) -> float:
    """Twice the smaller share of resampled differences on either side of 0, at most 1 (1 when none is finite)."""
    diff = diff[np.isfinite(diff)]
    return 1.0 if not len(diff) else float(min(1.0, 2 * min((diff <= 0).mean(), (diff >= 0).mean())))


def bootstrap_ci(items: Items, *, n_boot: int = N_BOOT, seed: int = 0, level: float = LEVEL) -> list[float]:
    """The percentile bootstrap interval ``[low, high]`` of the score ``items`` give."""
    return _interval(_replicates(items, _draws(items, n_boot, seed)), level)


@dataclass(frozen=True)
class Comparison:
    """A paired comparison of A and B on the same items: ``delta`` = A − B (their scores as stored), its
    bootstrap ``ci`` and two-sided ``p`` (twice the smaller share of resampled deltas on either side of 0,
    at most 1), and per group Williams' t and p where the statistic is a correlation with the target."""

    delta: float
    ci: list[float]
    p: float
    n_boot: int
    seed: int
    williams: list[dict]

    def to_dict(self) -> dict:
        return {"delta": self.delta, "ci": self.ci, "p": self.p, "n_boot": self.n_boot, "seed": self.seed,
                "williams": self.williams}


def compare(a: Items, b: Items, *, delta: float | None = None, n_boot: int = N_BOOT, seed: int = 0,
            level: float = LEVEL) -> Comparison:
    """Paired bootstrap of A − B on the same resampled items (see :class:`Comparison`); ``delta`` is the
    difference of the stored scores (default: of the scores the items give)."""
    if not a.aligned(b):
        raise ValueError("the two runs did not score the same items in the same groups")
    draws = _draws(a, n_boot, seed)
    diff = _replicates(a, draws) - _replicates(b, draws)
    d = a.point() - b.point() if delta is None else float(delta)
    p = _two_sided_p(diff)
    kind = a.statistic.split("-", 1)[1]
    tests = []
    for ga, gb in zip(a.groups, b.groups):
        if ga.columns is not None:  # many targets per item: Williams' test is for one correlation each
            continue
        r_a, r_b = correlation(ga.prediction, ga.target, kind), correlation(gb.prediction, gb.target, kind)
        r_ab = correlation(ga.prediction, gb.prediction, kind)
        t, df, pw = williams(r_a, r_b, r_ab, len(ga.ids))
        tests.append({"group": ga.group, "n": len(ga.ids), "r_a": r_a, "r_b": r_b, "r_ab": r_ab, "t": t, "df": df,
                      "p": pw})
    return Comparison(d, _interval(diff, level), p, n_boot, seed, tests)


def williams(r12: float, r13: float, r23: float, n: int) -> tuple[float, int, float]:
    """Williams' (1959) t for H0: r12 = r13, two correlations with variable 1 in common (Steiger 1980, eq. 7):
    ``(t, df, two-sided p)``, df = n − 3. Equal correlations give t = 0, p = 1."""
    df = n - 3
    if df < 1 or not all(np.isfinite([r12, r13, r23])):
        return float("nan"), df, float("nan")
    det = 1 - r12 ** 2 - r13 ** 2 - r23 ** 2 + 2 * r12 * r13 * r23
    den = 2 * (n - 1) / (n - 3) * det + ((r12 + r13) / 2) ** 2 * (1 - r23) ** 3
    if r12 == r13:
        return 0.0, df, 1.0
    if den <= 0:
        return float("nan"), df, float("nan")
    t = (r12 - r13) * np.sqrt((n - 1) * (1 + r23) / den)
    return float(t), df, float(2 * sps.t.sf(abs(t), df))


def tied_with_best(best: Items, others: Sequence[Items], *, alpha: float = 0.05, n_boot: int = 400,
                   seed: int = 0) -> list[bool]:
    """For each of ``others``: whether it is indistinguishable from ``best`` (paired bootstrap p ≥ ``alpha``;
    items not aligned with ``best``'s: False). One set of draws and ``best``'s replicates serve every pair."""
    draws = _draws(best, n_boot, seed)
    ref = _replicates(best, draws)
    out = []
    for o in others:
        if not best.aligned(o):
            out.append(False)
            continue
        out.append(_two_sided_p(ref - _replicates(o, draws)) >= alpha)
    return out


def rho_inference(x: Sequence[float], y: Sequence[float], *, n_boot: int = N_BOOT, n_perm: int = N_BOOT,
                  seed: int = 0, level: float = LEVEL) -> dict:
    """Spearman's rho of paired points (a figure's layers) with a percentile bootstrap CI over the points and a
    two-sided permutation p ((1 + #|rho_perm| ≥ |rho|) / (1 + n_perm)), both seeded."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    n = len(x)
    if n < 3:
        return {"ci": [float("nan"), float("nan")], "p_perm": float("nan"), "n_boot": n_boot, "n_perm": n_perm}
    rng = np.random.default_rng(seed)
    rho = correlation(x, y)
    idx = rng.integers(0, n, size=(n_boot, n))
    boot = rows(x[idx], y[idx])
    perm = rows(np.broadcast_to(x, (n_perm, n)), np.array([rng.permutation(y) for _ in range(n_perm)]))
    p = (1 + np.sum(np.abs(perm[np.isfinite(perm)]) >= abs(rho) - 1e-12)) / (1 + n_perm)
    return {"ci": _interval(boot, level), "p_perm": float(p), "n_boot": n_boot, "n_perm": n_perm}
