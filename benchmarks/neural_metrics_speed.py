"""The neural metrics side by side on the neural workload: 3,200 stimuli × 1,000 features → 168 sites, the 10
stratified 90/10 folds Brain-Score uses.

    python benchmarks/neural_metrics_speed.py [--stimuli 3200] [--features 1000] [--sites 168] [--repeats 2]

Times, in one run on the same arrays: memscore's ``ridgecv`` against scikit-learn's
``RidgeCV(alphas, alpha_per_target=True)`` fitted fold by fold (and checks their predictions agree); ``rsa``
against rsatoolbox's ``calc_rdm`` + ``compare`` on each fold's test stimuli; ``cka``; and ``pls`` (PLS-25, the
default) — so the cost of every metric is also given relative to PLS alone. Prints JSON (ratios are from one
run: the machine's noise is in them).

Measured (2026-12-07, 2-core CPU, quiet, ``python benchmarks/neural_metrics_speed.py``): ridgecv 2.8-3.2 s vs
scikit-learn 11.8-13.7 s: **3.9-4.8x** (target 5x), predictions equal to 4e-14; rsa 0.09 s vs rsatoolbox 0.58 s:
**6.4x** (target 10x); cka 0.03 s; pls 0.50-0.60 s; all four metrics together 6-7.5x PLS alone (target 2x).
Where the time goes, per ridgecv fold on one thread (the folds run side by side, one per core): the 1000 x 1000
eigendecomposition 38% (LAPACK syevd; it is what makes each α's LOO error exact), ``XV`` 26%, the LOO errors
of 9 α x 168 sites in one float32 product 21%, the fold's Gram by downdating 10%. rsa per fold: ranking the two
RDMs' 51,040 entries (two argsorts) ~55%, the two RDMs ~35%.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stimuli", type=int, default=3200)
    ap.add_argument("--features", type=int, default=1000)
    ap.add_argument("--sites", type=int, default=168)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=None,
                    help="BLAS threads for both sides (default: all); 1 is steadier on a busy machine")
    args = ap.parse_args()
    from threadpoolctl import threadpool_limits

    with threadpool_limits(args.threads):
        measure(args)


def measure(args) -> None:

    from sklearn.linear_model import RidgeCV

    from memscore import load_metric
    from memscore.metrics import shuffle_split
    from memscore_plugins.metrics.similarity.ridgecv import DEFAULT_ALPHAS

    rng = np.random.default_rng(0)
    n, d, t = args.stimuli, args.features, args.sites
    latent = rng.normal(size=(n, 40))
    X = latent @ rng.normal(size=(40, d)) + rng.normal(size=(n, d))
    Y = latent @ rng.normal(size=(40, t)) * 0.3 + rng.normal(size=(n, t))
    folds = shuffle_split(n, np.repeat(np.arange(8), -(-n // 8))[:n], n_splits=10)

    ridge = load_metric("ridgecv", alphas=DEFAULT_ALPHAS)
    ours = {}

    def run_ridge():
        ours["out"] = ridge(X, Y, folds)

    def run_sklearn():
        ours["sk"] = [RidgeCV(alphas=DEFAULT_ALPHAS, alpha_per_target=True).fit(X[f.train], Y[f.train])
                      .predict(X[f.test]) for f in folds]

    t_ridge, t_sk = best_of(run_ridge, args.repeats), best_of(run_sklearn, args.repeats)
    worst = max(float(np.abs(a.prediction - b).max() / np.abs(b).max()) for a, b in zip(ours["out"], ours["sk"]))

    rsa, cka, pls = load_metric("rsa"), load_metric("cka"), load_metric("pls", n_components=25)
    t_rsa = best_of(lambda: rsa(X, Y, folds), args.repeats)
    t_cka = best_of(lambda: cka(X, Y, folds), args.repeats)
    t_pls = best_of(lambda: pls(X, Y, folds), args.repeats)
    out = {"workload": {"stimuli": n, "features": d, "sites": t, "folds": len(folds), "alphas": len(DEFAULT_ALPHAS)},
           "ridgecv_s": t_ridge, "sklearn_ridgecv_s": t_sk, "ridgecv_speedup": t_sk / t_ridge,
           "ridgecv_vs_sklearn_max_rel_diff": worst, "rsa_s": t_rsa, "cka_s": t_cka, "pls_s": t_pls,
           "all_metrics_over_pls": (t_ridge + t_rsa + t_cka + t_pls) / t_pls}
    try:
        from rsatoolbox.data import Dataset
        from rsatoolbox.rdm import calc_rdm, compare

        def run_rsatoolbox():
            for f in folds:
                a = calc_rdm(Dataset(X[f.test]), method="correlation")
                b = calc_rdm(Dataset(Y[f.test]), method="correlation")
                compare(a, b, method="spearman")

        t_tb = best_of(run_rsatoolbox, args.repeats)
        out.update(rsatoolbox_s=t_tb, rsa_speedup=t_tb / t_rsa)
    except ImportError:
        out["rsatoolbox"] = "not installed (pip install rsatoolbox)"
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
