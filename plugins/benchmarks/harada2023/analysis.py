"""Memorability vs brain similarity from stored scores (Harada & Sakai 2023: Figs. 2, 3, 4A, 4B, S1). No torch.

Every number comes from the result store (:meth:`ResultStore.query`, current rows only); no model runs.

``figures``  All of the paper's figures, each as ``<fig>.csv`` (one row per point), ``<fig>.json`` (rho, p, n per
             panel, what was left out and why) and a PNG scatter per panel, plus ``figures.json`` (an index):

             * ``fig2``  over all layers of all (non fine-tuned) models: layer memorability accuracy (``lamem-pls``
               per-layer value) vs layer similarity to V1 / V2 / V4 / IT (``neural-<r>`` per-layer value);
               paper 0.37 / 0.76 / 0.21 / 0.82. ``memorability=`` (``--memorability``) takes another set's
               ``*-pls`` runs; where they were made with ``shared_with=`` (scored on the test images they share
               with a stimulus set) and ``neural-<r>`` runs read that set, the panel is over those shared images
               (:func:`_fig2`; its ``images`` says so).
             * ``fig3``  across fine-tuned models ``finetuned:<model>@lamem<k>``: test memorability (the
               ``lamem-finetune`` row of split k) vs IT similarity of the fine-tuned model's penultimate layer
               (its own ``neural-it`` score, the row of ``meta.penultimate_layer``); paper 0.56.
             * ``fig4a`` / ``fig4b``  across ImageNet models: top-1 (the model registry's ``imagenet_top1``) vs IT
               similarity at the penultimate layer / at the best layer (max over layers); paper -0.39 / 0.57.
             * ``figS1``  across ImageNet models: top-1 vs fine-tuned memorability (``lamem-finetune`` value, the
               mean test rho over splits); the paper's rho is not given here (None).
``layers``   Fig. 2 (as ``layers.*``) plus per-model depth profiles: memorability and V1/V2/V4/IT similarity
             against relative depth (``profiles/<model>.png``, ``layers_profiles.csv``).
``models``   Across models: a memorability score (``lamem-pls`` by default) vs IT similarity at the penultimate and
             at the committed layer of the same (base) model. Not one of the paper's figures (Fig. 3 correlates
             *fine-tuned* models with their own penultimate layer: ``figures``), so no paper value is given.

Which stored runs are used (stale or mismatched data is never mixed): the policy of :mod:`memscore.selection`,
which the leaderboard's figures apply too, so both give one Fig. 2 rho for one store:

1. Only current rows (``store.query`` default); fine-tuned models (``finetuned:*``) only in Fig. 3.
2. Smoke runs (``--limit``) only with ``--include-smoke``; neural runs at ``metric=pls`` unless another is asked.
3. Per benchmark and panel, only runs on one data set: the most common ``meta.data.fingerprint`` among the
   runs the panel could use (ties: the most recent); runs on other data, and runs stored without a
   fingerprint while others have one, are left out and counted in the JSON (``left_out``).
4. Per (model, weights, model args, seed) the latest full run (no ``--limit``), else the latest run.
5. A figure joining two benchmarks joins runs whose model, weights, model args and seed agree (Fig. 3: the
   fine-tuned model's ``neural-it`` run with the fine-tuning run's seed, model args equal or none, and the
   fine-tuned model's own weights — an earlier export, by sha256, is stale). Every run left out is counted
   under its reason.
"""
from __future__ import annotations

import csv
import json
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from memscore.errors import MemscoreError
from memscore.record import RunRecord
from memscore.safetext import csv_row
from memscore.paths import safe_name
from memscore.scores import Score
from memscore.selection import LeftOut, Pick, _finite, _layer_value, _sort, join as _join, layer_points as _layer_pairs, pick, rank as _rank
from memscore.store import ResultStore

__all__ = ["PAPER", "PAPER_LAYERS", "PAPER_MODELS", "PAPER_SOURCE", "FIGURES", "latest", "layer_points",
           "model_points", "correlate", "analyze_layers", "analyze_models", "analyze_figures", "figure_panels",
           "scatter", "imagenet_top1"]

REGIONS = ("V1", "V2", "V4", "IT")
PAPER_SOURCE = ("Harada & Sakai (2023), Feature representations useful for predicting image memorability, "
                "arXiv 2303.07679")
#: the published Spearman rho per figure and panel (None: not reported / not known here)
PAPER: dict[str, dict[str, float | None]] = {
    "fig2": {"V1": 0.37, "V2": 0.76, "V4": 0.21, "IT": 0.82},
    "fig3": {"finetuned": 0.56},
    "fig4a": {"penultimate": -0.39},
    "fig4b": {"best": 0.57},
    "figS1": {"top1": None},
}
FIGURES = tuple(PAPER)
TITLES = {"fig2": "Fig. 2: layer memorability vs brain similarity (all layers)",
          "fig3": "Fig. 3: fine-tuned memorability vs IT similarity of the penultimate layer",
          "fig4a": "Fig. 4A: ImageNet top-1 vs IT similarity of the penultimate layer",
          "fig4b": "Fig. 4B: ImageNet top-1 vs IT similarity of the best layer",
          "figS1": "Fig. S1: ImageNet top-1 vs fine-tuned memorability"}
#: the paper's Fig. 2 (Spearman rho over all layers)
PAPER_LAYERS = PAPER["fig2"]
#: ``analyze models`` is not one of the paper's analyses (see the module docstring): no published value
PAPER_MODELS: dict[str, float | None] = {"penultimate": None, "best": None}

DEPTH_INDEX = "index/(n-1) in the stored row order (the rows carry no depth)"


