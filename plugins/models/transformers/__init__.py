"""Registers about ten well-known transformers under plain names, tag ``transformers`` (registration only;
the table is :mod:`memscore_plugins.models.transformers.table`, each name built by the timm or openclip
plugin's own builder)."""
from memscore import hookimpl

from memscore_plugins.models.transformers.table import TRANSFORMERS


@hookimpl
def register_models(register):
    for rec in TRANSFORMERS:
        available, reason = rec.availability()
        register(rec.name, rec.factory, params={"name": rec.arch, "identifier": rec.name},
                 description=rec.description(), tags=rec.tags, available=available, reason=reason,
                 source=rec.source, arch=rec.arch, packages=rec.packages, trained_on=rec.trained_on,
                 **({"note": rec.note} if rec.note else {}))
