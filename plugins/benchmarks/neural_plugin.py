"""Registers the neural data sets, the neural-* and lamem-it benchmarks and the neural-pls metric
(imports nothing heavy)."""
from memscore import hookimpl

_BENCH = "memscore_plugins.benchmarks.neural:NeuralBenchmark"
_DESC = {
    "V1": "every layer: Brain-Score V1 predictivity (FreemanZiemba2013.public, PLS-25, 10 splits, ceiled r²/c); "
          "commits the best layer to V1",
    "V2": "every layer: Brain-Score V2 predictivity (FreemanZiemba2013.public, PLS-25, 10 splits, ceiled r²/c); "
          "commits the best layer to V2",
    "V4": "every layer: Brain-Score V4 predictivity (MajajHong2015.public, PLS-25, 10 splits, ceiled r²/c); "
          "commits the best layer to V4",
    "IT": "every layer: Brain-Score IT predictivity (MajajHong2015.public, PLS-25, 10 splits, ceiled r²/c); "
          "commits the best layer to IT",
}


@hookimpl
def register_datasets(register):
    register("majajhong2015", "memscore_plugins.benchmarks.neural_data:MajajHong2015",
             description="MajajHong2015.public (BrainIO): macaque V4 + IT sites, 3,200 HvM images, 8°, 70-170 ms",
             tags=["neural"])
    register("freemanziemba2013", "memscore_plugins.benchmarks.neural_data:FreemanZiemba2013",
             description="FreemanZiemba2013.public (BrainIO): macaque V1 + V2 units, texture/noise images, 4°, "
                         "50-200 ms", tags=["neural"])


@hookimpl
def register_benchmarks(register):
    for region in ("V1", "V2", "V4", "IT"):
        register(f"neural-{region.lower()}", _BENCH, params={"region": region}, description=_DESC[region],
                 tags=["neural", "brainscore", "harada2023"], version="1")
    register("lamem-it", "memscore_plugins.benchmarks.lamem_it:LamemIT",
             description="memorability (as lamem-pls) at the layer the model commits to IT (neural-it)",
             tags=["memorability", "neural", "harada2023"], version="1")


@hookimpl
def register_metrics(register):
    register("neural-pls", "memscore_plugins.metrics.neural_predictivity:NeuralPredictivity",
             description="Brain-Score neural predictivity: a regression (pls by default) per fold, Pearson per site, "
                         "median over sites", tags=["neural"])
    register("split-half", "memscore_plugins.metrics.neural_predictivity:SplitHalfCeiling",
             description="split-half internal consistency over repetitions, Spearman-Brown corrected, median over "
                         "sites (Brain-Score's internal_consistency ceiling)", tags=["neural", "ceiling"])