# ---------------------------------------------------------------------------------------------
# which stored runs: memscore.selection's policy (the board's too); these read a run's record
# ---------------------------------------------------------------------------------------------
def _weights(s: Score) -> str:
    return RunRecord.of(s).weights


def _model_args(s: Score) -> str:
    return RunRecord.of(s).model_identity[2]


def _seed(s: Score) -> Any:
    return RunRecord.of(s).seed


def is_finetuned(model: str) -> bool:
    return model.startswith("finetuned:")


def base_model(model: str) -> str:
    """``finetuned:<model>@lamem<k>[-<hash8>]`` -> ``<model>``; other names unchanged."""
    return model[len("finetuned:"):].rsplit("@lamem", 1)[0] if is_finetuned(model) else model


class Stored:
    """The runs as the analysis reads them (a store's current rows, or :class:`memscore.selection.Runs` a board
    gathered), optionally of some models only (a fine-tuned model counts as its base model's), selected by
    :func:`memscore.selection.pick`."""

    def __init__(self, store, models: Iterable[str] | None = None, metric: str = "pls",
                 include_smoke: bool = False):
        self.store = store
        self.wanted = set(models) if models else None
        self.metric = metric  # the neural metric the analysis reads (runs of other metric= values are left out)
        self.include_smoke = include_smoke
        self._rows: dict[str, list[Score]] = {}

    def query(self, benchmark: str) -> list[Score]:
        if benchmark not in self._rows:
            self._rows[benchmark] = [s for s in self.store.query(benchmark=benchmark)
                                     if self.wanted is None or s.model in self.wanted
                                     or base_model(s.model) in self.wanted]
        return self._rows[benchmark]

    def pick(self, benchmark: str, left: LeftOut, relevant: Callable[[Score], bool] | None = None) -> Pick:
        return pick(self.query(benchmark), benchmark, left, relevant=relevant, where={"metric": self.metric},
                    include_smoke=self.include_smoke)


def _one_per_model(pick: Pick, left: LeftOut) -> dict[str, Score]:
    """One run per model (of several seeds / weights / args left after the other filters: full, newest)."""
    by_model: dict[str, list[Score]] = defaultdict(list)
    for s in pick.scores.values():
        by_model[s.model].append(s)
    out = {}
    for model, runs in sorted(by_model.items()):
        runs.sort(key=_rank, reverse=True)
        out[model] = runs[0]
        for _ in runs[1:]:
            left.add(pick.benchmark, "another run of the same model (other seed) is used: one point per model", model)
    return out


def latest(store: ResultStore, benchmark: str, models: Iterable[str] | None = None) -> dict[tuple[str, str], Score]:
    """The current score of ``benchmark`` per (model, weights): latest full run, else latest run."""
    wanted = set(models) if models else None
    out: dict[tuple[str, str], Score] = {}
    for s in store.query(benchmark=benchmark):
        if wanted is not None and s.model not in wanted:
            continue
        key = (s.model, _weights(s))
        old = out.get(key)
        if old is None or _rank(s) >= _rank(old):
            out[key] = s
    return out


def imagenet_top1(model: str) -> tuple[float | None, str]:
    """(ImageNet top-1 from the model registry's metadata, why it is None)."""
    from memscore import pluginmanager

    try:
        entry, args = pluginmanager.registry().get("model", model)
    except MemscoreError as exc:
        return None, f"not a registered model ({str(exc).splitlines()[0][:120]})"
    top1 = _finite(entry.meta.get("imagenet_top1")) if not args else None
    if top1 is None:
        return None, "the model registry has no ImageNet top-1 for it (`memscore list models --details`)"
    return top1, ""


# ---------------------------------------------------------------------------------------------
# panels
# ---------------------------------------------------------------------------------------------
@dataclass
class Panel:
    name: str
    x_label: str
    y_label: str
    points: list[dict[str, Any]] = field(default_factory=list)  # {"model", "weights", "layer"?, "x", "y", ...}
    paper: float | None = None
    rho: float | None = None
    p: float | None = None
    ci: list[float | None] | None = None  # seeded percentile bootstrap over the points (memscore.stats)
    p_perm: float | None = None  # two-sided permutation p
    left_out: LeftOut = field(default_factory=LeftOut)
    data: dict[str, Any] = field(default_factory=dict)  # benchmark -> Pick.info()
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.points)

    def summary(self) -> dict[str, Any]:
        return {"rho": self.rho, "p": self.p, "ci": self.ci, "p_perm": self.p_perm, "n": self.n,
                "paper_rho": self.paper,
                "models": len({(p["model"], p["weights"]) for p in self.points}),
                "x": self.x_label, "y": self.y_label, "data": self.data,
                "left_out": self.left_out.to_list(), "left_out_rows": len(self.left_out), **self.notes}


def correlate(panel: Panel) -> Panel:
    """Spearman rho (scipy.stats.spearmanr, tie-aware) of the panel's points, with a seeded bootstrap CI over the
    points and a permutation p (:func:`memscore.stats.rho_inference`, as the board's figures); None below 3."""
    panel.rho = panel.p = panel.ci = panel.p_perm = None
    if panel.n >= 3:
        from scipy.stats import spearmanr

        from memscore.stats import rho_inference

        x, y = [p["x"] for p in panel.points], [p["y"] for p in panel.points]
        res = spearmanr(x, y)
        rho, p = float(res.statistic), float(res.pvalue)
        panel.rho = rho if math.isfinite(rho) else None
        panel.p = p if math.isfinite(p) else None
        if panel.rho is not None:
            inf = rho_inference(x, y)
            panel.ci, panel.p_perm = [_finite(c) for c in inf["ci"]], _finite(inf["p_perm"])
    return panel


