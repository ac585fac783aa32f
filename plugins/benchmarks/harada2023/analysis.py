"""Memorability vs brain similarity from stored scores (Harada & Sakai 2023, Figs. 2-4). Imports no torch.

``layers``  Over every stored layer that has both a memorability score (``lamem-pls`` per-layer table) and
            a region score (``neural-<r>`` per-layer table) of the same model and weights: Spearman rho between
            layer memorability accuracy and similarity to each region (the paper's Fig. 2: V1 0.37, V2 0.76,
            V4 0.21, IT 0.82 over 16,860 layers of 64 models).
``models``  Across models: the model's memorability score against its IT similarity at the penultimate
            layer and at its best (committed) layer (the paper's Figs. 3 and 4).

Each writes ``<out>/<name>.csv`` (one row per point), ``<out>/<name>.json`` (rho, p, n per panel, and the
paper's value) and one PNG scatter per panel (regression line; rho and n in the title).
For each (model, weights, benchmark) the current stored score is used: the most recent full run (no
``--limit``), else the most recent run.
"""
from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from memscore.errors import MemscoreError
from memscore.scores import Score
from memscore.store import ResultStore

__all__ = ["PAPER_LAYERS", "PAPER_MODELS", "latest", "layer_points", "model_points", "correlate", "analyze_layers",
           "analyze_models", "scatter"]

REGIONS = ("V1", "V2", "V4", "IT")
#: the paper's Fig. 2 (Spearman rho over all layers)
PAPER_LAYERS = {"V1": 0.37, "V2": 0.76, "V4": 0.21, "IT": 0.82}
#: the paper's Figs. 3/4 (fine-tuned models: memorability vs IT similarity of the penultimate layer;
#: ImageNet models: object-recognition accuracy vs IT similarity, penultimate / best layer)
PAPER_MODELS = {"penultimate": 0.56, "best": None}


def _full(s: Score) -> bool:
    return s.meta.get("config", {}).get("limit") is None


def latest(store: ResultStore, benchmark: str, models: Iterable[str] | None = None) -> dict[tuple[str, str], Score]:
    """The current score of ``benchmark`` per (model, weights): latest full run, else latest run."""
    wanted = set(models) if models else None
    out: dict[tuple[str, str], Score] = {}
    for s in store.query(benchmark=benchmark):
        if wanted is not None and s.model not in wanted:
            continue
        key = (s.model, str(s.meta.get("weights", "")))
        old = out.get(key)
        if old is None or (_full(s), s.meta.get("created", 0)) >= (_full(old), old.meta.get("created", 0)):
            out[key] = s
    return out


def _layer_value(row: dict[str, Any], value: str) -> float | None:
    v = row.get("raw") if value == "raw" else row.get("value")
    if value == "raw" and v is None:
        v = row.get("value")
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return None
    return float(v)


@dataclass
class Panel:
    name: str
    x_label: str
    y_label: str
    points: list[dict[str, Any]] = field(default_factory=list)  # {"model", "weights", "layer"?, "x", "y"}
    paper: float | None = None
    rho: float | None = None
    p: float | None = None

    @property
    def n(self) -> int:
        return len(self.points)

    def summary(self) -> dict[str, Any]:
        return {"rho": self.rho, "p": self.p, "n": self.n, "paper_rho": self.paper,
                "models": len({(p["model"], p["weights"]) for p in self.points}),
                "x": self.x_label, "y": self.y_label}


def correlate(panel: Panel) -> Panel:
    """Spearman rho (scipy.stats.spearmanr, tie-aware) of the panel's points; None below 3 points."""
    if panel.n >= 3:
        from scipy.stats import spearmanr

        res = spearmanr([p["x"] for p in panel.points], [p["y"] for p in panel.points])
        rho, p = float(res.statistic), float(res.pvalue)
        panel.rho = rho if math.isfinite(rho) else None
        panel.p = p if math.isfinite(p) else None
    return panel


def layer_points(store: ResultStore, *, models: Iterable[str] | None = None, value: str = "value",
                 memorability: str = "lamem-pls", regions: Iterable[str] = REGIONS) -> dict[str, Panel]:
    """One panel per region: (similarity, memorability) for every layer scored on both."""
    mem = latest(store, memorability, models)
    label = "raw r" if value == "raw" else "ceiled"
    panels = {}
    for region in regions:
        panel = Panel(region, f"{region} similarity ({label}, neural-{region.lower()})",
                      f"memorability accuracy ({memorability})", paper=PAPER_LAYERS.get(region))
        neural = latest(store, f"neural-{region.lower()}", models)
        for key in sorted(set(mem) & set(neural)):
            m_rows = {r["layer"]: r for r in mem[key].layers}
            for row in neural[key].layers:
                x = _layer_value(row, value)
                y = _layer_value(m_rows[row["layer"]], "value") if row["layer"] in m_rows else None
                if x is not None and y is not None:
                    panel.points.append({"model": key[0], "weights": key[1], "layer": row["layer"], "x": x, "y": y})
        panels[region] = correlate(panel)
    return panels


