"""Memorability benchmarks on data sets besides LaMem.

* ``memcat-pls``, ``memorability-csv-pls``: the `lamem-pls` protocol unchanged (PCA from the same reference
  rule, PLS-25 fitted on train_k, Spearman on test_k, mean ± sd over splits, ``select=test|val``) on the
  data set's seeded or given splits.
* ``lamem-to-memcat``, ``lamem-to-csv``: transfer. For each LaMem split k the readout is fitted on LaMem's
  train_k and predicts LaMem's val_k and every image of the target set; a layer's value is the mean over k of
  Spearman's rho on the target set, and the reported layer is the one best on **LaMem's val images** — never
  chosen on the target. LaMem's activations are those `lamem-pls select=val` computes (the same stimuli and
  PCA reference: its cache serves them); the target set is projected on the same PCA basis.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from memscore.arguments import Arg
from memscore.benchmark import RunOptions
from memscore.errors import OptionError
from memscore.fingerprint import digest
from memscore.layerwise import Context, LayerBenchmark
from memscore.stimuli import Stimuli
from memscore_plugins.benchmarks.lamem.benchmark import LamemPLS, part_rows, splits_arg

from .data import MEMCAT_SCORE  # declared with the data set


def _memcat(root, score):
    from .data import MemCat

    return MemCat(root, score=score)


def _csv(root, score=None):
    from .data import MemorabilityCSV

    return MemorabilityCSV(root)


class MemcatPLS(LamemPLS):
    human_consistency = None  # not given here: a published MemCat figure is to be added with its source
    identifier = "memcat-pls"
    data_sets = ("memcat",)
    version = "1"
    arguments = (*LamemPLS.arguments, MEMCAT_SCORE)

    def open_data(self, options: RunOptions):
        return _memcat(options.data_root, self.score)


class CsvPLS(LamemPLS):
    human_consistency = None  # anyone's data: no published consistency
    identifier = "memorability-csv-pls"
    data_sets = ("memorability-csv",)
    version = "1"

    def open_data(self, options: RunOptions):
        return _csv(options.data_root)


class LamemTransfer(LayerBenchmark):
    """Readout fitted on LaMem, layer chosen on LaMem's val split, scored on a target set (see the module
    docstring). A subclass names the target (``target``, its ``data_sets`` entry) and opens it."""

    target = ""
    version = "1"
    arguments = (
        splits_arg("LaMem splits whose train part fits a readout"),
        Arg("n_components", int, 25, "PLS components", min=1),
        *LayerBenchmark.arguments,
        Arg("regression", str, "pls", "regression metric, by name", keyed="changed"),
    )

    def open_target(self, options: RunOptions):
        raise NotImplementedError

    def load(self, options: RunOptions):
        """LaMem (as `lamem-pls select=val` reads it: the same stimuli), its train and val parts, the target."""
        from memscore_plugins.benchmarks.lamem.data import LaMem

        lamem = LaMem(options.data_root)  # the benchmark's own root: --data-root lamem=PATH (or PATH)
        parts = {k: (lamem.read_part("train", k), lamem.read_part("test", k)) for k in self.splits}
        vals = {k: lamem.read_part("val", k) for k in self.splits}
        names = sorted({n for tr, te in parts.values() for n in (*tr.names, *te.names)}
                       | {n for va in vals.values() for n in va.names})
        target = self.open_target(options)
        t_names, t_scores, _, _ = target.rows()
        if options.limit:
            names, t_names = names[: int(options.limit)], list(t_names[: int(options.limit)])
            t_scores = t_scores[: len(t_names)]
        for k in self.splits:
            kept = set(names)
            n_tr, n_va = sum(n in kept for n in parts[k][0].names), sum(n in kept for n in vals[k].names)
            if n_tr <= self.n_components or n_va < 3:
                raise OptionError(f"LaMem split {k}: {n_tr} train / {n_va} val images left (--limit too small?); "
                                  f"need more than {self.n_components} train and 3 val images")
        if len(t_names) < 3:
            raise OptionError(f"{self.identifier}: {len(t_names)} target images; need at least 3")
        stimuli = Stimuli.from_paths([lamem.image_path(n) for n in names], names)
        t_stimuli = Stimuli.from_paths([target.image_path(n) for n in t_names], list(t_names))
        return lamem, parts, vals, stimuli, target, t_stimuli, np.asarray(t_scores, dtype=np.float64)

    def stimuli(self, loaded, options: RunOptions) -> Stimuli:
        return loaded[3]

    def other_stimuli(self, loaded, options: RunOptions) -> dict[str, Stimuli]:
        return {self.target: loaded[5]}

    def data_parts(self, loaded, options: RunOptions) -> dict[str, str]:
        _, parts, vals, _, target, t_stimuli, t_scores = loaded
        out = {f"{p}_{k}": digest(part.names, np.asarray(part.scores, dtype=np.float64))
               for k, pair in parts.items() for p, part in zip(("train", "test"), pair)}
        out |= {f"val_{k}": digest(part.names, np.asarray(part.scores, dtype=np.float64)) for k, part in vals.items()}
        return out | {f"{self.target}_scores": digest(list(t_stimuli.ids), t_scores)}

    def data(self, options: RunOptions):
        info = super().data(options)
        lamem, _, _, stimuli, target, t_stimuli, _ = self.loaded(options)
        info.name, info.root = f"lamem+{self.target}", str(target.root)
        info.counts = {"images": len(stimuli), f"{self.target}_images": len(t_stimuli)}
        return info

    def prepare(self, loaded, stimuli: Stimuli, context: Context, options: RunOptions) -> Context:
        from memscore.metrics import Fold, load_metric_for

        _, parts, vals, _, _, t_stimuli, t_scores = loaded
        bad = set(context.other[self.target].bad)
        t_keep = np.array([s not in bad for s in t_stimuli.ids], dtype=bool)
        row = {sid: i for i, sid in enumerate(stimuli.ids) if context.keep[i]}
        n = len(stimuli)
        t_rows = np.flatnonzero(t_keep)
        plan, targets = [], []
        for k in self.splits:
            (tr, tr_y), (va, va_y) = part_rows(parts[k][0], row), part_rows(vals[k], row)
            y = np.full(n + len(t_stimuli), np.nan)
            y[tr], y[va] = tr_y, va_y
            y[n + t_rows] = t_scores[t_rows]
            plan.append((Fold(tr, np.concatenate([va, n + t_rows])), len(va)))
            targets.append(y)
        context.extra.update(plan=plan, targets=targets, n=n, t_rows=t_rows, t_ids=tuple(t_stimuli.ids[i] for i in t_rows),
                             t_scores=t_scores[t_rows], n_target=int(t_keep.sum()),
                             regression=load_metric_for(self.regression, n_components=self.n_components,
                                                        device=context.device))
        return context

    def score_layer(self, X: np.ndarray, context: Context) -> dict[str, Any]:
        from memscore.items import items_of
        from memscore.stats import correlation

        Xt = np.asarray(context.other[self.target][context.layer])
        fits = context.regression(np.concatenate([X, Xt]), context.targets, [f for f, _ in context.plan])
        val, on_target, preds = [], [], []
        for (fold, n_val), fit, y in zip(context.plan, fits, context.targets):
            p = np.asarray(fit.prediction)
            val.append(correlation(p[:n_val], y[fold.test[:n_val]]))
            preds.append(p[n_val:])
            on_target.append(correlation(p[n_val:], context.t_scores))
        return {"value": float(np.mean(on_target)),
                "error": float(np.std(on_target, ddof=1)) if len(on_target) > 1 else None,
                "splits": [float(r) for r in on_target], "val": float(np.mean(val)), "val_splits": val,
                "_items": items_of([(k, context.t_ids, p, context.t_scores) for k, p in zip(self.splits, preds)],
                                   layer=None)}

    def rank(self, row: dict[str, Any]) -> float:
        return row["val"]  # LaMem's val split, never the target

    def test_images(self, loaded) -> dict[str, set[str]]:
        return {self.target: set(loaded[5].ids)}

    def summary(self, best: dict[str, Any], context: Context) -> dict[str, Any]:
        top = max(context.table, key=lambda r: r["value"] if np.isfinite(r["value"]) else -np.inf)
        return {"ceiling": None, "raw": best["value"],
                "splits": [{"split": k, "value": r, "lamem_val": v}
                           for k, r, v in zip(self.splits, best["splits"], best["val_splits"])],
                "meta": {"select": "lamem-val", "val_value": best["val"], "n_target": context.n_target,
                         "best_on_target": {"layer": top["layer"], "value": top["value"]}}}


class LamemToMemcat(LamemTransfer):
    identifier = "lamem-to-memcat"
    target = "memcat"
    data_sets = ("lamem", "memcat")
    arguments = (*LamemTransfer.arguments, MEMCAT_SCORE)

    def open_target(self, options: RunOptions):
        return _memcat(options.root_for("memcat"), self.score)


class LamemToCsv(LamemTransfer):
    identifier = "lamem-to-csv"
    target = "memorability-csv"
    data_sets = ("lamem", "memorability-csv")

    def open_target(self, options: RunOptions):
        return _csv(options.root_for("memorability-csv"))
