"""Registers ViTMem, the published ViT memorability predictor (registration only: imports nothing heavy).

The model itself needs only timm (a core dependency); the ``vitmem`` package is not needed to build or
run it, only as the reference implementation the plugin's parity test compares against.
"""
from memscore import hookimpl

#: where ViTMem's published weights come from, and the file name the vitmem package caches them under
#: (``torch.hub.get_dir()/checkpoints/<file>``); the ``f580d24a`` part is the sha256 prefix checked on download
WEIGHTS_URL = ("https://huggingface.co/brainpriority/vitmem/resolve/main/"
               "vitmem_base_patch16_224_miil_v1-f580d24a.pth")
ARCH = "vit_base_patch16_224_miil"
LICENSE = "MIT"


@hookimpl
def register_models(register):
    register("vitmem", "memscore_plugins.models.vitmem.model:build",
             description="ViTMem memorability predictor (Hagen & Espeseth 2023; vitmem 1.0.1): a ViT-B/16 "
                         f"(timm {ARCH}) with a one-unit sigmoid head, one score per image. Licence: MIT",
             tags=["memorability", "vit", "published-predictor"],
             source="vitmem", arch=ARCH, output="memorability", license=LICENSE,
             trained_on=["imagenet", "lamem", "memcat"], weights_url=WEIGHTS_URL)
