"""`memscore analyze transfer`: in-data-set vs transferred memorability across depth, per model.

For a target set (``memcat``, ``memorability-csv``): each model's per-layer values on ``<target>-pls`` (fitted and
tested on the target's own splits) and on ``lamem-to-<target>`` (fitted on LaMem, scored on the target),
against the layers' relative depth — where in the network does memorability that generalises across data
sets live? Per model: Spearman's rho between the two profiles over the layers both scored, and the layer each
reports (the transfer run's layer is chosen on LaMem's val split). The same selection rules as
`analyze figures` (one data set per benchmark, the current full run per model). Writes ``transfer.json``,
``transfer.csv`` and ``transfer_<model>.png``.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Iterable

from memscore.errors import MemscoreError
from memscore.safetext import printable
from memscore.selection import LeftOut, join as _join
from memscore.store import ResultStore

from .analysis import Stored, is_imagenet_run

TARGETS = {"memcat": ("memcat-pls", "lamem-to-memcat"), "figrim": ("figrim-pls", "lamem-to-figrim"),
           "things-memorability": ("things-memorability-pls", "lamem-to-things"),
           "memorability-csv": ("memorability-csv-pls", "lamem-to-csv")}


def analyze_transfer(store: ResultStore | None = None, *, out: Path | str = "memscore-analysis",
                     target: str = "memcat", models: Iterable[str] | None = None, plots: bool = True,
                     include_smoke: bool = False) -> dict[str, Any]:
    from scipy.stats import spearmanr

    if target not in TARGETS:
        raise MemscoreError(f"--target {target!r}: use one of {', '.join(TARGETS)}")
    within, transfer = TARGETS[target]
    src = Stored(store or ResultStore(), models, include_smoke=include_smoke)
    left = LeftOut()
    a, b = src.pick(within, left, is_imagenet_run), src.pick(transfer, left, is_imagenet_run)
    rows, per_model = [], {}
    for key in _join(a, b, left):
        sa, sb = a.scores[key], b.scores[key]
        ra = {r["layer"]: r for r in sa.layers if r.get("value") is not None}
        rb = {r["layer"]: r for r in sb.layers if r.get("value") is not None}
        common = [name for name in ra if name in rb]
        for name in common:
            rows.append({"model": key[0], "weights": key[1], "layer": name, "depth": ra[name].get("depth"),
                         "within": ra[name]["value"], "transfer": rb[name]["value"]})
        rho = spearmanr([ra[n]["value"] for n in common], [rb[n]["value"] for n in common]).statistic \
            if len(common) > 2 else None
        per_model[f"{key[0]}@{key[1]}"] = {
            "layers": len(common), "rho_profiles": None if rho is None else float(rho),
            "within": {"value": sa.value, "layer": sa.meta.get("layer")},
            "transfer": {"value": sb.value, "layer": sb.meta.get("layer"), "chosen_on": "LaMem val"}}
    if not per_model:
        raise MemscoreError(f"no model has both a {within} and a {transfer} run (same weights, model args, seed); "
                            f"score both first")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result = {"analysis": "transfer", "target": target, "within": within, "transfer": transfer,
              "models": per_model, "left_out": left.to_list(), "files": []}
    with open(out / "transfer.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["model", "weights", "layer", "depth", "within", "transfer"])
        w.writeheader()
        for r in rows:
            w.writerow({k: printable(v) if isinstance(v, str) else v for k, v in r.items()})
    result["files"].append(str(out / "transfer.csv"))
    if plots:
        result["files"] += _plots(rows, within, transfer, out)
    result["files"].append(str(out / "transfer.json"))
    (out / "transfer.json").write_text(json.dumps(result, indent=1, default=str))
    return result


def _plots(rows: list[dict], within: str, transfer: str, out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from memscore.board_html import safe_file_name

    files = []
    for model in sorted({(r["model"], r["weights"]) for r in rows}):
        mine = sorted((r for r in rows if (r["model"], r["weights"]) == model), key=lambda r: r["depth"] or 0)
        fig, ax = plt.subplots(figsize=(5, 4), dpi=100)
        depth = [r["depth"] for r in mine]
        ax.plot(depth, [r["within"] for r in mine], marker="o", label=within)
        ax.plot(depth, [r["transfer"] for r in mine], marker="s", label=transfer)
        ax.set_xlabel("relative depth")
        ax.set_ylabel("Spearman ρ")
        ax.set_title(printable(f"{model[0]} ({model[1]})"), fontsize=9)
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = out / f"transfer_{safe_file_name(model[0] + '@' + model[1], always_hash=False)}.png"
        fig.savefig(path)
        plt.close(fig)
        files.append(str(path))
    return files
