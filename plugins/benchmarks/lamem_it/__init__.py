"""The ``lamem-it`` benchmark: memorability at the layer a model commits to IT (registration only)."""
from memscore import hookimpl


@hookimpl
def register_benchmarks(register):
    register("lamem-it", "memscore_plugins.benchmarks.lamem_it.benchmark:LamemIT",
             description="memorability (as lamem-pls) at the layer the model commits to IT (neural-it)",
             tags=["memorability", "neural", "harada2023"], version="1")
