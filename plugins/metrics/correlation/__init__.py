"""Registers the correlation metrics (imports nothing heavy)."""
from memscore import hookimpl


@hookimpl
def register_metrics(register):
    register("spearman", "memscore_plugins.metrics.correlation.correlation:SpearmanMetric",
             description="tie-aware Spearman rank correlation (as scipy.stats.spearmanr)", tags=["correlation"])
    register("pearson", "memscore_plugins.metrics.correlation.correlation:PearsonMetric",
             description="Pearson correlation, per column for matrices", tags=["correlation"])
