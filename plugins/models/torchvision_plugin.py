"""Registers torchvision classification models (imports nothing heavy)."""
from memscore import hookimpl

#: curated plain names; any other torchvision classifier resolves as `torchvision:<name>`
NAMES = ["alexnet", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "vgg16"]


@hookimpl
def register_models(register):
    for name in NAMES:
        register(name, "memscore_plugins.models.torchvision_models:build",
                 params={"arch": name}, description=f"torchvision {name} (ImageNet)",
                 tags=["torchvision", "imagenet"], source="torchvision")
    register.prefix("torchvision", "memscore_plugins.models.torchvision_models:build_any",
                    description="any torchvision classification model, e.g. torchvision:convnext_tiny",
                    tags=["torchvision"], source="torchvision")
