"""Brain-Score's neural metrics: predictivity (a regression per fold, Pearson per site, median) and the
split-half ceiling (registration only)."""
from memscore import hookimpl


@hookimpl
def register_metrics(register):
    register("neural-pls", "memscore_plugins.metrics.neural.predictivity:NeuralPredictivity",
             description="Brain-Score neural predictivity: a regression (pls by default) per fold, Pearson per site, "
                         "median over sites", tags=["neural"])
    register("split-half", "memscore_plugins.metrics.neural.predictivity:SplitHalfCeiling",
             description="split-half internal consistency over repetitions, Spearman-Brown corrected, median over "
                         "sites (Brain-Score's internal_consistency ceiling)", tags=["neural", "ceiling"])