def _row(score: Score, layer: str | None) -> dict[str, Any] | None:
    """The per-layer row of ``layer`` (also when ``layer`` is listed as an alias of a row)."""
    if not layer:
        return None
    for r in score.layers:
        if r.get("layer") == layer:
            return r
    for r in score.layers:
        if layer in (r.get("aliases") or ()):
            return r
    return None


def _label(value: str) -> str:
    return "raw r" if value == "raw" else "ceiled"


def shared_images(s: Score) -> dict[str, Any] | None:
    """What a memorability run's test images were restricted to (``shared_with``: its ``meta.shared_with``, with
    the stimulus set's name and content digest ``stimuli``), or None for a run over its whole test sets."""
    d = s.meta.get("shared_with") if isinstance(s.meta, dict) else None
    return d if isinstance(d, dict) and d.get("stimuli") else None


def _stimuli_of(s: Score) -> str | None:
    """The content digest of the stimuli a neural run read (its data's ``stimuli`` part)."""
    parts = _data_of(s).get("parts")
    v = parts.get("stimuli") if isinstance(parts, dict) else None
    return str(v) if v else None


def _data_of(s: Score) -> dict[str, Any]:
    d = RunRecord.of(s).data
    return d if isinstance(d, dict) else {}


def is_imagenet_run(s: Score) -> bool:
    """A run Fig. 2 counts over each data set's own images (the leaderboard's Fig. 2 uses this too): not of a
    fine-tuned model, and not restricted to the images another set shares (``shared_with``: see :func:`_fig2`)."""
    return not is_finetuned(s.model) and shared_images(s) is None


def _usable(src: "Stored", s: Score) -> bool:
    """A run the selection could use (rule 2: no smoke run unless asked; a neural run at the metric read)."""
    rec = RunRecord.of(s)
    return not is_finetuned(s.model) and (src.include_smoke or not rec.smoke) and \
        (not s.benchmark.startswith("neural-") or str(rec.setting("metric", "pls")) == src.metric)


def shared_choice(src: "Stored", memorability: str, bench: str) -> tuple[dict[str, Any], str] | None:
    """The stimulus set a Fig. 2 panel is drawn on when both measures exist on the same images: among the
    ``memorability`` runs restricted to the images they share with a set (``shared_with``), a set whose content
    (``stimuli`` digest) is that of ``bench`` runs' neural data — the most such memorability runs, then the newest:
    (a run's ``meta.shared_with``, the neural data's name); None where there is none (each benchmark's own data)."""
    neural: dict[str, str] = {}
    for s in src.query(bench):
        d = _stimuli_of(s)
        if d and _usable(src, s):
            neural.setdefault(d, str(_data_of(s).get("name") or "?"))
    runs: dict[str, list[Score]] = defaultdict(list)
    for s in src.query(memorability):
        sh = shared_images(s)
        if sh and sh["stimuli"] in neural and _usable(src, s):
            runs[sh["stimuli"]].append(s)
    if not runs:
        return None
    best = max(runs, key=lambda d: (len(runs[d]), max(RunRecord.of(s).created for s in runs[d]), d))
    return shared_images(runs[best][0]), neural[best]


def _about(p: Pick) -> dict[str, Any]:
    """:meth:`Pick.info` and what data its runs read (name, counts; a restriction to shared images), from one."""
    out = p.info()
    s = next(iter(p.scores.values()), None)
    if s is not None:
        d = _data_of(s)
        out.update(data=d.get("name"), label=d.get("label"), counts=d.get("counts"))
        if shared_images(s):
            out["shared_with"] = {k: v for k, v in shared_images(s).items() if k != "source"}
    return out


