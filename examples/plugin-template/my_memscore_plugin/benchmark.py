"""A layer-by-layer benchmark: its data (a folder of images and scores.csv) and how one layer is scored.

The declared arguments are the benchmark's parameters (``self.regression``, ``self.folds``) and its config;
memscore runs every layer in one pass, builds the table, picks the best layer and stores the run."""
import csv

import numpy as np

from memscore.arguments import Arg
from memscore.fingerprint import digest
from memscore.layerwise import LayerBenchmark
from memscore.metrics import Fold, load_metric_for
from memscore.stimuli import Stimuli


class ImageScores(LayerBenchmark):
    identifier = "image-scores"
    data_sets = ("image-scores",)  # --data-root image-scores=PATH (or --data-root PATH)
    arguments = (*LayerBenchmark.arguments, Arg("regression", str, "pls", "regression metric, by name"),
                 Arg("folds", int, 5, "cross-validation folds", min=2))

    def load(self, options):
        rows = list(csv.reader((options.data_root / "scores.csv").read_text().splitlines()))[1:][: options.limit]
        return [r[0] for r in rows], np.array([float(r[1]) for r in rows])

    def stimuli(self, loaded, options):
        return Stimuli.from_paths([options.data_root / f for f in loaded[0]], loaded[0])

    def data_parts(self, loaded, options):
        return {"scores": digest(*loaded)}

    def prepare(self, loaded, stimuli, context, options):
        idx = np.flatnonzero(context.keep)
        plan = [Fold(np.setdiff1d(idx, t), t) for t in np.array_split(idx, self.folds)]
        context.extra.update(y=loaded[1], plan=plan, fit=load_metric_for(self.regression, n_components=10))
        return context

    def score_layer(self, X, context):
        fits = context.fit(X, context.y, context.plan)
        rhos = [r.value for r in load_metric_for("spearman")([f.prediction for f in fits], context.y, context.plan)]
        return {"value": float(np.mean(rhos)), "error": float(np.std(rhos, ddof=1)), "splits": rhos}
