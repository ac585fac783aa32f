"""Registers the PLS regression metric (imports nothing heavy)."""
from memscore import hookimpl


@hookimpl
def register_metrics(register):
    register(
        "pls",
        "memscore_plugins.metrics.pls.pls:PLSMetric",
        description="PLS regression, 25 components, sklearn PLSRegression(scale=False) semantics; "
        "batched over folds, CPU or GPU",
        tags=["regression"],
    )