def _fig2(src: Stored, value: str, memorability: str, regions: Iterable[str] = REGIONS,
          ) -> tuple[dict[str, Panel], dict[tuple, dict[str, Score]]]:
    """Fig. 2 panels and, per joined model key, its scores by benchmark (for the depth profiles).

    Same images, two measures: where ``memorability`` runs were restricted to the test images they share with a
    stimulus set (``shared_with``) and ``neural-<region>`` runs read neural data on that set (the same stimuli,
    by content), the panel is drawn on those shared images (:func:`shared_choice`): those runs only; the other
    memorability runs and the neural runs on other data are left out with the reason. Otherwise each benchmark's
    whole data (restricted memorability runs left out)."""
    panels: dict[str, Panel] = {}
    models: dict[tuple, dict[str, Score]] = defaultdict(dict)
    for region in regions:
        bench = f"neural-{region.lower()}"
        panel = Panel(region, f"{region} similarity ({_label(value)}, {bench})",
                      f"memorability accuracy ({memorability})",
                      paper=PAPER_LAYERS.get(region) if memorability == "lamem-pls" else None)  # the paper's: LaMem
        left = panel.left_out
        for s in src.query(memorability) + src.query(bench):
            if is_finetuned(s.model):
                left.add(s.benchmark, "a fine-tuned model: Fig. 2 is over ImageNet models (and a model fine-tuned "
                                      "on one LaMem split has seen other splits' test images)", s.model)
        chosen = shared_choice(src, memorability, bench)
        if chosen is None:
            for s in src.query(memorability):
                if not is_finetuned(s.model) and shared_images(s):
                    name = shared_images(s).get("name")
                    left.add(memorability, f"scored only on the test images shared with {name} (shared_with) and "
                                           f"no {bench} run here read that data: this panel is over each data "
                                           f"set's own images", s.model)
            mem = src.pick(memorability, left, is_imagenet_run)
            neural = src.pick(bench, left, is_imagenet_run)
            panel.notes["images"] = {"shared": False, "over": "each benchmark's own data"}
        else:
            sh, name = chosen
            on = sh["stimuli"]
            panel.paper = None  # the paper's rho is over other images (LaMem vs the HvM objects)

            def on_mem(s: Score) -> bool:
                return not is_finetuned(s.model) and (shared_images(s) or {}).get("stimuli") == on

            def on_neural(s: Score) -> bool:
                return not is_finetuned(s.model) and _stimuli_of(s) == on

            for s in src.query(memorability):
                if not is_finetuned(s.model) and not on_mem(s):
                    other = shared_images(s)
                    what = (f"scored on the test images shared with {other.get('name')}" if other
                            else "scored on all its test images")
                    left.add(memorability, f"{what}: this panel is over the images shared with {name} "
                                           f"(shared_with), the neural data of its {bench} runs", s.model)
            for s in src.query(bench):
                if not is_finetuned(s.model) and not on_neural(s):
                    left.add(bench, f"its neural data ({_data_of(s).get('name')}) is not {name}, the stimulus set "
                                    f"the {memorability} runs were restricted to (shared_with): this panel is over "
                                    f"their shared images", s.model)
            mem = src.pick(memorability, left, on_mem)
            neural = src.pick(bench, left, on_neural)
            sh = shared_images(next(iter(mem.scores.values()))) if mem.scores else sh  # the runs used say it
            panel.notes["images"] = {"shared": True, "over": f"the {memorability} test images that are stimuli of "
                                                             f"{name}, the neural data", "neural_data": name,
                                     "stimuli": on, "shared_test_images": sh.get("shared_test_images"),
                                     "splits": sh.get("splits"),
                                     "name_matches_other_content": sh.get("name_matches_other_content")}
        panel.data = {memorability: _about(mem), bench: _about(neural)}
        unmatched = 0
        for key in _join(mem, neural, left):
            models[key][memorability] = mem.scores[key]
            models[key][bench] = neural.scores[key]
            points, missing = _layer_pairs(neural.scores[key], mem.scores[key], value)
            panel.points += [{"model": key[0], "weights": key[1], **p} for p in points]
            unmatched += missing
        panel.notes["layers_without_both_values"] = unmatched
        panels[region] = correlate(panel)
    return panels, models


def _fig3(src: Stored, value: str) -> dict[str, Panel]:
    panel = Panel("finetuned", f"IT similarity of the fine-tuned penultimate layer ({_label(value)}, neural-it)",
                  "test memorability accuracy (lamem-finetune, split k)", paper=PAPER["fig3"]["finetuned"])
    left = panel.left_out
    ft = src.pick("lamem-finetune", left, is_imagenet_run)
    nit = src.pick("neural-it", left, lambda s: is_finetuned(s.model))
    panel.data = {"lamem-finetune": ft.info(), "neural-it": nit.info()}
    by_name: dict[str, list[Score]] = defaultdict(list)
    for s in nit.scores.values():
        by_name[s.model].append(s)
    used: set[str] = set()
    for key in _sort(ft.scores):
        f = ft.scores[key]
        for row in f.splits:
            name = row.get("model") or f"finetuned:{f.model}@lamem{row.get('split')}"
            y = _finite(row.get("value", row.get("test_rho")))
            if y is None:
                left.add("lamem-finetune", "the split has no finite test rho", name)
                continue
            cands = by_name.get(name, [])
            if not cands:
                left.add("lamem-finetune", "the fine-tuned model has no neural-it run", name)
                continue
            used.add(name)
            ok = []
            for c in cands:
                why = _finetuned_mismatch(c, f)
                if why:
                    left.add("neural-it", why, name)
                else:
                    ok.append(c)
            if not ok:
                continue
            ok.sort(key=_rank, reverse=True)
            c = ok[0]
            for _ in ok[1:]:
                left.add("neural-it", "another neural-it run of the same fine-tuned model is used", name)
            pen = c.meta.get("penultimate_layer")
            r = _row(c, pen)
            x = _layer_value(r, value) if r is not None else None
            if x is None:
                left.add("neural-it", "no value for the penultimate layer (meta.penultimate_layer missing or not in "
                                      "the per-layer table)", name)
                continue
            panel.points.append({"model": name, "weights": _weights(c), "layer": r["layer"], "x": x, "y": y,
                                 "base_model": f.model, "split": row.get("split")})
    for name in sorted(set(by_name) - used):
        for _ in by_name[name]:
            left.add("neural-it", "no lamem-finetune run (of the panel's data) names this fine-tuned model", name)
    return {"finetuned": correlate(panel)}


def _finetuned_mismatch(c: Score, f: Score) -> str:
    """Why the neural-it run ``c`` of a fine-tuned model does not belong to fine-tuning run ``f`` ('' if it does)."""
    w = _weights(c)
    if not (w == "default" or w.startswith("default:")):
        return f"the neural-it run used weights {w!r}, not the fine-tuned model's own"
    if _seed(c) != _seed(f):
        return "the neural-it run's seed differs from its fine-tuning run's"
    if _model_args(c) not in ("{}", _model_args(f)):
        return "the neural-it run's model args differ from its fine-tuning run's"
    m = re.fullmatch(r"default:sha256=([0-9a-f]+)", w)
    if m:
        from memscore import pluginmanager

        try:
            entry, args = pluginmanager.registry().get("model", c.model)
        except MemscoreError:
            entry, args = None, ()
        now = entry.meta.get("sha256") if entry is not None and not args else None
        if now and now != m.group(1):
            return "stale: the neural-it run scored an earlier export of the fine-tuned model (sha256 differs)"
    return ""


