"""`memscore analyze agreement`: does the paper's result survive every neural metric?

Per region and for each neural metric stored (``metric=pls|ridgecv|rsa|cka|procrustes|reverse`` runs of neural-*):

* **Fig. 2 under that metric**: Spearman's rho over all layers between the layer's similarity (ceiled value)
  and its memorability accuracy (lamem-pls), with a seeded bootstrap CI over the layers and a permutation p
  (:func:`memscore.stats.rho_inference`) — the same selection rules as `analyze figures` (one data set per
  benchmark, the current full run per model; fine-tuned models left out);
* **rank agreement between metrics**: Kendall's tau (scipy, tau-b) of the layers' values on the layers both
  metrics scored, and of the models' scores (their committed layer's value).

Writes ``agreement.json`` and ``agreement.csv`` (and ``agreement_<region>.png``: Fig. 2's rho per metric with
its CI); nothing is recomputed.
"""
from __future__ import annotations

import csv
import json
from itertools import combinations
from pathlib import Path
from typing import Any, Iterable

from memscore.store import ResultStore

from .analysis import Stored, _fig2

METRICS = ("pls", "ridgecv", "rsa", "cka", "procrustes", "reverse")


def analyze_agreement(store: ResultStore | None = None, *, out: Path | str = "memscore-analysis",
                      region: str = "IT", metrics: Iterable[str] = METRICS, models: Iterable[str] | None = None,
                      memorability: str = "lamem-pls", plots: bool = True,
                      include_smoke: bool = False) -> dict[str, Any]:
    from scipy.stats import kendalltau

    from memscore.errors import MemscoreError
    from memscore.stats import rho_inference

    store = store or ResultStore()
    region = region.upper()
    per_metric: dict[str, dict[str, Any]] = {}
    layer_values: dict[str, dict[tuple, float]] = {}
    model_values: dict[str, dict[tuple, float]] = {}
    for metric in metrics:
        panels, joined = _fig2(Stored(store, models, metric=metric, include_smoke=include_smoke), "value", memorability, [region])
        panel = panels[region]
        if not panel.points:
            continue
        inf = rho_inference([p["x"] for p in panel.points], [p["y"] for p in panel.points])
        per_metric[metric] = {"rho": panel.rho, "p": panel.p, "n": panel.n, "ci": inf["ci"], "p_perm": inf["p_perm"],
                              "models": len({(p["model"], p["weights"]) for p in panel.points})}
        layer_values[metric] = {(p["model"], p["weights"], p["layer"]): p["x"] for p in panel.points}
        model_values[metric] = {k: s[f"neural-{region.lower()}"].value for k, s in joined.items()}
    if not per_metric:
        raise MemscoreError(f"no stored neural-{region.lower()} runs joined with {memorability} for any of the "
                            f"metrics {', '.join(metrics)}; score them (--benchmark-args metric=pls,rsa,...)")
    pairs = []
    for a, b in combinations(per_metric, 2):
        la, lb = layer_values[a], layer_values[b]
        common = sorted(la.keys() & lb.keys())
        ma, mb = model_values[a], model_values[b]
        shared = sorted(ma.keys() & mb.keys(), key=str)
        t_layers = kendalltau([la[k] for k in common], [lb[k] for k in common]) if len(common) > 2 else None
        t_models = kendalltau([ma[k] for k in shared], [mb[k] for k in shared]) if len(shared) > 2 else None
        pairs.append({"a": a, "b": b, "layers": len(common), "tau_layers": _stat(t_layers),
                      "p_layers": _p(t_layers), "models": len(shared), "tau_models": _stat(t_models),
                      "p_models": _p(t_models)})
    result = {"analysis": "agreement", "region": region, "memorability": memorability, "metrics": per_metric,
              "pairs": pairs, "files": []}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "agreement.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["region", "metric", "rho", "ci_low", "ci_high", "p_perm", "n", "models"])
        for m, r in per_metric.items():
            w.writerow([region, m, r["rho"], r["ci"][0], r["ci"][1], r["p_perm"], r["n"], r["models"]])
    result["files"].append(str(out / "agreement.csv"))
    if plots:
        result["files"].append(_plot(per_metric, region, out / f"agreement_{region}.png"))
    result["files"].append(str(out / "agreement.json"))
    (out / "agreement.json").write_text(json.dumps(result, indent=1, default=str))
    return result


def _stat(t) -> float | None:
    return None if t is None else float(t.statistic)


def _p(t) -> float | None:
    return None if t is None else float(t.pvalue)


def _plot(per_metric: dict[str, dict], region: str, path: Path) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(per_metric)
    rho = [per_metric[m]["rho"] for m in names]
    lo = [r - per_metric[m]["ci"][0] for r, m in zip(rho, names)]
    hi = [per_metric[m]["ci"][1] - r for r, m in zip(rho, names)]
    fig, ax = plt.subplots(figsize=(5, 4), dpi=100)
    ax.bar(names, rho, yerr=[lo, hi], capsize=4, color="#4c72b0")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_ylabel("Spearman ρ over layers (95% CI)")
    ax.set_title(f"Fig. 2, {region}: memorability vs similarity, per metric")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return str(path)