def model_points(store: ResultStore, *, models: Iterable[str] | None = None, value: str = "value",
                 memorability: str = "lamem-pls", region: str = "IT") -> dict[str, Panel]:
    """Across models: memorability score vs region similarity at the penultimate and at the best layer."""
    mem = latest(store, memorability, models)
    neural = latest(store, f"neural-{region.lower()}", models)
    label = "raw r" if value == "raw" else "ceiled"
    pen = Panel("penultimate", f"{region} similarity of the penultimate layer ({label})",
                f"memorability ({memorability})", paper=PAPER_MODELS["penultimate"] if region == "IT" else None)
    best = Panel("best", f"{region} similarity of the best layer ({label})", f"memorability ({memorability})",
                 paper=PAPER_MODELS["best"] if region == "IT" else None)
    for key in sorted(set(mem) & set(neural)):
        s = neural[key]
        y = mem[key].value
        if y is None or not math.isfinite(y):
            continue
        rows = {r["layer"]: r for r in s.layers}
        layer = s.meta.get("penultimate_layer")
        if layer in rows and (x := _layer_value(rows[layer], value)) is not None:
            pen.points.append({"model": key[0], "weights": key[1], "layer": layer, "x": x, "y": float(y)})
        committed = s.meta.get("layer") or s.best_layer
        if committed in rows and (x := _layer_value(rows[committed], value)) is not None:
            best.points.append({"model": key[0], "weights": key[1], "layer": committed, "x": x, "y": float(y)})
    return {"penultimate": correlate(pen), "best": correlate(best)}


def scatter(panel: Panel, path: Path, *, title: str, size: tuple[float, float] = (5.0, 4.0), dpi: int = 100) -> Path:
    """A PNG scatter with a least-squares line; ``size`` in inches at ``dpi`` (default 500 × 400 pixels)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MemscoreError("the analysis plots need matplotlib: pip install matplotlib (or pass --no-plots)") from None
    import numpy as np

    x = np.array([p["x"] for p in panel.points], dtype=float)
    y = np.array([p["y"] for p in panel.points], dtype=float)
    fig, ax = plt.subplots(figsize=size, dpi=dpi)
    try:
        ax.scatter(x, y, s=6 if len(x) > 500 else 14, alpha=0.5 if len(x) > 500 else 0.8, linewidths=0)
        if len(x) >= 2 and np.ptp(x) > 0:
            slope, intercept = np.polyfit(x, y, 1)
            xs = np.linspace(x.min(), x.max(), 2)
            ax.plot(xs, slope * xs + intercept, color="C3", linewidth=1.5)
        ax.set_xlabel(panel.x_label, fontsize=8)
        ax.set_ylabel(panel.y_label, fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.tick_params(labelsize=7)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=dpi)  # no bbox="tight": the PNG is exactly size × dpi pixels
    finally:
        plt.close(fig)
    return path


def _title(panel: Panel, what: str) -> str:
    rho = "n/a" if panel.rho is None else f"{panel.rho:.2f}"
    paper = f" (paper {panel.paper:.2f})" if panel.paper is not None else ""
    return f"{what}: ρ = {rho}{paper}, n = {panel.n:,}"


def _write(panels: dict[str, Panel], out: Path, name: str, extra: dict[str, Any], plots: bool,
           titles: dict[str, str]) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / f"{name}.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["panel", "model", "weights", "layer", "x", "y"])
        for key, panel in panels.items():
            for p in panel.points:
                w.writerow([key, p["model"], p["weights"], p.get("layer", ""), repr(p["x"]), repr(p["y"])])
    files = [str(out / f"{name}.csv"), str(out / f"{name}.json")]
    if plots:
        for key, panel in panels.items():
            if panel.n:
                files.append(str(scatter(panel, out / f"{name}_{key.lower()}.png", title=_title(panel, titles[key]))))
    result = {**extra, "panels": {k: p.summary() for k, p in panels.items()}, "files": files}
    (out / f"{name}.json").write_text(json.dumps(result, indent=1))
    return result


def analyze_layers(store: ResultStore | None = None, *, out: Path | str = "memscore-analysis",
                   models: Iterable[str] | None = None, value: str = "value", memorability: str = "lamem-pls",
                   plots: bool = True) -> dict[str, Any]:
    st = store or ResultStore()
    panels = layer_points(st, models=models, value=value, memorability=memorability)
    if not any(p.n for p in panels.values()):
        raise MemscoreError(f"no stored layer has both a {memorability} and a neural-* score; run e.g. "
                            f"`memscore score -m MODEL -b {memorability}` and `-b neural-it` first")
    extra = {"analysis": "layers", "memorability": memorability, "value": value}
    return _write(panels, Path(out), "layers", extra, plots, {r: r for r in panels})


def analyze_models(store: ResultStore | None = None, *, out: Path | str = "memscore-analysis",
                   models: Iterable[str] | None = None, value: str = "value", memorability: str = "lamem-pls",
                   region: str = "IT", plots: bool = True) -> dict[str, Any]:
    st = store or ResultStore()
    region = region.upper()
    panels = model_points(st, models=models, value=value, memorability=memorability, region=region)
    if not any(p.n for p in panels.values()):
        raise MemscoreError(f"no stored model has both a {memorability} and a neural-{region.lower()} score; "
                            f"score them first")
    extra = {"analysis": "models", "memorability": memorability, "region": region, "value": value}
    titles = {"penultimate": f"{region}, penultimate layer", "best": f"{region}, best layer"}
    return _write(panels, Path(out), "models", extra, plots, titles)