def _imagenet(pick: Pick, left: LeftOut, top1: Callable[[str], tuple[float | None, str]]
              ) -> dict[str, tuple[Score, float]]:
    """Per model: the run to use and its ImageNet top-1 (registered default weights, no model args)."""
    kept = Pick(pick.benchmark, fingerprint=pick.fingerprint, fingerprints=pick.fingerprints)
    for key, s in pick.scores.items():
        w = _weights(s)
        if not (w == "default" or w.startswith("default:")):
            left.add(pick.benchmark, "weights are not the registered default weights the ImageNet top-1 is for", s.model)
        elif _model_args(s) != "{}":
            left.add(pick.benchmark, "run with model args: the registry's ImageNet top-1 is for the model as "
                                     "registered", s.model)
        else:
            kept.scores[key] = s
    out = {}
    cache: dict[str, tuple[float | None, str]] = {}
    for model, s in _one_per_model(kept, left).items():
        t, why = cache.setdefault(model, top1(model))
        if t is None:
            left.add(pick.benchmark, why, model)
        else:
            out[model] = (s, t)
    return out


def _fig4(src: Stored, value: str, top1: Callable[[str], tuple[float | None, str]]) -> dict[str, dict[str, Panel]]:
    pen = Panel("penultimate", "ImageNet top-1 (%, model registry)",
                f"IT similarity of the penultimate layer ({_label(value)}, neural-it)", paper=PAPER["fig4a"]["penultimate"])
    best = Panel("best", "ImageNet top-1 (%, model registry)",
                 f"IT similarity of the best layer ({_label(value)}, max over layers, neural-it)",
                 paper=PAPER["fig4b"]["best"])
    for panel in (pen, best):
        left = panel.left_out
        nit = src.pick("neural-it", left, is_imagenet_run)
        panel.data = {"neural-it": nit.info()}
        for model, (s, t) in _imagenet(nit, left, top1).items():
            if panel is pen:
                r = _row(s, s.meta.get("penultimate_layer"))
                y = _layer_value(r, value) if r is not None else None
                if y is None:
                    left.add("neural-it", "no value for the penultimate layer (meta.penultimate_layer missing or not "
                                          "in the per-layer table)", model)
                    continue
                layer = r["layer"]
            else:
                vals = [(v, r.get("layer")) for r in s.layers if (v := _layer_value(r, value)) is not None]
                if vals:
                    y, layer = max(vals, key=lambda t_: t_[0])
                elif value != "raw" and _finite(s.value) is not None:
                    y, layer = float(s.value), s.meta.get("layer", "")
                else:
                    left.add("neural-it", "no per-layer values", model)
                    continue
            panel.points.append({"model": model, "weights": _weights(s), "layer": layer, "x": t, "y": y})
        correlate(panel)
    return {"fig4a": {"penultimate": pen}, "fig4b": {"best": best}}


def _figS1(src: Stored, top1: Callable[[str], tuple[float | None, str]]) -> dict[str, Panel]:
    panel = Panel("top1", "ImageNet top-1 (%, model registry)",
                  "fine-tuned memorability (lamem-finetune, mean test rho over splits)", paper=PAPER["figS1"]["top1"])
    left = panel.left_out
    ft = src.pick("lamem-finetune", left, is_imagenet_run)
    panel.data = {"lamem-finetune": ft.info()}
    for model, (s, t) in _imagenet(ft, left, top1).items():
        y = _finite(s.value)
        if y is None:
            left.add("lamem-finetune", "no finite value", model)
            continue
        panel.points.append({"model": model, "weights": _weights(s), "x": t, "y": y,
                             "splits": len(s.splits)})
    return {"top1": correlate(panel)}


def figure_panels(store: ResultStore | None = None, *, figures: Iterable[str] = FIGURES,
                  models: Iterable[str] | None = None, value: str = "value",
                  top1: Callable[[str], tuple[float | None, str]] = imagenet_top1,
                  include_smoke: bool = False, memorability: str = "lamem-pls") -> dict[str, dict[str, Panel]]:
    """The panels of the paper's figures from the stored scores: ``{figure: {panel: Panel}}`` (Fig. 2 with the
    ``memorability`` benchmark's per-layer values)."""
    src = Stored(store or ResultStore(), models, include_smoke=include_smoke)
    want = list(figures)
    out: dict[str, dict[str, Panel]] = {}
    for fig in want:
        if fig == "fig2":
            out[fig] = _fig2(src, value, memorability)[0]
        elif fig == "fig3":
            out[fig] = _fig3(src, value)
        elif fig in ("fig4a", "fig4b"):
            if fig not in out:
                out.update({k: v for k, v in _fig4(src, value, top1).items() if k in want})
        elif fig == "figS1":
            out[fig] = _figS1(src, top1)
        else:
            raise MemscoreError(f"unknown figure {fig!r}; the paper's figures are {', '.join(FIGURES)}")
    return {f: out[f] for f in want}


def layer_points(store: ResultStore, *, models: Iterable[str] | None = None, value: str = "value",
                 memorability: str = "lamem-pls", regions: Iterable[str] = REGIONS,
                 include_smoke: bool = False) -> dict[str, Panel]:
    """One panel per region: (similarity, memorability) for every layer scored on both (Fig. 2)."""
    return _fig2(Stored(store, models, include_smoke=include_smoke), value, memorability, regions)[0]


