"""The entry-point module: it only registers names, so `memscore list` stays fast (no torch import)."""
from memscore import hookimpl


@hookimpl
def register_models(register):
    register(
        "my-net",
        "my_memscore_plugin.model:build",  # lazy: imported only when the model is loaded
        description="a small example CNN (template plugin)",
        tags=["example"],
        source="my-memscore-plugin",
    )
