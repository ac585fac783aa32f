"""Cadene's ``pretrainedmodels`` (optional extra ``memscore[cadene]``): the ``cadene:<arch>`` family for
the few paper models no maintained library has (registration only)."""
import importlib.util

from memscore import hookimpl


@hookimpl
def register_models(register):
    ok = importlib.util.find_spec("pretrainedmodels") is not None
    register.prefix("cadene", "memscore_plugins.models.cadene.model:build",
                    description="a pretrainedmodels architecture, e.g. cadene:bninception",
                    tags=["cadene"], source="cadene", packages=["pretrainedmodels"], available=ok, reason="" if ok else "pip install memscore[cadene]")
