"""Time memscore's PLS against sklearn's PLSRegression(25, scale=False) on LaMem-sized data.

One fit: X_train n × p (float64, planted signal), one target, 25 components; sklearn and memscore
each fit and predict the held-out rows; predictions are compared. Batched: memscore's
``fit_predict`` on 5 folds of n training rows drawn from N rows, each fold with its own target,
against 5 sklearn fits (estimated as 5 × the one fit timed above, which is fold 0, so fold 0's
predictions are checked too). Prints one JSON object.

    python benchmarks/pls_speed.py [--n 45000] [--p 1000] [--rows 58741] [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch
from sklearn.cross_decomposition import PLSRegression as SkPLS
from threadpoolctl import threadpool_info

from memscore_plugins.metrics.pls.pls import FitFold
from memscore_plugins.metrics.pls.pls import PLSRegression
from memscore_plugins.metrics.pls.pls import fit_predict


def _timed(f):
    t0 = time.perf_counter()
    out = f()
    return time.perf_counter() - t0, out


def _rel(a, b) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=45000, help="training rows per fit")
    ap.add_argument("--p", type=int, default=1000, help="features")
    ap.add_argument("--rows", type=int, default=58741, help="rows the folds are drawn from")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--components", type=int, default=25)
    ap.add_argument("--repeats", type=int, default=3, help="memscore repeats (best is reported)")
    ap.add_argument("--sklearn-repeats", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.rows <= args.n:
        ap.error("--rows must exceed --n")

    rng = np.random.default_rng(args.seed)
    X = rng.standard_normal((args.rows, args.p))
    beta = rng.standard_normal(args.p) * (rng.random(args.p) < 0.05)  # sparse planted signal
    signal = X @ beta
    folds = []
    for _ in range(args.folds):
        perm = rng.permutation(args.rows)
        train, test = np.sort(perm[: args.n]), np.sort(perm[args.n:])
        y = signal[train] * rng.uniform(0.5, 2.0) + rng.standard_normal(args.n) * signal.std()
        folds.append(FitFold(train, y, test))
    f0 = folds[0]
    X_train, X_test = X[f0.train], X[f0.test]  # C-contiguous copies, as a caller would hold them

    k = args.components
    sk_runs = []
    for _ in range(args.sklearn_repeats):
        t, ref = _timed(lambda: SkPLS(k, scale=False).fit(X_train, f0.y_train).predict(X_test))
        sk_runs.append(t)
    def memscore_fit_predict():
        model = PLSRegression(k).fit(X_train, f0.y_train)
        return model, model.predict(X_test)

    ms_runs = []
    for _ in range(args.repeats):
        t, (model, got) = _timed(memscore_fit_predict)
        ms_runs.append(t)
    # the floor of any exact float64 method here: forming XᵀX alone (syrk, what the gram form does), or
    # the 2 × n_components passes over X that a method which never forms it (bidiagonalisation) needs
    Xc = X_train - X_train.mean(0)
    gram_runs = [_timed(lambda: Xc.T @ Xc)[0] for _ in range(args.repeats)]
    v, u = np.ones(args.p), np.ones(args.n)
    passes_s = min(_timed(lambda: [(Xc @ v, u @ Xc) for _ in range(k)])[0] for _ in range(args.repeats))
    fold_runs = []
    for _ in range(args.repeats):
        t, preds = _timed(lambda: fit_predict(X, folds, n_components=k))
        fold_runs.append(t)

    sklearn_s, memscore_s = min(sk_runs), min(ms_runs)
    blas = [f"{i['internal_api']} {i.get('version')} ({i['num_threads']} threads)" for i in threadpool_info()]
    print(json.dumps({
        "n": args.n, "p": args.p, "n_components": k,
        "threads": torch.get_num_threads(), "blas": blas, "load_avg": [round(x, 2) for x in os.getloadavg()],
        "sklearn_s": round(sklearn_s, 4), "memscore_s": round(memscore_s, 4),
        "speedup": round(sklearn_s / memscore_s, 2), "max_rel_diff": _rel(got, ref),
        "sklearn_runs_s": [round(x, 4) for x in sk_runs], "memscore_runs_s": [round(x, 4) for x in ms_runs],
        "floor": {
            "gram_s": round(min(gram_runs), 4), "speedup_if_only_gram": round(sklearn_s / min(gram_runs), 2),
            "passes_s": round(passes_s, 4), "speedup_if_only_passes": round(sklearn_s / passes_s, 2),
            "note": "float64 XᵀX alone, and 2 x n_components matrix-vector passes over X: the least work of "
                    "an exact float64 PLS that forms XᵀX / that never forms it",
        },
        "folds": {
            "n_folds": args.folds, "rows": args.rows, "train_rows": args.n,
            "memscore_s": round(min(fold_runs), 4), "memscore_runs_s": [round(x, 4) for x in fold_runs],
            "sklearn_s": round(args.folds * sklearn_s, 4),
            "sklearn_note": f"estimated as {args.folds} x the one fit above (not run)",
            "speedup": round(args.folds * sklearn_s / min(fold_runs), 2),
            "max_rel_diff_fold0": _rel(preds[0], ref),
        },
        "method": model.method_,
    }))


if __name__ == "__main__":
    main()
