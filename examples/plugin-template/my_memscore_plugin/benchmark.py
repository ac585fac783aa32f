"""A layer-by-layer benchmark: supply the data and how one layer is scored; memscore does the rest."""
import csv

import numpy as np

from memscore.arguments import Arg
from memscore.fingerprint import digest
from memscore.layerwise import LayerBenchmark
from memscore.metrics import Fold, load_metric_for
from memscore.stimuli import Stimuli


class ImageScores(LayerBenchmark):
    identifier = "image-scores"
    arguments = (*LayerBenchmark.arguments, Arg("regression", str, "pls", "regression metric, by name"),
                 Arg("folds", int, 5, "cross-validation folds", min=2))

    def __init__(self, regression="pls", folds=5, **engine):
        super().__init__(**engine)
        self.regression, self.folds = regression, folds

    def config(self):
        return {**self.engine_config(), "regression": self.regression, "folds": self.folds}

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
        context.extra.update(y=loaded[1], plan=plan, fit=load_metric_for(self.regression, n_components=10),
                             rho=load_metric_for("spearman"))
        return context

    def score_layer(self, X, context):
        preds = [f.prediction for f in context.fit(X, context.y, context.plan)]
        rhos = [r.value for r in context.rho(preds, context.y, context.plan)]
        return {"value": float(np.mean(rhos)), "error": float(np.std(rhos, ddof=1)), "splits": rhos}
