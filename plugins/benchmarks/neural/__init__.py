"""The neural plugin: Brain-Score's public V1/V2/V4/IT recordings (BrainIO data sets) and the
``neural-v1/v2/v4/it`` benchmarks. Registration only (imports nothing heavy); the implementation is in
this folder (``benchmark``, ``data``, ``screen``, ``commitments``), its tests beside it."""
from memscore import hookimpl

_BENCH = "memscore_plugins.benchmarks.neural.benchmark:NeuralBenchmark"
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
    register("majajhong2015", "memscore_plugins.benchmarks.neural.data:MajajHong2015",
             description="MajajHong2015.public (BrainIO): macaque V4 + IT sites, 3,200 HvM images, 8°, 70-170 ms",
             tags=["neural"])
    register("freemanziemba2013", "memscore_plugins.benchmarks.neural.data:FreemanZiemba2013",
             description="FreemanZiemba2013.public (BrainIO): macaque V1 + V2 units, texture/noise images, 4°, "
                         "50-200 ms", tags=["neural"])


@hookimpl
def register_benchmarks(register):
    for region in ("V1", "V2", "V4", "IT"):
        register(f"neural-{region.lower()}", _BENCH, params={"region": region}, description=_DESC[region],
                 tags=["neural", "brainscore", "harada2023"], version="1")