def model_points(store: ResultStore, *, models: Iterable[str] | None = None, value: str = "value",
                 memorability: str = "lamem-pls", region: str = "IT", include_smoke: bool = False) -> dict[str, Panel]:
    """Across models: memorability score vs region similarity at the penultimate and at the committed layer."""
    src = Stored(store, models, include_smoke=include_smoke)
    label = _label(value)
    bench = f"neural-{region.lower()}"
    pen = Panel("penultimate", f"{region} similarity of the penultimate layer ({label})",
                f"memorability ({memorability})", paper=PAPER_MODELS["penultimate"])
    best = Panel("best", f"{region} similarity of the best layer ({label})", f"memorability ({memorability})",
                 paper=PAPER_MODELS["best"])
    for panel in (pen, best):
        mem = src.pick(memorability, panel.left_out)
        neural = src.pick(bench, panel.left_out)
        panel.data = {memorability: mem.info(), bench: neural.info()}
        for key in _join(mem, neural, panel.left_out):
            s = neural.scores[key]
            y = _finite(mem.scores[key].value)
            if y is None:
                panel.left_out.add(memorability, "no finite value", key[0])
                continue
            layer = s.meta.get("penultimate_layer") if panel is pen else (s.meta.get("layer") or s.best_layer)
            r = _row(s, layer)
            x = _layer_value(r, value) if r is not None else None
            if x is None:
                panel.left_out.add(bench, f"no value for the {panel.name} layer", key[0])
                continue
            panel.points.append({"model": key[0], "weights": key[1], "layer": r["layer"], "x": x, "y": y})
        correlate(panel)
    return {"penultimate": pen, "best": best}


# ---------------------------------------------------------------------------------------------
# depth profiles
# ---------------------------------------------------------------------------------------------
def _depths(score: Score, known: dict[str, float]) -> tuple[list[float], str]:
    """Relative depth of each row of ``score.layers``: the rows' own ``depth``; else that of the same layer
    stored by another benchmark of the model; else index/(n-1) in the stored row order."""
    rows = score.layers
    own = [_finite(r.get("depth")) for r in rows]
    if rows and all(d is not None for d in own):
        return [float(d) for d in own], "stored"
    by_name = [known.get(r.get("layer")) for r in rows]
    if rows and all(d is not None for d in by_name):
        return [float(d) for d in by_name], "stored by another benchmark of the model (matched by layer name)"
    n = len(rows)
    return [i / (n - 1) if n > 1 else 0.0 for i in range(n)], DEPTH_INDEX


def profiles(models: dict[tuple, dict[str, Score]], value: str) -> list[dict[str, Any]]:
    """Per joined model: {model, weights, series: {benchmark: [(layer, depth, value)]}, depth: {benchmark: how}}."""
    out = []
    for key in _sort(models):
        scores = models[key]
        known: dict[str, float] = {}
        for s in scores.values():
            for r in s.layers:
                d = _finite(r.get("depth"))
                if d is not None:
                    known.setdefault(r.get("layer"), d)
        series, how = {}, {}
        order = {b: i for i, b in enumerate(["neural-v1", "neural-v2", "neural-v4", "neural-it"])}
        for bench, s in sorted(scores.items(), key=lambda t: (order.get(t[0], -1), t[0])):
            depths, how[bench] = _depths(s, known)
            v = "value" if bench.startswith("lamem") else value
            series[bench] = [(r.get("layer"), d, _layer_value(r, v)) for r, d in zip(s.layers, depths)]
        out.append({"model": key[0], "weights": key[1], "model_args": key[2], "seed": key[3],
                    "series": series, "depth": how})
    return out


# ---------------------------------------------------------------------------------------------
# plots and files
# ---------------------------------------------------------------------------------------------
def _plt():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MemscoreError("the analysis plots need matplotlib: pip install matplotlib (or pass --no-plots)") from None
    return plt


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2f}"


def scatter(panel: Panel, path: Path, *, title: str, size: tuple[float, float] = (5.0, 4.0), dpi: int = 100,
            paper: bool = False) -> Path:
    """A PNG scatter with a least-squares line; ``size`` in inches at ``dpi`` (default 500 × 400 pixels).
    ``paper``: the published rho beside ours in a box (upper left)."""
    plt = _plt()
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
        if paper:
            text = f"ours   ρ = {_fmt(panel.rho)} (n = {panel.n:,})\npaper ρ = " + (
                _fmt(panel.paper) if panel.paper is not None else "not reported")
            ax.text(0.02, 0.98, text, transform=ax.transAxes, va="top", ha="left", fontsize=8, family="monospace",
                    bbox={"boxstyle": "round", "facecolor": "lightyellow", "edgecolor": "0.5", "alpha": 0.9})
        ax.set_xlabel(panel.x_label, fontsize=8)
        ax.set_ylabel(panel.y_label, fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=7)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=dpi)  # no bbox="tight": the PNG is exactly size × dpi pixels
    finally:
        plt.close(fig)
    return path


def rho_bars(panels: dict[str, Panel], path: Path, *, title: str, paper: bool = False,
             size: tuple[float, float] = (5.0, 4.0), dpi: int = 100) -> Path:
    """Our rho per panel as bars (n below each), the published ones as markers with ``paper``."""
    plt = _plt()
    names = [k for k in panels if panels[k].n] or list(panels)  # a region with no data is no bar at 0
    fig, ax = plt.subplots(figsize=size, dpi=dpi)
    try:
        ours = [panels[k].rho if panels[k].rho is not None else 0.0 for k in names]
        ax.bar(range(len(names)), ours, color="C0", label="memscore")
        if paper:
            pts = [(i, panels[k].paper) for i, k in enumerate(names) if panels[k].paper is not None]
            if pts:
                ax.scatter([i for i, _ in pts], [v for _, v in pts], marker="D", color="k", zorder=3,
                           label="paper")
            ax.legend(fontsize=8, loc="best")
        ax.axhline(0, color="0.5", linewidth=0.8)
        ax.set_xticks(range(len(names)), [f"{k}\nn={panels[k].n:,}" for k in names], fontsize=8)
        ax.set_ylabel("Spearman ρ", fontsize=8)
        ax.set_ylim(min(-0.1, *[v - 0.1 for v in ours]), 1.0)
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=7)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=dpi)
    finally:
        plt.close(fig)
    return path


