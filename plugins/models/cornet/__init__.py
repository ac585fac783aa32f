"""CORnet-Z/R/RT/S (Kubilius et al. 2019), written here and loading the published weights: the
``cornet:<z|r|rt|s>`` family (registration only; the paper's plain names come from the zoo plugin)."""
from memscore import hookimpl


@hookimpl
def register_models(register):
    register.prefix("cornet", "memscore_plugins.models.cornet.model:build",
                    description="CORnet, e.g. cornet:s or cornet:r (--model-args times=N for R/RT)",
                    tags=["cornet"], source="cornet")
