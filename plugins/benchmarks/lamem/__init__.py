"""Registers the LaMem data set and the LaMem benchmarks (imports nothing heavy)."""
from memscore import hookimpl


@hookimpl
def register_datasets(register):
    register("lamem", "memscore_plugins.benchmarks.lamem.data:LaMem",
             description="LaMem memorability data set (Khosla et al. 2015): 58,741 images, 5 splits",
             tags=["memorability"])


@hookimpl
def register_benchmarks(register):
    register("lamem-pls", "memscore_plugins.benchmarks.lamem.benchmark:LamemPLS",
             description="every layer: PLS-25 to LaMem scores, train_k -> Spearman on test_k, mean over 5 splits",
             tags=["memorability", "harada2023"], version="1")
    register("lamem-magnitude", "memscore_plugins.benchmarks.lamem.magnitude:LamemMagnitude",
             description="every layer: Spearman between each test image's response magnitude (L2 norm of the "
                         "layer's output) and its LaMem score, no fitting; mean over 5 splits",
             tags=["memorability"], version="1")