_REGION_COLOURS = {"neural-v1": "C0", "neural-v2": "C1", "neural-v4": "C2", "neural-it": "C3"}


def profile_plot(profile: dict[str, Any], path: Path, *, size: tuple[float, float] = (6.0, 5.0), dpi: int = 100) -> Path:
    """Memorability (top) and V1/V2/V4/IT similarity (bottom) against relative depth, one model."""
    plt = _plt()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=size, dpi=dpi, sharex=True)
    try:
        for bench, pts in profile["series"].items():
            pts = [(d, v) for _, d, v in pts if v is not None]
            pts.sort()
            ax = top if bench.startswith("lamem") else bottom
            colour = "k" if ax is top else _REGION_COLOURS.get(bench)
            label = bench if ax is top else bench.removeprefix("neural-").upper()
            ax.plot([d for d, _ in pts], [v for _, v in pts], marker="o", markersize=2.5, linewidth=1, color=colour,
                    label=label)
        top.set_ylabel("memorability ρ", fontsize=8)
        bottom.set_ylabel("similarity", fontsize=8)
        bottom.set_xlabel("relative depth (0 = first layer, 1 = last)", fontsize=8)
        bottom.set_xlim(-0.02, 1.02)
        for ax in (top, bottom):
            ax.tick_params(labelsize=7)
            if ax.lines:
                ax.legend(fontsize=7, loc="best")
        index = [b for b, how in profile["depth"].items() if how == DEPTH_INDEX]
        title = f"{profile['model']} ({profile['weights']})"
        if index:
            title += "\ndepth by row index: " + ", ".join(index)
        top.set_title(title, fontsize=9)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=dpi)
    finally:
        plt.close(fig)
    return path




def _title(panel: Panel, what: str, paper: bool = False) -> str:
    extra = f" (paper {_fmt(panel.paper)})" if paper and panel.paper is not None else ""
    return f"{what}: ρ = {_fmt(panel.rho)}{extra}, n = {panel.n:,}"


def _paper_block(panels: dict[str, Panel]) -> dict[str, Any]:
    return {"source": PAPER_SOURCE, "panels": {
        k: {"ours": p.rho, "paper": p.paper, "difference": None if p.rho is None or p.paper is None else p.rho - p.paper}
        for k, p in panels.items()}}


