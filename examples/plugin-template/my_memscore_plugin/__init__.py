"""A memscore plugin is a folder: this file only registers names (no torch import, so listing is fast);
model.py, benchmark.py and metric.py implement them; test_plugin.py checks them with memscore.testing."""
from memscore import hookimpl


@hookimpl
def register_models(register):
    register("my-net", "my_memscore_plugin.model:build", description="a small example CNN", tags=["example"])


@hookimpl
def register_benchmarks(register):
    register("image-scores", "my_memscore_plugin.benchmark:ImageScores", version="1", tags=["example"],
             description="every layer: cross-validated regression to the scores in <data-root>/scores.csv")


@hookimpl
def register_metrics(register):
    register("ridge", "my_memscore_plugin.metric:Ridge", description="ridge regression (sklearn)",
             tags=["regression"])
