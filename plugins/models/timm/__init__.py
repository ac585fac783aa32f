"""Registers the ``timm:<name>`` family (imports nothing heavy)."""
from memscore import hookimpl


@hookimpl
def register_models(register):
    register.prefix("timm", "memscore_plugins.models.timm.models:build_any",
                    description="any timm model, e.g. timm:convnext_tiny or timm:resnet50.a1_in1k "
                                "(preprocessing from its pretrained_cfg; weights via the Hugging Face cache)",
                    tags=["timm"], source="timm")