def _write(panels: dict[str, Panel], out: Path, name: str, extra: dict[str, Any], plots: bool,
           titles: dict[str, str], paper: bool = False, bars: str | None = None) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    extras = sorted({k for p in panels.values() for pt in p.points for k in pt}
                    - {"model", "weights", "layer", "x", "y"})
    with open(out / f"{name}.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(csv_row(["panel", "model", "weights", "layer", "x", "y", *extras]))
        for key, panel in panels.items():
            for p in panel.points:
                w.writerow(csv_row([key, p["model"], p["weights"], p.get("layer", ""), repr(p["x"]), repr(p["y"]),
                            *[p.get(k, "") for k in extras]]))
    files = [str(out / f"{name}.csv"), str(out / f"{name}.json")]
    if plots:
        for key, panel in panels.items():
            if panel.n:
                png = out / f"{name}_{key.lower()}.png" if len(panels) > 1 else out / f"{name}.png"
                files.append(str(scatter(panel, png, title=_title(panel, titles[key], paper), paper=paper)))
        if bars and any(p.rho is not None for p in panels.values()):
            files.append(str(rho_bars(panels, out / f"{name}_rho.png", title=bars, paper=paper)))
    result = {**extra, "panels": {k: p.summary() for k, p in panels.items()}}
    if len(panels) == 1:
        only = next(iter(panels.values()))
        result.update(rho=only.rho, p=only.p, ci=only.ci, p_perm=only.p_perm, n=only.n, paper_rho=only.paper)
    if paper:
        result["paper"] = _paper_block(panels)
    result["files"] = files
    (out / f"{name}.json").write_text(json.dumps(result, indent=1, default=str))
    return result


def _write_profiles(profs: list[dict[str, Any]], out: Path, plots: bool) -> dict[str, Any]:
    with open(out / "layers_profiles.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(csv_row(["model", "weights", "benchmark", "layer", "index", "depth", "depth_from", "value"]))
        for prof in profs:
            for bench, pts in prof["series"].items():
                for i, (layer, d, v) in enumerate(pts):
                    w.writerow(csv_row([prof["model"], prof["weights"], bench, layer, i, repr(d), prof["depth"][bench],
                                "" if v is None else repr(v)]))
    seen: Counter = Counter(safe_name(p["model"]) for p in profs)
    entries, files = [], [str(out / "layers_profiles.csv")]
    for i, prof in enumerate(profs):
        stem = safe_name(prof["model"])
        if seen[stem] > 1:
            stem += f"--{i}"
        png = None
        if plots:
            png = str(profile_plot(prof, out / "profiles" / f"{stem}.png"))
            files.append(png)
        entries.append({"model": prof["model"], "weights": prof["weights"], "png": png, "depth": prof["depth"],
                        "layers": {b: len(pts) for b, pts in prof["series"].items()}})
    how = Counter(h for p in profs for h in p["depth"].values())
    return {"depth": "relative depth in [0, 1]: the rows' stored 'depth' where they carry it (else that of the "
                     f"same layer stored by another benchmark of the model), else {DEPTH_INDEX}",
            "depth_from": dict(how), "models": entries, "files": files}


def analyze_layers(store: ResultStore | None = None, *, out: Path | str = "memscore-analysis",
                   models: Iterable[str] | None = None, value: str = "value", memorability: str = "lamem-pls",
                   plots: bool = True, paper: bool = False, depth_profiles: bool = True,
                   include_smoke: bool = False) -> dict[str, Any]:
    st = store or ResultStore()
    panels, joined = _fig2(Stored(st, models, include_smoke=include_smoke), value, memorability)
    if not any(p.n for p in panels.values()):
        raise MemscoreError(f"no stored layer has both a {memorability} and a neural-* score; run e.g. "
                            f"`memscore score -m MODEL -b {memorability}` and `-b neural-it` first")
    extra = {"analysis": "layers", "figure": "fig2", "memorability": memorability, "value": value}
    out = Path(out)
    result = _write(panels, out, "layers", extra, plots, {r: r for r in panels}, paper,
                    bars="Fig. 2: memorability vs similarity, over layers")
    if depth_profiles:
        result["profiles"] = _write_profiles(profiles(joined, value), out, plots)
        result["files"] += result["profiles"].pop("files")
        (out / "layers.json").write_text(json.dumps(result, indent=1, default=str))
    return result


def analyze_models(store: ResultStore | None = None, *, out: Path | str = "memscore-analysis",
                   models: Iterable[str] | None = None, value: str = "value", memorability: str = "lamem-pls",
                   region: str = "IT", plots: bool = True, paper: bool = False,
                   include_smoke: bool = False) -> dict[str, Any]:
    st = store or ResultStore()
    region = region.upper()
    panels = model_points(st, models=models, value=value, memorability=memorability, region=region,
                          include_smoke=include_smoke)
    if not any(p.n for p in panels.values()):
        raise MemscoreError(f"no stored model has both a {memorability} and a neural-{region.lower()} score; "
                            f"score them first")
    extra = {"analysis": "models", "memorability": memorability, "region": region, "value": value,
             "note": "not one of the paper's figures (no paper value): for Figs. 3, 4A/B, S1 run `memscore analyze "
                     "figures`"}
    titles = {"penultimate": f"{region}, penultimate layer", "best": f"{region}, best layer"}
    return _write(panels, Path(out), "models", extra, plots, titles, paper)


_MISSING = {
    "fig2": "no stored layer has both a {memorability} and a neural-<region> score of the same model, weights, "
            "model args and seed (`memscore score -m MODEL -b {memorability}`, `-b neural-it`, ...)",
    "fig3": "no fine-tuned model has both a lamem-finetune split score and its own neural-it score "
            "(`memscore score -m MODEL -b lamem-finetune`, then `-m finetuned:MODEL@lamem1 -b neural-it`)",
    "fig4a": "no ImageNet model (default weights, ImageNet top-1 in the registry) has a neural-it score",
    "fig4b": "no ImageNet model (default weights, ImageNet top-1 in the registry) has a neural-it score",
    "figS1": "no ImageNet model (default weights, ImageNet top-1 in the registry) has a lamem-finetune score",
}


def analyze_figures(store: ResultStore | None = None, *, out: Path | str = "memscore-figures",
                    figures: Iterable[str] = FIGURES, models: Iterable[str] | None = None, value: str = "value",
                    plots: bool = True, paper: bool = False,
                    top1: Callable[[str], tuple[float | None, str]] = imagenet_top1,
                    include_smoke: bool = False, memorability: str = "lamem-pls") -> dict[str, Any]:
    """Write every requested figure (``<fig>.csv``, ``<fig>.json``, PNGs) and ``figures.json`` (the index); Fig. 2
    with the ``memorability`` benchmark (on the images it shares with the neural data where its runs were
    restricted to them: :func:`_fig2`)."""
    figures = list(dict.fromkeys(figures))
    all_panels = figure_panels(store, figures=figures, models=models, value=value, top1=top1,
                               include_smoke=include_smoke, memorability=memorability)
    missing = {f: m.format(memorability=memorability) for f, m in _MISSING.items()}
    if not any(p.n for panels in all_panels.values() for p in panels.values()):
        raise MemscoreError("no stored scores for any of the requested figures: " + "; ".join(
            f"{f}: {missing[f]}" for f in figures))
    out = Path(out)
    index: dict[str, Any] = {"analysis": "figures", "value": value, "paper": paper, "memorability": memorability,
                             "figures": {}, "files": []}
    for fig, panels in all_panels.items():
        extra: dict[str, Any] = {"analysis": "figures", "figure": fig, "title": TITLES[fig], "value": value}
        if fig == "fig2":
            extra["memorability"] = memorability
        if not any(p.n for p in panels.values()):
            extra["missing"] = missing[fig]
        short = TITLES[fig].split(":")[0]
        titles = {k: (f"{short}, {k}" if len(panels) > 1 else short) for k in panels}
        result = _write(panels, out, fig, extra, plots, titles, paper,
                        bars=TITLES[fig] if len(panels) > 1 else None)
        index["figures"][fig] = {k: v for k, v in result.items() if k not in ("analysis", "files")}
        index["files"] += result["files"]
    if paper:
        index["paper_source"] = PAPER_SOURCE
    index["files"].append(str(out / "figures.json"))
    (out / "figures.json").write_text(json.dumps(index, indent=1, default=str))
    return index
