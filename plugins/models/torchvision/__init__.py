"""Registers the `torchvision:<name>` family (imports nothing heavy).

Plain names of the paper's models (resnet18, alexnet, ...) are registered by the `zoo` plugin, which
maps each to its best source; this plugin serves any torchvision classifier by prefix.
"""
from memscore import hookimpl


@hookimpl
def register_models(register):
    register.prefix("torchvision", "memscore_plugins.models.torchvision.models:build_any",
                    description="any torchvision classification model, e.g. torchvision:convnext_tiny",
                    tags=["torchvision"], source="torchvision")
