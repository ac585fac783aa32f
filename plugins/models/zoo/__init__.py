"""Registers the 64 models of Harada & Sakai (2023) under plain names (imports nothing heavy).

The table lives in :mod:`memscore_plugins.models.zoo.table`; every paper model carries the tag
``harada2023`` plus its source (``torchvision``, ``timm``, ``cornet``, ``cadene``) and family.
"""
from memscore import hookimpl

from memscore_plugins.models.zoo.table import ZOO


@hookimpl
def register_models(register):
    for rec in ZOO:
        available, reason = rec.availability()
        meta = {"source": rec.source, "arch": rec.arch, "paper_name": rec.paper,
                "packages": ["pretrainedmodels"] if rec.source == "cadene" else []}
        if rec.top1 is not None:
            meta.update(imagenet_top1=rec.top1, top1_from=rec.top1_from)
        if rec.note:
            meta["note"] = rec.note
        register(rec.name, "memscore_plugins.models.zoo.table:build", params={"name": rec.name},
                 description=rec.description(), tags=rec.tags, available=available, reason=reason, **meta)
